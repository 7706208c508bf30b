"""The cascade's decision: the search embedder names a candidate, the confirming embedder
decides.

The search embedder (fast, every frame) compares the face with everyone and names the best
candidate; the confirming embedder (stronger, slower, once per decision) compares the same
face with that one person only, and its score alone decides against its own thresholds.
There is no runner-up rule at this stage: the confirming embedder sees one candidate.
A stranger accepted here also scores above the accept threshold against someone in the
confirming embedder's own 1:N search, so that search's false-accept rate bounds the
cascade's (``turnstile calibrate`` uses the bound).
"""

from __future__ import annotations

from turnstile.matching.gallery import Gallery, Match
from turnstile.matching.policy import Identification, Outcome, Thresholds
from turnstile.vision.types import Embedding


def confirm_score(confirm: Gallery | None, employee_id: int | None,
                  embedding: Embedding | None) -> float | None:
    """The confirming embedder's score of the face against one person (None when there is
    no confirming gallery, no embedding, or the person has no confirming template yet: then
    the search embedder decides alone)."""
    if confirm is None or employee_id is None or embedding is None:
        return None
    score = confirm.verify(employee_id, embedding)
    return None if score == -1.0 else score


def confirm_decision(candidate: Match, score: float, thresholds: Thresholds) -> Identification:
    """The cascade's answer for a candidate and its confirming score.

    Returns:
        MATCH at or above ``accept``; UNKNOWN below ``reject``; otherwise UNSURE (the grey
        zone: step closer).
    """
    margin = candidate.margin
    if candidate.employee_id is None or score < thresholds.reject:
        return Identification(Outcome.UNKNOWN, None, score, margin, "not an enrolled person")
    if score < thresholds.accept:
        return Identification(Outcome.UNSURE, candidate.employee_id, score, margin,
                              "not sure: step closer and look at the camera")
    return Identification(Outcome.MATCH, candidate.employee_id, score, margin, "")
