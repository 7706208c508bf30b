"""The door station's work on one frame, without Qt: detect, recognise the largest face,
apply the door policy, tell the door, log the decision.

The vision worker (``turnstile.gui.vision_worker``) runs this on its thread for each frame;
benchmarks and the soak test run it directly. Everything here is owned by that one thread
except the door commander and the event writer, whose ``request_*``/``submit`` calls only
queue work for their own threads and never block.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from turnstile.capture.base import CapturedFrame
from turnstile.door.commander import DoorCommander
from turnstile.door.liveness_gate import DoorLiveness
from turnstile.matching.door_policy import (
    ASK_FOR_BADGE,
    FACE_NOT_CLAIMED,
    SAME_TRACK_MIN_IOU,
    DoorPolicy,
    DoorState,
    FaceObservation,
    GallerySnapshot,
    LivenessCheck,
    Recognition,
    Verdict,
    door_advice,
    iou,
)
from turnstile.matching.policy import Outcome, Thresholds
from turnstile.services.access_log import EventRecord, EventWriter, error_record
from turnstile.storage.db import Database
from turnstile.storage.models import utcnow
from turnstile.vision.confirm import ConfirmEmbedder
from turnstile.vision.pipeline import FacePipeline
from turnstile.vision.quality import assess
from turnstile.vision.types import Box, Embedding, Face, Frame

log = logging.getLogger(__name__)

STARTING_MESSAGE = "Starting: loading the staff list…"
NOT_ALLOWED_LABEL = "Not allowed"
"""The face box label of a refused person the door does not name (see
:meth:`DoorStation._view`)."""

STARTING_SCAN_AGAIN = "the door is still loading the staff list: please try again"

CLAIM_TIMEOUT_S = 15.0
"""1:1 mode: a badge scan or a typed number waits this long for the face to be checked."""

LOCKOUT_HISTORY_S = 24 * 3600.0
"""How far back the access log is read to restore spoof counts and lockouts at start."""

CONFIRM_RECHECK_S = 0.1
"""A face the confirming embedder did not accept is embedded by it again after this long
(the person may be closer or facing the camera better); one it accepted is not embedded
again while it stays in view. So the slower embedder runs once per decision for an
employee, never on every frame; and the frames an "unknown" decision needs (6 at 30 fps by
default) rest on at least two of its runs, not on one."""

CONFIRM_RECHECK_DECIDED_S = 0.5
"""The same, once the door has turned the face away as unknown (it stays in view): checked
less often, still often enough for a denial to be followed by a grant if it was wrong."""


@dataclass
class _ConfirmMemo:
    """The confirming embedder's embedding of the face being followed."""

    kind: str  # "identify" or "claim"
    generation: int
    box: Box
    seen: float
    checked: float
    embedding: Embedding
    accepted: bool


@dataclass(frozen=True)
class _Claim:
    employee_id: int
    expires_at: float


@dataclass(frozen=True)
class FaceView:
    """One face as drawn on the preview (no biometric data).

    Attributes:
        box: ``(x, y, w, h)`` in frame pixels.
        label: the person's name, "Unknown", or '' (not evaluated).
        score: the best similarity (None when not evaluated).
        hint: colour hint: granted, denied, unknown, unsure, checking, guidance or other
            (a face that does not decide).
        primary: whether this face decides.
    """

    box: Box
    label: str
    score: float | None
    hint: str
    primary: bool


@dataclass(frozen=True)
class FrameReport:
    """What one processed frame showed (sent to the screen for every frame).

    Attributes:
        seq: the worker's frame sequence number (newer frames have larger numbers).
        source_generation: increases each time the camera source is changed.
        frame_index: the camera's frame number.
        t_capture: when the camera delivered the frame (monotonic seconds).
        frame_size: ``(width, height)`` of the frame the boxes refer to.
        faces: every face found, the deciding one marked ``primary``.
        state: what the door tells the person now.
        message: the advice or reason shown with it.
        employee_id: who the deciding face looks like (None when unknown or not sure).
        name: that person's name ('' when none).
        passage: the current passage (track) id, 0 when nobody is in view.
        process_ms: time spent on this frame (detection, embedding, decision).
        locked_out_min: the minutes the deciding face's identity stays locked out at this
            door after repeated spoofs (None when it is not): the door screen says so
            without naming anyone.
    """

    seq: int
    source_generation: int
    frame_index: int
    t_capture: float
    frame_size: tuple[int, int]
    faces: tuple[FaceView, ...]
    state: DoorState
    message: str
    employee_id: int | None
    name: str
    passage: int
    process_ms: float
    locked_out_min: int | None = None


@dataclass(frozen=True)
class StationDecision:
    """A decision the station acted on (the door was told, the event was queued).

    Attributes:
        verdict: granted, denied, unknown, spoof or error.
        passage: the passage it was taken for (0 for errors).
        employee_id: the person (None for unknown faces and errors).
        name: the person's name ('' when none).
        reason: why it was denied, or the error.
        score: the deciding frame's best similarity (None for errors).
        at: when (aware, UTC).
        seq: the frame sequence number it was taken on (0 for errors).
        source_generation: see :class:`FrameReport`.
        t_capture: when that frame was captured (monotonic seconds; 0 for errors).
        t_decided: when the decision was taken (monotonic seconds).
        alert: set when the decision needs an administrator's attention (an identity was
            locked out after repeated spoofs); '' otherwise.
        locked_out_min: for a denial because the identity is locked out after repeated
            spoofs, the minutes left (None otherwise).
    """

    verdict: str
    passage: int
    employee_id: int | None
    name: str
    reason: str
    score: float | None
    at: datetime
    seq: int = 0
    source_generation: int = 0
    t_capture: float = 0.0
    t_decided: float = 0.0
    alert: str = ""
    locked_out_min: int | None = None


def load_snapshot(db: Database, model_id: str, dim: int, thresholds: Thresholds,
                  generation: int = 0, *, confirm: ConfirmEmbedder | None = None,
                  confirm_thresholds: Thresholds | None = None) -> GallerySnapshot:
    """Read the galleries and every person's details from the database (a background job:
    ~0.3 s for 100k templates).

    With a confirming embedder and its thresholds, the snapshot holds everyone's confirming
    templates too and the door decides by the cascade (``matching.cascade``); templates that
    have no confirming embedding yet get it from their face crop first (~15 ms each, once).

    The galleries are read first: a person enrolled in between is then in the people list
    too, and a person deleted in between is found in the gallery without details, which
    is refused ("not on the staff list").
    """
    from turnstile.services.gallery import GalleryService
    from turnstile.services.recognition import PersonInfo
    from turnstile.storage import repositories as repo

    cascade = confirm is not None and confirm_thresholds is not None
    galleries = GalleryService(db, model_id, dim, confirm if cascade else None)
    galleries.reload()
    with db.session() as s:
        people = {e.id: PersonInfo.of(e) for e in repo.list_employees(s)}
    return GallerySnapshot(galleries.gallery, galleries.everyone, people, thresholds, generation,
                           galleries.confirm if cascade else None,
                           confirm_thresholds if cascade else None)


def load_face_crop(db: Database, employee_id: int) -> bytes | None:
    """The enrolled face crop (JPEG) shown in the banner: the newest template's."""
    from turnstile.storage import repositories as repo

    with db.session() as s:
        for template in reversed(repo.list_templates(s, employee_id)):
            if template.face_crop:
                return bytes(template.face_crop)
    return None


class DoorStation:
    """Frame -> faces -> decision -> door and access log.

    Args:
        pipeline: the vision pipeline (owned by the calling thread).
        policy: the door policy.
        door: the door commander (None: no door, e.g. evaluation).
        events: the access-log writer (None: nothing logged).
        snapshot: what to match against; None until loaded (no decision is taken then).
        liveness: the liveness check and spoof lockout (None: no liveness check).
        one_to_one: 1:1 mode: a person first gives an employee number (typed, or a USB badge
            reader that types it; see :meth:`claim`), then the face is verified against that
            person only, with the verification threshold. No face is identified among
            everyone in this mode.
        claim_timeout_s: see :data:`CLAIM_TIMEOUT_S`.
    """

    def __init__(self, pipeline: FacePipeline, policy: DoorPolicy, *,
                 door: DoorCommander | None = None, events: EventWriter | None = None,
                 snapshot: GallerySnapshot | None = None,
                 liveness: DoorLiveness | None = None, one_to_one: bool = False,
                 claim_timeout_s: float = CLAIM_TIMEOUT_S) -> None:
        self.one_to_one = one_to_one
        self.claim_timeout_s = claim_timeout_s
        self._claim: _Claim | None = None
        self.pipeline = pipeline
        self.policy = policy
        self.door = door
        self.events = events
        self.snapshot = snapshot
        self.liveness = liveness if liveness is not None and liveness.enabled else None
        self.model_id = pipeline.model_id
        self.source_generation = 0
        self._last_t: float | None = None  # the clock of the last frame processed
        self._lockout_log: list[tuple[datetime, int | None, str]] | None = None
        self._memo: _ConfirmMemo | None = None
        self._turned_away = 0  # the passage last turned away as unknown
        self.confirm_runs = 0
        """How many times the confirming embedder ran (benchmarks report it)."""
        if self.liveness is not None:
            self._read_lockout_log()

    def set_snapshot(self, snapshot: GallerySnapshot) -> None:
        """Swap in a newly loaded gallery snapshot (between two frames)."""
        self.snapshot = snapshot

    def reconfigure(self, policy: DoorPolicy, liveness: DoorLiveness | None,
                    one_to_one: bool) -> None:
        """Apply new door settings between two frames (the passage in progress, a pending
        claim and the liveness evidence are dropped: they were judged by the old rules; the
        cooldowns and passage numbers carry over)."""
        if policy is not self.policy:
            policy.continue_from(self.policy)
        self.policy = policy
        if liveness is not None and not liveness.enabled:
            liveness = None
        if self.liveness is not None and self.liveness is not liveness:
            if liveness is not None:  # new settings do not lift a lockout
                now = self._last_t if self._last_t is not None else time.monotonic()
                liveness.take_over(self.liveness, now)
            self.liveness.close()
        elif self.liveness is None and liveness is not None:
            self._read_lockout_log()
        self.liveness = liveness
        self.one_to_one = one_to_one
        self._claim = None
        self._memo = None

    def close(self) -> None:
        """Stop the helper thread of the liveness check (the station is done with)."""
        if self.liveness is not None:
            self.liveness.close()

    def claim(self, number: str, now: float) -> StationDecision | None:
        """1:1 mode: someone gave this employee (badge) number; the next face is verified
        against that person for :attr:`claim_timeout_s` seconds.

        Returns:
            None when the number is known (the door now waits for the face); otherwise the
            ``unknown`` decision taken and logged (no such number, or not in 1:1 mode).
        """
        if self.snapshot is None and self.one_to_one:
            return StationDecision("unknown", 0, None, "", STARTING_SCAN_AGAIN, None, utcnow(),
                                   source_generation=self.source_generation,
                                   t_decided=time.monotonic())  # not logged: nothing judged
        employee_id = None
        if self.snapshot is not None and self.one_to_one:
            employee_id = self.snapshot.employee_by_number(number)
        if employee_id is None:
            self._claim = None
            reason = ("no employee has this number" if self.one_to_one
                      else "this door identifies faces; it takes no employee numbers")
            at = utcnow()
            if self.events is not None:
                self.events.submit(EventRecord("unknown", at, None, reason, None, None,
                                               self.model_id))
            return StationDecision("unknown", 0, None, "", reason, None, at,
                                   source_generation=self.source_generation,
                                   t_decided=time.monotonic())
        self._claim = _Claim(employee_id, now + self.claim_timeout_s)
        self._memo = None
        self.policy.reset()  # the face now in view starts a fresh passage for this claim
        if self.liveness is not None:
            self.liveness.reset()
        return None

    @property
    def claimed_employee(self) -> int | None:
        """1:1 mode: whose face the door is waiting for (None: nobody claimed)."""
        return self._claim.employee_id if self._claim is not None else None

    def process(self, frame: CapturedFrame, seq: int, now: float | None = None
                ) -> tuple[FrameReport, StationDecision | None]:
        """Process one frame.

        Args:
            frame: from the camera.
            seq: the worker's sequence number for it.
            now: the policy's clock for this frame (default: its capture time).

        Returns:
            The report to draw, and the decision taken on this frame (usually None).
        """
        started = time.perf_counter()
        image = frame.image
        faces = self.pipeline.detect(image)
        snapshot = self.snapshot
        primary_index = max(range(len(faces)), key=lambda i: faces[i].area) if faces else None
        recognition: Recognition | None = None
        advice: tuple[str, ...] = ()
        live: LivenessCheck | None = None
        locked_min: int | None = None  # the deciding face's identity is locked out
        t = frame.t_capture if now is None else now
        self._last_t = t
        if self._lockout_log is not None and self.liveness is not None:
            self.liveness.restore_from_log(self._lockout_log, utcnow(), t)
            self._lockout_log = None
        if self._claim is not None and t > self._claim.expires_at:
            self._claim = None
        if primary_index is not None and self.one_to_one and self._claim is None:
            advice = (ASK_FOR_BADGE,)  # 1:1: nobody is looked up before a number is given
        elif primary_index is not None:
            # the liveness check of this face runs on the other core meanwhile
            ahead = self.liveness is not None and \
                self.liveness.prepare(image, faces[primary_index], t)
            primary = self.pipeline.embed(image, [faces[primary_index]], one_thread=ahead)[0]
            advice = door_advice(assess(primary).problems)
            if snapshot is not None and not advice and primary.embedding is not None:
                recognition = self._recognise(snapshot, image, primary, t, ahead)
            if self.liveness is not None:
                recognition, live, locked_min = self._liveness(image, primary, recognition, t)
        elif self.liveness is not None:
            self.liveness.check(image, None, None, t)
        observations = [
            FaceObservation(f.box, advice if i == primary_index else (),
                            recognition if i == primary_index else None,
                            live if i == primary_index else None)
            for i, f in enumerate(faces)
        ]
        if snapshot is None:
            step_state, step_message, decision_step = DoorState.CHECKING, STARTING_MESSAGE, None
            step_employee, passage = None, 0
        else:
            step = self.policy.update(t, observations)
            step_state, step_message, decision_step = step.state, step.message, step.decision
            step_employee, passage = step.employee_id, step.passage

        decision: StationDecision | None = None
        if decision_step is not None and snapshot is not None:
            # The threshold the decision was taken against (1:1 claims have their own).
            threshold = decision_step.threshold
            if threshold is None:
                threshold = (snapshot.thresholds.verify if self._claim is not None
                             else snapshot.thresholds.accept)
            model_id = self.model_id
            if decision_step.confirmed and self.pipeline.confirm is not None:
                model_id = self.pipeline.confirm.model_id
            self._claim = None  # a claim is good for one decision
            if decision_step.verdict is Verdict.UNKNOWN:
                self._turned_away = decision_step.passage
            locked_employee = recognition.employee_id if recognition is not None else None
            decision = self._act(decision_step.verdict, decision_step.passage,
                                 decision_step.employee_id, decision_step.reason,
                                 decision_step.score, snapshot, frame, seq, t,
                                 decision_step.liveness_score, threshold, model_id,
                                 locked_min if decision_step.verdict is Verdict.DENIED
                                 and decision_step.employee_id == locked_employee else None)
        name = snapshot.name_of(step_employee) if snapshot is not None else ""
        views = tuple(
            self._view(f.box, i == primary_index, recognition, advice, step_state, snapshot,
                       live, names=self.liveness is None, locked_min=locked_min)
            for i, f in enumerate(faces))
        height, width = image.shape[:2]
        report = FrameReport(seq, self.source_generation, frame.index, frame.t_capture,
                             (width, height), views, step_state, step_message, step_employee,
                             name, passage, (time.perf_counter() - started) * 1000.0,
                             locked_min if step_state is DoorState.DENIED else None)
        return report, decision

    def camera_problem(self, reason: str) -> StationDecision:
        """The camera was lost (or cannot be opened): close the door, forget the passage in
        progress, log an "error" event with ``reason``."""
        if self.door is not None:
            self.door.request_close(reason)
        self._memo = None
        self.policy.reset()
        if self.liveness is not None:
            self.liveness.reset()
        at = utcnow()
        if self.events is not None:
            self.events.submit(error_record(reason, at, self.model_id))
        return StationDecision("error", 0, None, "", reason, None, at,
                               source_generation=self.source_generation,
                               t_decided=time.monotonic())

    # -- internals ---------------------------------------------------------------------------
    def _recognise(self, snapshot: GallerySnapshot, image: Frame, face: Face, t: float,
                   one_thread: bool) -> Recognition:
        """Who the deciding face is: by the cascade when the snapshot has one and the
        candidate (or the claimed person) has a confirming template, else by the search
        embedder alone."""
        searched = face.embedding
        assert searched is not None
        confirm = self.pipeline.confirm is not None and snapshot.cascade
        if self._claim is not None:
            claimed = self._claim.employee_id
            if confirm and snapshot.can_confirm(claimed):
                return self._confirmed(
                    "claim", snapshot, image, face, t, one_thread,
                    lambda emb: snapshot.verify_claim(claimed, searched, confirm_embedding=emb))
            return snapshot.verify_claim(claimed, searched)
        if confirm:
            candidates = snapshot.shortlist(searched)
            if candidates and snapshot.can_confirm(candidates[0][0]):
                return self._confirmed(
                    "identify", snapshot, image, face, t, one_thread,
                    lambda emb: snapshot.confirm_candidates(candidates, emb))
        return snapshot.recognise(searched)

    def _confirmed(self, kind: str, snapshot: GallerySnapshot, image: Frame, face: Face,
                   t: float, one_thread: bool,
                   judge: Callable[[Embedding], Recognition]) -> Recognition:
        """Judge this face on the confirming embedder's embedding of it, computed again only
        when needed: while the same face (box overlap, no gap) stays in view, its embedding
        is kept once it was accepted, and otherwise for :data:`CONFIRM_RECHECK_S`. Each frame
        is still judged against that frame's shortlist (microseconds)."""
        memo = self._memo
        if memo is not None and memo.kind == kind and memo.generation == snapshot.generation \
                and 0.0 <= t - memo.seen <= self.policy.max_gap_s \
                and iou(memo.box, face.box) >= SAME_TRACK_MIN_IOU:
            recheck_s = CONFIRM_RECHECK_DECIDED_S if self.policy.passage == \
                self._turned_away else CONFIRM_RECHECK_S
            if memo.accepted or t - memo.checked < recheck_s:
                memo.box, memo.seen = face.box, t
                return judge(memo.embedding)
        embedding = self.pipeline.confirm_embed(image, face, one_thread)
        self.confirm_runs += 1
        assert embedding is not None
        recognition = judge(embedding)
        accepted = recognition.threshold is not None and recognition.score >= recognition.threshold
        self._memo = _ConfirmMemo(kind, snapshot.generation, face.box, t, t, embedding, accepted)
        return recognition

    def _read_lockout_log(self) -> None:
        """This door's spoof and grant events of the last day, to rebuild the spoof counts
        and lockouts from on the next frame (on the frames' clock): a restarted station, or
        liveness switched back on, must not lift a lockout."""
        if self.events is None:
            return
        try:
            self._lockout_log = self.events.history(
                ("spoof", "granted"), utcnow() - timedelta(seconds=LOCKOUT_HISTORY_S))
        except Exception:  # noqa: BLE001 - the door runs; the lockouts start from zero
            log.exception("could not read the access log to restore spoof lockouts")

    def _liveness(self, image: Frame, face: Face, recognition: Recognition | None, t: float
                  ) -> tuple[Recognition | None, LivenessCheck | None, int | None]:
        """Check the deciding face's liveness; refuse an identity locked out for spoofs.

        Returns:
            The recognition (refused when locked out), the liveness check, and the minutes
            the lockout lasts (None when the identity is not locked out).
        """
        assert self.liveness is not None
        if recognition is not None and recognition.outcome is Outcome.UNKNOWN:
            return recognition, None, None  # a stranger is refused anyway: spare the check
        matched = recognition is not None and recognition.outcome is Outcome.MATCH
        employee_id = recognition.employee_id if matched and recognition is not None else None
        minutes = None
        if recognition is not None and recognition.allowed and employee_id is not None:
            minutes = self.liveness.locked_minutes(employee_id, t)
            if minutes is not None:
                recognition = replace(recognition,
                                      refusal=self.liveness.refusal(employee_id, t))
        return recognition, self.liveness.check(image, face, employee_id, t), minutes

    def _act(self, verdict: Verdict, passage: int, employee_id: int | None, reason: str,
             score: float, snapshot: GallerySnapshot, frame: CapturedFrame,
             seq: int, t: float, liveness_score: float | None,
             threshold: float, model_id: str, locked_out_min: int | None = None
             ) -> StationDecision:
        if verdict is Verdict.GRANTED and self.door is not None:
            self.door.request_open(passage)
        alert = ""
        if self.liveness is not None:
            if verdict is Verdict.SPOOF and self.liveness.spoofed(employee_id, t):
                minutes = self.liveness.lockout.lockout_s / 60.0
                attempts = self.liveness.max_attempts
                spoofs = f"{attempts} spoofs in a row" if attempts > 1 else "a spoof"
                alert = (f"{snapshot.name_of(employee_id) or 'An employee'}'s identity was "
                         f"presented by {spoofs} at this door and is locked out here for "
                         f"{minutes:g} min.")
                reason = f"{reason} Identity locked out for {minutes:g} min after {spoofs}."
                log.warning("spoof alert: employee id %s locked out for %g min", employee_id,
                            minutes)
            elif verdict is Verdict.GRANTED:
                self.liveness.passed(employee_id)
        at = utcnow()
        if self.events is not None:
            self.events.submit(EventRecord(
                verdict.value, at, employee_id, reason or None, score,
                threshold, model_id, liveness_score), frame.image)
        log.info("door decision: %s (passage %d, employee id %s)", verdict.value, passage,
                 employee_id)
        return StationDecision(verdict.value, passage, employee_id,
                               snapshot.name_of(employee_id), reason, score, at, seq,
                               self.source_generation, frame.t_capture, time.monotonic(),
                               alert, locked_out_min)

    @staticmethod
    def _view(box: Box, primary: bool, r: Recognition | None, advice: tuple[str, ...],
              state: DoorState, snapshot: GallerySnapshot | None,
              live: LivenessCheck | None = None, *, names: bool = True,
              locked_min: int | None = None) -> FaceView:
        """How a face is labelled on screen. A person the door refuses is named only when
        ``names`` (the door checks no liveness: with the check on, the face may be a photo of
        them); a lockout for spoofs and a face that is not the one claimed never are."""
        if not primary:
            return FaceView(box, "", None, "other", False)
        if state is DoorState.SPOOF:
            return FaceView(box, "Not a live person", None, "denied", True)
        if live is not None and live.state != "live" and r is not None \
                and r.outcome is Outcome.MATCH and r.refusal is None:
            # Not named before liveness is confirmed: a photo held up learns nothing.
            return FaceView(box, "", None, "checking", True)
        if advice or r is None or snapshot is None:
            return FaceView(box, "", None, "guidance" if advice else "checking", True)
        if r.outcome is Outcome.MATCH:
            name = snapshot.name_of(r.employee_id)
            if r.refusal is not None:
                if locked_min is not None:
                    return FaceView(box, f"Locked out · {locked_min} min", None, "denied", True)
                if not names or r.refusal == FACE_NOT_CLAIMED:
                    return FaceView(box, NOT_ALLOWED_LABEL, None, "denied", True)
                return FaceView(box, f"{name} ({r.refusal})", r.score, "denied", True)
            hint = "granted" if state is DoorState.GRANTED else "checking"
            return FaceView(box, name, r.score, hint, True)
        if r.outcome is Outcome.UNKNOWN:
            return FaceView(box, "Unknown", r.score, "unknown", True)
        return FaceView(box, "?", r.score, "unsure", True)
