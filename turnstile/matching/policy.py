"""Turning scores into answers: thresholds and the decision for one probe.

All scores are cosine similarities of L2-normalised embeddings: higher = more alike.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from turnstile.matching.gallery import Match

# Defaults for dlib_resnet_v1 with BlazeFace 4-point alignment and flip test-time
# augmentation, calibrated on LFW: View-2 pairs (``turnstile eval lfw``, 6,000 pairs) and the
# open-set protocol (``turnstile eval identify ../shared/data/lfw/images``: 1,559 people
# enrolled from one photo, 3,420 enrolled-person probes, 2,722 stranger probes).
# ``turnstile calibrate`` recomputes them for a site's own gallery size.
VERIFY_THRESHOLD = 0.9289
"""1:1 "is this that person?": accept when score >= this. Higher is stricter.
LFW pairs: FAR 1e-3 at TAR 94.8 %."""

ACCEPT_THRESHOLD = 0.9539
"""1:N "who is this?": the best person is accepted when score >= this. Higher is stricter.
LFW open set with 1,559 people enrolled: FPIR 1e-2 (a stranger is taken for someone 1 time
in 100) at FNIR 40 % per single photo; at a door several frames are combined."""

REJECT_THRESHOLD = 0.9421
"""1:N: below this the face is nobody we know. Between REJECT and ACCEPT is the grey zone
where the door asks the person to step closer rather than decide. Higher is stricter
(fewer answers in the grey zone, more "unknown"). LFW open set: FPIR 1e-1."""

MIN_MARGIN = 0.010
"""1:N: the best person must lead the runner-up by at least this much. Higher is stricter.
On the LFW open set at ACCEPT_THRESHOLD it turns away 16 of 28 strangers who cleared the
threshold and 4 of 7 probes taken for the wrong person, and 1 % of correct accepts."""

DUPLICATE_THRESHOLD = 0.9495
"""Enrollment: a new face scoring at least this against anyone already enrolled is reported
as a likely duplicate. Lower is stricter (more warnings). LFW open set: 3 in 100 new people
would be flagged wrongly with 1,559 enrolled; 70 % of real duplicates are caught."""


# Defaults of the confirming embedder (SFace 2021dec, Face Mesh 5-point ArcFace alignment, no
# flip), which decides in the door's cascade: the search embedder (above) finds the best
# candidate among everyone, SFace compares the face with that one person only. Calibrated on
# the same LFW protocols; a stranger accepted by the cascade also scores above the accept
# threshold against someone in SFace's own 1:N search, so the 1:N figures bound the
# cascade's false-accept rate from above.
CONFIRM_ACCEPT_THRESHOLD = 0.4958
"""Cascade, "who is this?": the candidate is accepted when SFace scores >= this. LFW open set
(1,559 enrolled): SFace's own 1:N search takes 1 stranger in 100 for someone at this score
(the bound); the cascade itself measured 0.55 % of strangers accepted and 9.9 % of enrolled
probes missed (``turnstile eval identify``)."""

CONFIRM_REJECT_THRESHOLD = 0.4310
"""Cascade: below this the face is nobody we know (SFace 1:N, FPIR 1e-1 on the LFW open
set); between this and the accept threshold the door asks the person to step closer."""

CONFIRM_VERIFY_THRESHOLD = 0.3703
"""1:1 on SFace (a badge or number was given): accept when score >= this. FAR 1e-3 per
attempt, FRR 0.9 %, from every pair of LFW's images (the shipped score model)."""


@dataclass(frozen=True)
class Thresholds:
    """One set of thresholds, stored per model version."""

    accept: float = ACCEPT_THRESHOLD
    reject: float = REJECT_THRESHOLD
    min_margin: float = MIN_MARGIN
    verify: float = VERIFY_THRESHOLD

    def __post_init__(self) -> None:
        if not -1.0 <= self.reject <= self.accept <= 1.0:
            raise ValueError(
                f"thresholds must satisfy -1 <= reject ({self.reject}) <= accept "
                f"({self.accept}) <= 1"
            )
        if self.min_margin < 0:
            raise ValueError("the minimum margin cannot be negative")


CONFIRM_THRESHOLDS = Thresholds(CONFIRM_ACCEPT_THRESHOLD, CONFIRM_REJECT_THRESHOLD, 0.0,
                                CONFIRM_VERIFY_THRESHOLD)
"""The confirming embedder's defaults (no runner-up margin: it scores one candidate)."""


def default_thresholds(model_id: str) -> Thresholds:
    """The calibrated defaults of an embedding model (by its id)."""
    return CONFIRM_THRESHOLDS if model_id.startswith("sface_") else Thresholds()


class Outcome(enum.Enum):
    MATCH = "match"
    UNKNOWN = "unknown"
    UNSURE = "unsure"


@dataclass(frozen=True)
class Identification:
    """The answer to "who is this, or nobody?" for one probe."""

    outcome: Outcome
    employee_id: int | None
    score: float
    margin: float
    reason: str


def decide(match: Match, thresholds: Thresholds) -> Identification:
    """Apply the thresholds to a gallery match.

    Returns:
        MATCH with the person when the score clears ``accept`` and leads the runner-up by
        ``min_margin``; UNKNOWN below ``reject`` (or with an empty gallery); otherwise UNSURE
        (the grey zone, or two people too close to tell apart).
    """
    if match.employee_id is None or match.score < thresholds.reject:
        return Identification(Outcome.UNKNOWN, None, match.score, match.margin,
                              "not an enrolled person")
    if match.score < thresholds.accept:
        return Identification(Outcome.UNSURE, match.employee_id, match.score, match.margin,
                              "not sure: step closer and look at the camera")
    if match.margin < thresholds.min_margin:
        return Identification(Outcome.UNSURE, match.employee_id, match.score, match.margin,
                              "two enrolled people look alike: look at the camera")
    return Identification(Outcome.MATCH, match.employee_id, match.score, match.margin, "")


def verify_decision(score: float, thresholds: Thresholds) -> bool:
    """1:1: is the score good enough to say "yes, that is the person"?"""
    return score >= thresholds.verify
