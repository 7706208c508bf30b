"""Liveness at the door: one :class:`~turnstile.vision.liveness.LivenessTracker` following the
deciding face, and the lockout of identities presented by spoofs.

The station asks :meth:`DoorLiveness.check` once a frame for the deciding face; the answer
goes to the door policy, which lets a recognised person in only once it says ``live``. The
tracker starts afresh whenever the deciding face changes: it left the view, another face took
its place (the tracker's own jump test), or the face is now recognised as someone else (an
attacker swapping photos must not inherit a live person's blink).

After :attr:`DoorLiveness.max_attempts` spoofs in a row for one identity, that identity is
refused at this door for the lockout period (the attacker is holding up that employee's
picture); the station logs the lockout as an alert. The counts live in memory: a restarted
station starts again from zero, which the access log's ``spoof`` events make visible.
"""

from __future__ import annotations

import logging
import math
import random

from turnstile.matching.door_policy import LivenessCheck
from turnstile.vision.liveness import (
    LivenessConfig,
    LivenessMode,
    LivenessTracker,
    SpoofLockout,
)
from turnstile.vision.types import Face, Frame

log = logging.getLogger(__name__)


class DoorLiveness:
    """The door's liveness check and spoof lockout (owned by the vision thread).

    Args:
        mode: ``"passive"``, ``"challenge"`` or ``"off"`` (see :class:`LivenessMode`).
        max_attempts: spoofs in a row that lock an identity out.
        lockout_s: how long the lockout lasts.
        tracker: the tracker to use (default: a new one for ``mode``; tests pass their own).
        config: the tracker's windows (ignored when ``tracker`` is given).
        rng: chooses challenges (default: the operating system's randomness).
    """

    def __init__(self, mode: LivenessMode | str, *, max_attempts: int = 3,
                 lockout_s: float = 600.0, tracker: LivenessTracker | None = None,
                 config: LivenessConfig | None = None,
                 rng: random.Random | None = None) -> None:
        self.mode = LivenessMode(mode)
        self.tracker = tracker or LivenessTracker(self.mode, config=config, rng=rng)
        self.lockout = SpoofLockout(max_attempts, lockout_s)
        self._identity: int | None = None

    @property
    def enabled(self) -> bool:
        """Whether the door requires liveness (the mode is not off)."""
        return self.mode is not LivenessMode.OFF

    @property
    def max_attempts(self) -> int:
        return self.lockout.max_attempts

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
        if employee_id is not None:
            if self._identity is not None and employee_id != self._identity:
                self.tracker.reset()
            self._identity = employee_id
        verdict = self.tracker.update(frame, face, t)
        return LivenessCheck(verdict.state.value, verdict.reason, verdict.prompt,
                             float(verdict.score))

    def reset(self) -> None:
        """Forget the face being checked (the camera was lost or changed)."""
        self.tracker.reset()
        self._identity = None

    def refusal(self, employee_id: int, now: float) -> str | None:
        """Why this identity may not pass at this door now (None when it may)."""
        left_s = self.lockout.remaining_s(employee_id, now)
        if left_s <= 0:
            return None
        minutes = max(1, math.ceil(left_s / 60.0))
        return (f"locked out after {self.max_attempts} failed liveness checks in a row "
                f"({minutes} min left)")

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
    tracker = LivenessTracker(mode, mesh=mesh)
    return DoorLiveness(mode, max_attempts=max_attempts, lockout_s=lockout_min * 60.0,
                        tracker=tracker)
