"""The door's decision policy: from a stream of per-frame recognitions to one decision per
passage. Pure Python (no Qt, no storage), driven frame by frame with an explicit clock, so
every rule is testable without a camera.

The rules, in the order they apply to each frame:

* **The largest face decides.** Several people may be in view; the one closest to the camera
  (the largest box) is the one at the door. The others are drawn, never decided on.
* **A track is one passage.** The deciding face is followed from frame to frame by box
  overlap; when it leaves the view for more than ``max_gap_s`` (or another face takes its
  place) the track ends and the next face starts afresh.
* **Poor quality asks, it does not decide.** A face that is too small, turned, blurred or
  badly lit gets advice ("Step closer to the camera") and neither counts towards nor breaks
  a run of agreeing frames.
* **The grey zone asks too.** A score between the reject and accept thresholds (or two
  enrolled people too close to tell apart) shows "step closer and look at the camera" and
  breaks the run.
* **K agreeing frames.** The door opens only after ``frames_to_confirm`` consecutive usable
  frames named the same person above the accept threshold with the margin. A recognised
  person who may not pass now (suspended, expired) is denied with the reason after the same
  number of frames; an unknown face is denied after ``frames_to_deny`` frames (more, by
  default, so a person still walking up is not turned away on their first blurry frames).
* **A live person, not a picture.** When the station checks liveness, a recognised person
  who may pass is let in only once the check says ``live``; while it is ``pending`` the door
  keeps checking and shows the check's prompt ("Please blink twice"), and ``spoof`` ends the
  passage with a ``spoof`` decision (logged with its snapshot, the door shut).
* **One passage, one event.** A track decides once; a denial may still be followed by a grant
  in the same track (the employee was recognised once close enough), never the other way.
  The same person starting a new track within ``cooldown_s`` of their last decision (they
  stepped out of view and back, or the detector lost them for a moment) gives no new event
  and no new door command; neither does an unknown face within ``cooldown_s`` of the last
  unknown decision.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from turnstile.matching.cascade import (
    SHORTLIST,
    best_confirmed,
    confirm_decision,
    confirm_score,
)
from turnstile.matching.gallery import Gallery
from turnstile.matching.policy import Outcome, Thresholds, decide
from turnstile.vision.quality import Problem
from turnstile.vision.types import Box, Embedding

DEFAULT_MAX_GAP_S = 0.5
"""A face missing for longer than this ends its track (the person left). Shorter is stricter
(a detector dropout starts a new passage sooner; the cooldown still stops a second event)."""

SAME_TRACK_MIN_IOU = 0.2
"""Boxes of consecutive frames overlapping at least this much (intersection over union) are
the same person. At 30 fps a walking person's face moves far less than that allows."""

FACE_NOT_CLAIMED = "the face does not match this employee number"
"""1:1 mode: the refusal when the face is not the person whose badge or number was given."""

ASK_FOR_BADGE = "Please scan your badge or type your employee number."
"""1:1 mode: shown to a face at the door before any badge or number was given."""

STEP_CLOSER = "Please step closer and look at the camera."
"""Shown in the grey zone (a score between the reject and accept thresholds, or two enrolled
people too close to tell apart)."""

DOOR_ADVICE: dict[Problem, str] = {
    Problem.TOO_SMALL: "Please step closer to the camera.",
    Problem.BLURRED: "Please hold still for a moment.",
    Problem.TURNED: "Please look straight at the camera.",
    Problem.TILTED: "Please look straight at the camera.",
    Problem.TOO_DARK: "Your face is too dark: please step into the light.",
    Problem.TOO_BRIGHT: "Too much light on your face: please step out of the glare.",
    Problem.LOW_CONTRAST: "Your face is hard to see: please step into better light.",
}
"""What the door says for each quality problem (short, for a person walking up; the
enrollment desk uses the longer advice of :class:`Problem`)."""


def door_advice(problems: Sequence[Problem]) -> tuple[str, ...]:
    """The door's messages for quality problems, most important first, without repeats."""
    seen: list[str] = []
    for problem in problems:
        text = DOOR_ADVICE.get(problem, problem.value)
        if text not in seen:
            seen.append(text)
    return tuple(seen)


# --- recognising one face against a gallery snapshot ---------------------------------------


class Person(Protocol):
    """What the door needs to know about an enrolled person (``PersonInfo`` fits)."""

    @property
    def name(self) -> str: ...

    @property
    def employee_number(self) -> str: ...

    def refusal(self, now: datetime | None = None) -> str | None:
        """Why this person may not pass now (None when they may)."""
        ...


@dataclass(frozen=True)
class Recognition:
    """Who one face is, for the door.

    Attributes:
        outcome: MATCH (a known person above the accept threshold with the margin), UNSURE
            (grey zone or look-alikes) or UNKNOWN.
        employee_id: the person recognised (for UNSURE: the best guess); None for UNKNOWN.
        score: cosine similarity with that person's best template.
        margin: lead over the runner-up.
        refusal: set when a MATCH may not pass now ("suspended", "expired on ...").
        threshold: the threshold the score was judged against (None: not known).
        confirmed: the confirming embedder decided (``score`` is its score); False when
            the search embedder decided alone.
    """

    outcome: Outcome
    employee_id: int | None
    score: float
    margin: float
    refusal: str | None = None
    threshold: float | None = None
    confirmed: bool = False

    @property
    def allowed(self) -> bool:
        return self.outcome is Outcome.MATCH and self.refusal is None


@dataclass(frozen=True)
class GallerySnapshot:
    """Everything the door matches against, replaced as a whole (never changed in place).

    Attributes:
        allowed: templates of the people who may pass now.
        everyone: every template (to tell a suspended or expired person why).
        people: details of every enrolled person, by employee id.
        thresholds: the search embedder's thresholds in force (they decide for people who
            have no confirming template).
        generation: increases with each reload (to tell snapshots apart).
        confirm: everyone's templates by the confirming embedder (None: no cascade).
        confirm_thresholds: the confirming embedder's thresholds in force (they decide
            whenever the candidate has a confirming template).
    """

    allowed: Gallery
    everyone: Gallery
    people: Mapping[int, Person]
    thresholds: Thresholds
    generation: int = 0
    confirm: Gallery | None = None
    confirm_thresholds: Thresholds | None = None

    @property
    def cascade(self) -> bool:
        """Whether the confirming embedder decides (for people who have its template)."""
        return self.confirm is not None and self.confirm_thresholds is not None

    def shortlist(self, embedding: Embedding) -> list[tuple[int, float]]:
        """The cascade's first stage: the best-scoring people among everyone enrolled
        (:data:`~turnstile.matching.cascade.SHORTLIST` of them, best first)."""
        return self.everyone.shortlist(embedding, SHORTLIST)

    def can_confirm(self, employee_id: int | None) -> bool:
        """Whether the confirming embedder can decide for this person."""
        return self.cascade and employee_id is not None and self.confirm is not None \
            and self.confirm.has_employee(employee_id)

    def confirm_candidates(self, candidates: list[tuple[int, float]], embedding: Embedding,
                           now: datetime | None = None) -> Recognition:
        """The cascade's second stage: the confirming embedder's ``embedding`` of the face is
        compared with the shortlisted people only; the best of those scores decides (see
        ``matching.cascade``)."""
        assert self.confirm_thresholds is not None
        th = self.confirm_thresholds
        best = best_confirmed(self.confirm, candidates, embedding)
        if best is None:
            raise ValueError("no shortlisted person has a confirming template")
        decision = confirm_decision(best[0], best[1], th)
        if decision.outcome is not Outcome.MATCH or decision.employee_id is None:
            return Recognition(decision.outcome, decision.employee_id, decision.score, 0.0,
                               threshold=th.accept, confirmed=True)
        person = self.people.get(decision.employee_id)
        if person is None:
            refusal: str | None = "not on the staff list"
        else:
            refusal = person.refusal(now)
            if refusal is None and not self._allowed_now(decision.employee_id):
                refusal = "not allowed at this time"
        return Recognition(Outcome.MATCH, decision.employee_id, decision.score, 0.0,
                           refusal, th.accept, True)

    def _allowed_now(self, employee_id: int) -> bool:
        return self.allowed.has_employee(employee_id)

    def recognise(self, embedding: Embedding, now: datetime | None = None) -> Recognition:
        """Identify among the people allowed in now; when that finds nobody, look among
        everyone enrolled so a suspended or expired person is told why (the same answer as
        ``RecognitionService.identify_embedding``, without touching the database)."""
        th = self.thresholds
        first = decide(self.allowed.identify(embedding), th)
        if first.outcome is Outcome.MATCH and first.employee_id is not None:
            person = self.people.get(first.employee_id)
            refusal = person.refusal(now) if person is not None else "not on the staff list"
            return Recognition(Outcome.MATCH, first.employee_id, first.score, first.margin,
                               refusal, th.accept)
        other = decide(self.everyone.identify(embedding), th)
        if other.outcome is Outcome.MATCH and other.employee_id is not None:
            person = self.people.get(other.employee_id)
            refusal = (person.refusal(now) if person is not None else None) \
                or "not allowed at this time"
            return Recognition(Outcome.MATCH, other.employee_id, other.score, other.margin,
                               refusal, th.accept)
        return Recognition(first.outcome, first.employee_id, first.score, first.margin,
                           threshold=th.accept)

    def verify_claim(self, employee_id: int, embedding: Embedding,
                     now: datetime | None = None,
                     confirm_embedding: Embedding | None = None) -> Recognition:
        """1:1: is this face the person who claimed to be ``employee_id`` (badge, employee
        number)? Compared with that person's templates only, against the verification
        threshold; a face that does not match is a MATCH with a refusal, so the door denies
        it (logged against the claimed person) rather than calling it a stranger.

        With ``confirm_embedding`` and a confirming template of that person, the confirming
        embedder's score decides (against its own verification threshold)."""
        person = self.people.get(employee_id)
        score = confirm_score(self.confirm if self.cascade else None, employee_id,
                              confirm_embedding)
        confirmed = score is not None
        if score is None:
            score, threshold = self.everyone.verify(employee_id, embedding), self.thresholds.verify
        else:
            assert self.confirm_thresholds is not None
            threshold = self.confirm_thresholds.verify
        if person is None:
            return Recognition(Outcome.MATCH, employee_id, score, 0.0, "not on the staff list",
                               threshold, confirmed)
        if score < threshold:
            return Recognition(Outcome.MATCH, employee_id, score, 0.0, FACE_NOT_CLAIMED,
                               threshold, confirmed)
        return Recognition(Outcome.MATCH, employee_id, score, 1.0, person.refusal(now),
                           threshold, confirmed)

    def employee_by_number(self, number: str) -> int | None:
        """The id of the person with this employee (badge) number, None when nobody has it.
        Spaces around it and letter case do not matter."""
        wanted = number.strip().casefold()
        if not wanted:
            return None
        for employee_id, person in self.people.items():
            if person.employee_number.strip().casefold() == wanted:
                return employee_id
        return None

    def name_of(self, employee_id: int | None) -> str:
        """The person's name ('' when unknown)."""
        person = self.people.get(employee_id) if employee_id is not None else None
        return person.name if person is not None else ""


# --- the policy -----------------------------------------------------------------------------


class Verdict(enum.Enum):
    """What the door did; the values are the access log's decisions."""

    GRANTED = "granted"
    DENIED = "denied"
    UNKNOWN = "unknown"
    SPOOF = "spoof"


class DoorState(enum.Enum):
    """What the door tells the person in front of it now."""

    IDLE = "idle"            # nobody in view
    CHECKING = "checking"    # a face, agreeing frames being collected
    GUIDANCE = "guidance"    # quality problem or grey zone: advice shown
    GRANTED = "granted"
    DENIED = "denied"        # a known person who may not pass now
    UNKNOWN = "unknown"      # nobody we know
    SPOOF = "spoof"          # a photo, a screen or a replay: not a live person


LIVE = "live"
PENDING = "pending"
SPOOFED = "spoof"


@dataclass(frozen=True)
class LivenessCheck:
    """Whether the deciding face is a live person, as the policy sees it (the evidence is
    gathered by :class:`turnstile.vision.liveness.LivenessTracker`).

    Attributes:
        state: :data:`LIVE`, :data:`PENDING` or :data:`SPOOFED`.
        reason: why (shown to the person and logged for a spoof).
        prompt: what to ask the person while pending (None: nothing to ask).
        score: 0 (an attack) to 1 (clearly live).
    """

    state: str
    reason: str = ""
    prompt: str | None = None
    score: float = 0.0


@dataclass(frozen=True)
class FaceObservation:
    """One detected face in one frame, as the policy sees it.

    Attributes:
        box: ``(x, y, w, h)`` in frame pixels.
        advice: quality problems as door messages (empty: the face is usable).
        recognition: who it is; None when not evaluated (quality problems, or not the
            largest face).
        liveness: the liveness check of this face; None when liveness is not checked
            (the setting is off), which lets a recognised person in on recognition alone.
    """

    box: Box
    advice: tuple[str, ...] = ()
    recognition: Recognition | None = None
    liveness: LivenessCheck | None = None

    @property
    def area(self) -> float:
        return float(self.box[2] * self.box[3])


@dataclass(frozen=True)
class DoorDecision:
    """A decision to act on: open (or not) and log one access event.

    Attributes:
        verdict: granted, denied (known, may not pass) or unknown.
        passage: the id of the track (passage) it was taken for; the door is never told to
            open twice for one passage.
        employee_id: the person (None for unknown).
        reason: why it was denied ('' when granted).
        score: the best score of the deciding frame.
        margin: that frame's lead over the runner-up.
        frames: how many agreeing frames it rests on.
        liveness_score: the liveness check's score (None when not checked).
        threshold: the threshold ``score`` was judged against (None: not known).
        confirmed: the confirming embedder decided (``score`` is its score).
    """

    verdict: Verdict
    passage: int
    employee_id: int | None
    reason: str
    score: float
    margin: float
    frames: int
    liveness_score: float | None = None
    threshold: float | None = None
    confirmed: bool = False


@dataclass(frozen=True)
class PolicyStep:
    """The policy's answer for one frame.

    Attributes:
        state: what to show the person now.
        message: the advice or reason to show ('' when none).
        decision: a new decision to act on, or None (most frames).
        passage: the current track id (0 when nobody is in view).
        employee_id: who the deciding face currently looks like (None when unknown).
        streak: agreeing frames collected so far in this track.
        primary: index (in the frames' face list) of the face that decides, or None.
    """

    state: DoorState
    message: str = ""
    decision: DoorDecision | None = None
    passage: int = 0
    employee_id: int | None = None
    streak: int = 0
    primary: int | None = None


@dataclass
class _Track:
    id: int
    box: Box
    last_seen: float
    key: tuple[str, int | None] | None = None
    streak: int = 0
    granted: bool = False
    denied: bool = False
    spoofed: bool = False
    shown: DoorState = DoorState.CHECKING
    shown_message: str = ""
    shown_employee: int | None = None


_MEMORY_PRUNE_AT = 1024
"""Forget cooldowns that are over once this many people are remembered (a door runs all
day; the memory must not grow with every person who ever passed)."""


@dataclass
class _Memory:
    last_by_person: dict[int, float] = field(default_factory=dict)
    last_unknown: float | None = None


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two ``(x, y, w, h)`` boxes."""
    ax2, ay2, bx2, by2 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0.0, min(ax2, bx2) - max(a[0], b[0]))
    ih = max(0.0, min(ay2, by2) - max(a[1], b[1]))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return float(inter / union) if union > 0 else 0.0


class DoorPolicy:
    """Turns per-frame observations into at most one decision per passage.

    Not thread-safe: one instance per camera, driven by the vision worker.

    Args:
        frames_to_confirm: K, consecutive agreeing frames before granting (or denying a
            known person). Higher is stricter and slower.
        frames_to_deny: agreeing frames before denying an unknown face (default 2K).
        cooldown_s: the same person (or any unknown face) cannot cause a second decision
            within this many seconds of the last one.
        max_gap_s: see :data:`DEFAULT_MAX_GAP_S`.
    """

    def __init__(self, frames_to_confirm: int = 3, *, frames_to_deny: int | None = None,
                 cooldown_s: float = 5.0, max_gap_s: float = DEFAULT_MAX_GAP_S) -> None:
        if frames_to_confirm < 1:
            raise ValueError("frames_to_confirm must be at least 1")
        if cooldown_s < 0 or max_gap_s < 0:
            raise ValueError("cooldown_s and max_gap_s cannot be negative")
        self.frames_to_confirm = frames_to_confirm
        self.frames_to_deny = frames_to_deny if frames_to_deny is not None \
            else 2 * frames_to_confirm
        if self.frames_to_deny < 1:
            raise ValueError("frames_to_deny must be at least 1")
        self.cooldown_s = cooldown_s
        self.max_gap_s = max_gap_s
        self._track: _Track | None = None
        self._next_id = 1
        self._memory = _Memory()

    @property
    def passage(self) -> int:
        """The current track id (0 when nobody is in view)."""
        return self._track.id if self._track is not None else 0

    def reset(self) -> None:
        """Forget the current track (the camera was lost or changed). Cooldowns are kept:
        a camera hiccup must not let the same passage open the door twice."""
        self._track = None

    def continue_from(self, previous: DoorPolicy) -> None:
        """Take over the cooldowns and the passage numbering of the policy this one replaces
        (new settings): whoever was just let in is not let in again within the cooldown,
        and passage numbers keep growing (the door opens at most once per number)."""
        self._next_id = max(self._next_id, previous._next_id)
        self._memory = _Memory(dict(previous._memory.last_by_person),
                               previous._memory.last_unknown)

    def update(self, now: float, faces: Sequence[FaceObservation]) -> PolicyStep:
        """Take one frame into account.

        Args:
            now: a monotonic clock in seconds (the frame's capture time).
            faces: every face detected in the frame (any order); the largest decides.

        Returns:
            What to show now, and a new decision when one was taken on this frame.
        """
        if not faces:
            if self._track is not None and now - self._track.last_seen > self.max_gap_s:
                self._track = None
            if self._track is None:
                return PolicyStep(DoorState.IDLE)
            # A short dropout: keep showing what was shown, take no decision.
            t = self._track
            return PolicyStep(t.shown, t.shown_message, None, t.id, t.shown_employee, t.streak)

        primary = max(range(len(faces)), key=lambda i: faces[i].area)
        face = faces[primary]
        track = self._follow(now, face.box)
        step = self._judge(now, track, face)
        return PolicyStep(step.state, step.message, step.decision, track.id, step.employee_id,
                          track.streak, primary)

    # -- internals ------------------------------------------------------------------------
    def _follow(self, now: float, box: Box) -> _Track:
        t = self._track
        if t is None or now - t.last_seen > self.max_gap_s or iou(t.box, box) < SAME_TRACK_MIN_IOU:
            t = _Track(self._next_id, box, now)
            self._next_id += 1
            self._track = t
        t.box = box
        t.last_seen = now
        return t

    def _show(self, t: _Track, state: DoorState, message: str = "",
              employee_id: int | None = None, decision: DoorDecision | None = None) -> PolicyStep:
        t.shown, t.shown_message, t.shown_employee = state, message, employee_id
        return PolicyStep(state, message, decision, t.id, employee_id, t.streak)

    def _judge(self, now: float, t: _Track, face: FaceObservation) -> PolicyStep:
        if t.granted:  # decided for this passage: keep the welcome, ignore what follows
            return PolicyStep(DoorState.GRANTED, t.shown_message, None, t.id, t.shown_employee,
                              t.streak)
        if face.advice:
            # Neither counts nor breaks the run: a blink is not evidence against anyone.
            return self._show(t, DoorState.GUIDANCE, face.advice[0], t.shown_employee)
        r = face.recognition
        if r is None:
            return self._show(t, DoorState.CHECKING, "", t.shown_employee)
        if r.outcome is Outcome.UNSURE:
            t.key, t.streak = None, 0
            return self._show(t, DoorState.GUIDANCE, STEP_CLOSER, None)
        if r.outcome is Outcome.MATCH:
            key: tuple[str, int | None] = ("allow" if r.refusal is None else "refuse",
                                           r.employee_id)
        else:
            key = ("unknown", None)
        if key == t.key:
            t.streak += 1
        else:
            t.key, t.streak = key, 1

        if key[0] == "allow":
            if t.spoofed:  # a spoof in this passage: nothing it shows later opens the door
                return PolicyStep(t.shown, t.shown_message, None, t.id, t.shown_employee,
                                  t.streak)
            live = face.liveness
            if live is not None and live.state == SPOOFED:
                return self._decide(now, t, Verdict.SPOOF, r, live.reason, live)
            if t.streak < self.frames_to_confirm or (live is not None and live.state != LIVE):
                prompt = live.prompt if live is not None and live.prompt else ""
                return self._show(t, DoorState.CHECKING, prompt, r.employee_id)
            return self._decide(now, t, Verdict.GRANTED, r, "", live)
        if t.denied:  # already denied in this passage: keep showing it
            return PolicyStep(t.shown, t.shown_message, None, t.id, t.shown_employee, t.streak)
        if key[0] == "refuse":
            if t.streak < self.frames_to_confirm:
                return self._show(t, DoorState.CHECKING, "", r.employee_id)
            return self._decide(now, t, Verdict.DENIED, r, r.refusal or "not allowed")
        if t.streak < self.frames_to_deny:
            return self._show(t, DoorState.CHECKING, "", None)
        return self._decide(now, t, Verdict.UNKNOWN, r, "not an enrolled person")

    def _decide(self, now: float, t: _Track, verdict: Verdict, r: Recognition,
                reason: str, live: LivenessCheck | None = None) -> PolicyStep:
        state = {Verdict.GRANTED: DoorState.GRANTED, Verdict.DENIED: DoorState.DENIED,
                 Verdict.UNKNOWN: DoorState.UNKNOWN, Verdict.SPOOF: DoorState.SPOOF}[verdict]
        employee_id = r.employee_id if verdict is not Verdict.UNKNOWN else None
        mem = self._memory
        last = mem.last_by_person.get(employee_id) if employee_id is not None \
            else mem.last_unknown
        if last is not None and now - last < self.cooldown_s:
            # The same person (or an unknown face) again within the cooldown: the passage
            # already decided, seen again after a dropout. Shown, not acted on. A grant is
            # looked at again on the next frames, so a person who stepped back and returned
            # after the door relocked gets it once the cooldown is over.
            if verdict is not Verdict.GRANTED:
                t.denied = True
                t.spoofed = t.spoofed or verdict is Verdict.SPOOF
            return self._show(t, state, reason, employee_id)
        if employee_id is not None:
            if len(mem.last_by_person) > _MEMORY_PRUNE_AT:
                mem.last_by_person = {k: v for k, v in mem.last_by_person.items()
                                      if now - v < self.cooldown_s}
            mem.last_by_person[employee_id] = now
        else:
            mem.last_unknown = now
        if verdict is Verdict.GRANTED:
            t.granted = True
        else:
            t.denied = True
            t.spoofed = verdict is Verdict.SPOOF
        decision = DoorDecision(verdict, t.id, employee_id, reason, r.score, r.margin, t.streak,
                                live.score if live is not None else None, r.threshold,
                                r.confirmed)
        return self._show(t, state, reason, employee_id, decision)
