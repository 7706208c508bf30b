"""The cascade's decision: the search embedder shortlists candidates, the confirming
embedder decides.

The search embedder (fast, every frame) compares the face with everyone and shortlists the
:data:`SHORTLIST` best candidates; the confirming embedder (stronger, slower, once per
decision) compares the same face with those people only, and its best score alone decides
against its own thresholds (no runner-up rule). A stranger accepted here also scores above
the accept threshold against someone in the confirming embedder's own 1:N search, so that
search's false-accept rate bounds the cascade's (``turnstile calibrate`` uses the bound).
"""

from __future__ import annotations

from turnstile.matching.gallery import Gallery
from turnstile.matching.policy import Identification, Outcome, Thresholds
from turnstile.vision.types import Embedding

SHORTLIST = 5
"""How many of the search embedder's best candidates the confirming embedder compares the
face with. LFW open set (1,559 enrolled), shipped accept threshold: the right person is
among dlib's best 1 / 3 / 5 / 10 for 91.9 / 95.8 / 96.6 / 97.8 % of probes, and the cascade
misses 9.9 / 6.8 / 6.1 / 5.4 % of enrolled probes at 0.51 / 0.66 / 0.70 / 0.73 % of strangers
accepted (SFace over everyone: 4.6 % at 0.99 %, the bound). The face is embedded once
whatever the length; the comparisons cost microseconds."""


def confirm_score(confirm: Gallery | None, employee_id: int | None,
                  embedding: Embedding | None) -> float | None:
    """The confirming embedder's score of the face against one person (None when there is
    no confirming gallery, no embedding, or the person has no confirming template yet: then
    the search embedder decides alone)."""
    if confirm is None or employee_id is None or embedding is None:
        return None
    score = confirm.verify(employee_id, embedding)
    return None if score == -1.0 else score


def best_confirmed(confirm: Gallery | None, candidates: list[tuple[int, float]],
                   embedding: Embedding | None) -> tuple[int, float] | None:
    """The shortlisted person the confirming embedder scores highest, with that score; None
    when none of them has a confirming template (or there is no gallery or embedding)."""
    best: tuple[int, float] | None = None
    for employee_id, _ in candidates:
        score = confirm_score(confirm, employee_id, embedding)
        if score is not None and (best is None or score > best[1]):
            best = (employee_id, score)
    return best


def confirm_decision(employee_id: int | None, score: float, thresholds: Thresholds
                     ) -> Identification:
    """The cascade's answer for the confirming embedder's best candidate and its score.

    Returns:
        MATCH at or above ``accept``; UNKNOWN below ``reject``; otherwise UNSURE (the grey
        zone: step closer). The margin is 0: there is no runner-up rule at this stage.
    """
    if employee_id is None or score < thresholds.reject:
        return Identification(Outcome.UNKNOWN, None, score, 0.0, "not an enrolled person")
    if score < thresholds.accept:
        return Identification(Outcome.UNSURE, employee_id, score, 0.0,
                              "not sure: step closer and look at the camera")
    return Identification(Outcome.MATCH, employee_id, score, 0.0, "")
