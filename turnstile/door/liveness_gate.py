"""Liveness at the door: one :class:`~turnstile.vision.liveness.LivenessTracker` following the
deciding face, and the lockout of identities presented by spoofs.

The station asks :meth:`DoorLiveness.check` once a frame for the deciding face; the answer
goes to the door policy, which lets a recognised person in only once it says ``live``. The
tracker starts afresh whenever the deciding face changes: it left the view, another face took
its place (the tracker's own jump test), or the face is now recognised as someone else (an
attacker swapping photos must not inherit a live person's blink).

The check's work on a frame (the face mesh and the cues) runs on a thread of its own while the
station embeds and matches the same face (:meth:`DoorLiveness.prepare`, then
:meth:`DoorLiveness.check`): on two cores the two overlap instead of adding up. It feeds a fork
of the attempt, adopted once the frame's identity is known, so the evidence is exactly what
checking each frame in turn would gather: frames of a face recognised as nobody never count,
and a face recognised as someone else starts a new attempt.

After :attr:`DoorLiveness.max_attempts` spoofs in a row for one identity, that identity is
refused at this door for the lockout period (the attacker is holding up that employee's
picture); the station logs the lockout as an alert. The counts live in memory and are
rebuilt from the door's access log (its ``spoof`` and ``granted`` events of the last day) when
a station starts, and carried over when the settings change: neither lifts a lockout.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import numpy.typing as npt

from turnstile.matching.door_policy import LivenessCheck
from turnstile.vision.liveness import (
    LivenessConfig,
    LivenessMode,
    LivenessTracker,
    SpoofLockout,
)
from turnstile.vision.types import Face, Frame

if TYPE_CHECKING:
    from turnstile.vision.landmarks import FaceMesh

log = logging.getLogger(__name__)

LOCKOUT_REFUSAL = ("locked out after {attempts} failed liveness checks in a row "
                   "({minutes} min left)")
"""Why an identity locked out for spoofs is refused: the access log's reason (for the admin,
who sees whose identity it is). The door screen says it without the name
(:attr:`DoorStation.locked_out_min <turnstile.door.station.FrameReport.locked_out_min>`)."""


class _Ahead(NamedTuple):
    """What the liveness thread computed for one frame."""

    points: npt.NDArray[np.float32]
    presence: float
    fork: LivenessTracker


class DoorLiveness:
    """The door's liveness check and spoof lockout (owned by the vision thread).

    Args:
        mode: ``"passive"``, ``"challenge"`` or ``"off"`` (see :class:`LivenessMode`).
        max_attempts: spoofs in a row that lock an identity out.
        lockout_s: how long the lockout lasts.
        tracker: the tracker to use (default: a new one for ``mode``; tests pass their own).
        config: the tracker's windows (ignored when ``tracker`` is given).
        rng: chooses challenges (default: the operating system's randomness).
        mesh: the face mesh model, run on the liveness thread ahead of :meth:`check` (None:
            the tracker runs its own mesh in :meth:`check`, nothing runs ahead).
    """

    def __init__(self, mode: LivenessMode | str, *, max_attempts: int = 3,
                 lockout_s: float = 600.0, tracker: LivenessTracker | None = None,
                 config: LivenessConfig | None = None,
                 rng: random.Random | None = None, mesh: FaceMesh | None = None) -> None:
        self.mode = LivenessMode(mode)
        self.tracker = tracker or LivenessTracker(self.mode, config=config, rng=rng, mesh=mesh)
        self.lockout = SpoofLockout(max_attempts, lockout_s)
        self._identity: int | None = None
        self._mesh = mesh
        # one thread: the mesh interpreter is never used by two threads at once
        self._executor: ThreadPoolExecutor | None = None
        self._pending: tuple[Face, Future[_Ahead]] | None = None

    @property
    def enabled(self) -> bool:
        """Whether the door requires liveness (the mode is not off)."""
        return self.mode is not LivenessMode.OFF

    @property
    def max_attempts(self) -> int:
        return self.lockout.max_attempts

    def prepare(self, frame: Frame, face: Face, t: float) -> bool:
        """Start the check of this frame's deciding face on the liveness thread (the face
        mesh and the cues, on a fork of the attempt), to run while the caller embeds and
        matches the face; :meth:`check` on the same face then only takes the result.

        Nothing starts when the check is off or already decided (a final verdict needs no
        more evidence until the face changes), or without a mesh model of its own.

        Returns:
            Whether the work started (the caller then leaves the other core to it).
        """
        self._settle()
        if (not self.enabled or self._mesh is None or self.tracker.verdict.final
                or self.tracker.config.mesh_stride != 1):
            return False
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="liveness")
        self._pending = (face, self._executor.submit(self._ahead, frame, face, t))
        return True

    def _ahead(self, frame: Frame, face: Face, t: float) -> _Ahead:
        """On the liveness thread: the mesh, and a fork of the attempt fed this frame (the
        attempt itself is left as it was until :meth:`check` knows whose face it is)."""
        assert self._mesh is not None
        points, presence = self._mesh.landmarks(frame, face)
        fork = self.tracker.fork()
        fork.update(frame, face, t, points, presence)
        return _Ahead(points, presence, fork)

    def _settle(self, face: Face | None = None) -> _Ahead | None:
        """Wait for the work started by :meth:`prepare` (the model and the attempt are then
        free again); its result when it was started for ``face``."""
        if self._pending is None:
            return None
        started_for, future = self._pending
        self._pending = None
        try:
            result = future.result()
        except Exception:  # noqa: BLE001 - check() runs the tracker again and reports it
            log.exception("liveness check failed on the liveness thread")
            return None
        return result if face is not None and started_for is face else None

    def close(self) -> None:
        """Stop the liveness thread (waits for the frame under way)."""
        self._settle()
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    def check(self, frame: Frame, face: Face | None, employee_id: int | None,
              t: float) -> LivenessCheck | None:
        """Feed the deciding face of one frame; None when liveness is off.

        Args:
            frame: the BGR camera frame.
            face: the deciding face (None when no face was seen in this frame).
            employee_id: who that face is recognised as in this frame (None: unknown or
                not evaluated, which does not restart the check).
            t: the frame's capture time (monotonic seconds).
        """
        if not self.enabled:
            return None
        ahead = self._settle(face)
        restarted = False
        if employee_id is not None:
            if self._identity is not None and employee_id != self._identity:
                self.tracker.reset()
                restarted = True
            self._identity = employee_id
        if ahead is not None and not restarted:
            self.tracker.adopt(ahead.fork)  # the fork was fed exactly this frame
            verdict = self.tracker.verdict
        elif ahead is not None:  # a new attempt starts with this frame
            verdict = self.tracker.update(frame, face, t, ahead.points, ahead.presence)
        else:
            verdict = self.tracker.update(frame, face, t)
        return LivenessCheck(verdict.state.value, verdict.reason, verdict.prompt,
                             float(verdict.score))

    def reset(self) -> None:
        """Forget the face being checked (the camera was lost or changed)."""
        self._settle()
        self.tracker.reset()
        self._identity = None

    def take_over(self, previous: DoorLiveness, now: float) -> None:
        """Keep the spoof counts and lockouts of the check this one replaces (new settings
        must not lift a lockout)."""
        for employee_id, (failures, left_s) in previous.lockout.state(now).items():
            self.lockout.restore(employee_id, failures, left_s, now)

    def restore_from_log(self, history: Sequence[tuple[datetime, int | None, str]],
                         now_wall: datetime, now: float) -> int:
        """Rebuild the spoof counts and lockouts from this door's logged ``spoof`` and
        ``granted`` events (oldest first), so that restarting the station does not lift a
        lockout. Returns the number of identities locked out now."""
        replay = SpoofLockout(self.lockout.max_attempts, self.lockout.lockout_s)
        for at, employee_id, decision in history:
            if employee_id is None:
                continue
            t = (at - now_wall).total_seconds()  # seconds, 0 = now
            if decision == "spoof":
                replay.record_spoof(employee_id, t)
            elif decision == "granted":
                replay.record_success(employee_id)
        locked = 0
        for employee_id, (failures, left_s) in replay.state(0.0).items():
            self.lockout.restore(employee_id, failures, left_s, now)
            locked += left_s > 0
        if locked:
            log.warning("%d identities still locked out for spoofs at this door (from the "
                        "access log)", locked)
        return locked

    def locked_minutes(self, employee_id: int, now: float) -> int | None:
        """The minutes (rounded up) this identity stays locked out at this door (None when it
        is not)."""
        left_s = self.lockout.remaining_s(employee_id, now)
        if left_s <= 0:
            return None
        return max(1, math.ceil(left_s / 60.0))

    def refusal(self, employee_id: int, now: float) -> str | None:
        """Why this identity may not pass at this door now (None when it may)."""
        minutes = self.locked_minutes(employee_id, now)
        if minutes is None:
            return None
        return LOCKOUT_REFUSAL.format(attempts=self.max_attempts, minutes=minutes)

    def spoofed(self, employee_id: int | None, now: float) -> bool:
        """Count a spoof presented as this identity; True when it locks the identity out."""
        if employee_id is None:
            return False
        return self.lockout.record_spoof(employee_id, now)

    def passed(self, employee_id: int | None) -> None:
        """A live person was let in: their count of spoofs starts again."""
        if employee_id is not None:
            self.lockout.record_success(employee_id)


def build_door_liveness(mode: str, max_attempts: int, lockout_min: float) -> DoorLiveness | None:
    """The door's liveness check from the settings, its face-mesh model loaded now (call it
    on the vision thread; None when the mode is off).

    Raises:
        ModelFileError: the face mesh model is missing or corrupt (the door stays closed).
    """
    if LivenessMode(mode) is LivenessMode.OFF:
        return None
    from turnstile import resources
    from turnstile.vision.landmarks import FaceMesh

    mesh = FaceMesh(resources.model_path(resources.FACE_MESH))
    return DoorLiveness(mode, max_attempts=max_attempts, lockout_s=lockout_min * 60.0,
                        mesh=mesh)
