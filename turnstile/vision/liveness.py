"""Liveness (presentation-attack detection): is a live person in front of the door camera,
or a printed photo, a photo on a screen, or a replayed video?

:class:`LivenessTracker` watches the tracked face over a short window of frames and combines
independent cues (see :mod:`turnstile.vision.liveness_cues`):

* **life**: eye blinks, seen as a change of both eyes' appearance that the rest of the face
  does not share (a photo cannot blink); in challenge mode, the requested blinks or head turn
  (the nose moves between the cheeks, which no flat picture can do);
* **screen**: moire, the beat pattern a camera makes of a display's pixel grid;
* **flat object**: the face and its surroundings moving together, as a hand-held sheet or
  screen does (a live head moves in front of a still room), and in particular a long
  straight border beside the face (a sheet's edge, a screen's bezel) moving with it.

A verdict is ``PENDING`` until the evidence suffices: ``LIVE`` when life was seen, at least
:attr:`LivenessConfig.min_observe_s` passed, and no attack cue fired; ``SPOOF`` as soon as an
attack cue is clear, or when the window ends without a sign of life. ``LIVE`` and ``SPOOF``
are final until :meth:`LivenessTracker.reset` (the face left, or a new person).

:class:`SpoofLockout` keeps the count of failed attempts per presented identity.

Nothing here imports Qt; per-frame cost is ~1-2 ms plus the face mesh (~2 ms) when the caller
does not pass mesh points it already has.
"""

from __future__ import annotations

import copy
import enum
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from turnstile.vision.landmarks import MIN_PRESENCE
from turnstile.vision.liveness_cues import (
    LEFT_EYE_INNER,
    NOSE_TIP,
    RIGHT_EYE_INNER,
    BlinkCue,
    MotionCue,
    Points,
    moire_score,
    nose_position,
)
from turnstile.vision.types import Face, Frame

if TYPE_CHECKING:
    from turnstile.vision.landmarks import FaceMesh

log = logging.getLogger(__name__)


class LivenessMode(enum.StrEnum):
    """How the door checks liveness (a setting)."""

    OFF = "off"
    """No check: every face counts as live (the door behaves as before liveness existed)."""
    PASSIVE = "passive"
    """Nothing asked of the person: a natural blink within the window, no attack cue."""
    CHALLENGE = "challenge"
    """The door asks for an action chosen at random (blink twice, or turn the head), on top
    of the passive checks."""


class LivenessState(enum.StrEnum):
    PENDING = "pending"
    LIVE = "live"
    SPOOF = "spoof"


class Challenge(enum.StrEnum):
    """Actions the door can ask for in challenge mode."""

    BLINK = "blink"
    TURN_LEFT = "turn_left"
    TURN_RIGHT = "turn_right"

    @property
    def prompt(self) -> str:
        return {
            Challenge.BLINK: "Please blink twice.",
            Challenge.TURN_LEFT: "Please turn your head slightly to your left, then back.",
            Challenge.TURN_RIGHT: "Please turn your head slightly to your right, then back.",
        }[self]


MOIRE_LIMIT = 1.22
"""Screen cue: the median :func:`~turnstile.vision.liveness_cues.moire_score` over the
window above which the face is taken to be on a display (or a recaptured print). Lower is
stricter (more screens caught, more live faces refused). On the tuning split of ``turnstile
eval liveness`` live windows stayed at or below 1.16; screens with visible moire give
1.25-2.7, faint moire stays in the live range and is left to the other cues."""

COHERENCE_LIMIT = 0.8
"""Flat-object cue: the mean share of surrounding points moving with the face above which
the face is taken to be on a hand-held sheet or screen. Lower is stricter."""

EDGE_LOCK_LIMIT = 1.5
"""Border cue: moments at which a long straight edge beside the face moved with it (the edge
of a sheet or a screen). Two such moments decide (the level passes 0.5 above this); one
is not enough, as a live person's straight hair or hood may do it once. Lower is
stricter."""

TURN_MIN_SHIFT = 0.18
"""Challenge "turn": the nose must move at least this far (as a share of the cheek-to-cheek
width, see :func:`~turnstile.vision.liveness_cues.nose_position`) towards the requested
side. Higher is stricter. Tilting a photo by 20 degrees moves it by up to ~0.1 to 0.2 through
the mesh model's own errors; a real 25-degree turn by ~0.3."""


@dataclass(frozen=True)
class LivenessConfig:
    """Tunable windows of the liveness check (the thresholds are module constants).

    Attributes:
        passive_window_s: how long to wait for a blink before refusing (an accessible
            alternative to a challenge is a longer window).
        challenge_window_s: how long the person has to complete a challenge.
        min_observe_s: never decide LIVE sooner (the attack cues need some frames).
        min_moire_samples: frames of texture needed before the screen cue may decide.
        min_motion_samples: judged motion moments needed before the flat-object cue may
            decide.
        challenges: what challenge mode may ask for (e.g. only ``BLINK`` for a door where
            people cannot be asked to turn their head).
        blinks_for_challenge: blinks asked for by the blink challenge.
        lost_face_reset_s: a face missing for longer than this starts a new attempt.
        jump_reset: a face whose centre moves more than this share of its width between two
            frames, or whose width changes by more than this share, is another face (a
            photo swapped in after a live blink): a new attempt starts.
        prompt_after_s: in passive mode, after this long without a blink, the verdict
            carries a hint for the screen ("Please blink").
        mesh_stride: run the face mesh (and the motion cue, which needs fresh mesh points) on
            one frame in this many; in between, the last mesh points are moved by the
            detector's keypoints for the blink and screen cues. 2 cuts the cost from ~3.7 to
            ~2.9 ms a frame but let 5 of 214 attack streams through (APCER 3.9 % on the
            tuning half, 0.9 % held out, against 0 % with 1), so 1 ships.
            (Examining only every other frame halved the cost too, but one replay of the
            tuning half got through.) ``turnstile eval liveness`` measures the shipped value.
    """

    passive_window_s: float = 6.0
    challenge_window_s: float = 8.0
    min_observe_s: float = 1.5
    min_moire_samples: int = 12
    min_motion_samples: int = 4
    challenges: tuple[Challenge, ...] = (Challenge.BLINK, Challenge.TURN_LEFT,
                                         Challenge.TURN_RIGHT)
    blinks_for_challenge: int = 2
    lost_face_reset_s: float = 1.0
    jump_reset: float = 0.5
    prompt_after_s: float = 2.0
    mesh_stride: int = 1

    def __post_init__(self) -> None:
        if self.mesh_stride < 1:
            raise ValueError("mesh_stride must be at least 1")
        if self.passive_window_s <= self.min_observe_s or self.challenge_window_s <= 0:
            raise ValueError("liveness windows must be longer than the minimum observation")
        if not self.challenges:
            raise ValueError("challenge mode needs at least one challenge")


@dataclass(frozen=True)
class LivenessVerdict:
    """The liveness check's answer after a frame.

    Attributes:
        state: PENDING, LIVE or SPOOF.
        score: in [0, 1]; high = live. ``life x (1 - attack)``, where ``life`` is 1 once a
            blink (or the challenge) was seen and ``attack`` is the strongest attack cue
            scaled so that its limit maps to 0.5. LIVE needs 1 x (1 - attack) > 0.5.
        reason: plain language, for the access log and the administrator (no biometric data).
        cues: the measurements behind it (``blinks``, ``moire``, ``coherence``,
            ``nose_shift``, ...), for logs and tuning.
        elapsed_s: time since the attempt started (the face's first frame).
        prompt: what the door screen should ask of the person, or None.
        challenge: the challenge asked for (challenge mode), or None.
        checked: False when the mode is OFF (the door logs no liveness score then).
        timed_out: SPOOF because the window ended without a sign of life (as opposed to an
            attack cue that fired).
    """

    state: LivenessState
    score: float
    reason: str
    cues: dict[str, float] = field(default_factory=dict)
    elapsed_s: float = 0.0
    prompt: str | None = None
    challenge: Challenge | None = None
    checked: bool = True
    timed_out: bool = False

    @property
    def live(self) -> bool:
        return self.state is LivenessState.LIVE

    @property
    def final(self) -> bool:
        return self.state is not LivenessState.PENDING


def attack_level(value: float, limit: float, floor: float) -> float:
    """Map a cue's value to [0, 1]: ``floor`` -> 0, ``limit`` -> 0.5, ``2 limit - floor`` -> 1."""
    return float(np.clip(0.5 * (value - floor) / max(limit - floor, 1e-9), 0.0, 1.0))


MOIRE_FLOOR = 1.0
"""The moire score of an ordinary live face (maps to attack level 0)."""


class LivenessTracker:
    """Liveness of the one face the door is tracking, frame by frame.

    Build one per camera (in the door's vision thread, next to its pipeline); call
    :meth:`update` for every frame in which the tracked face is seen (or with ``face=None``
    when it is not), and :meth:`reset` when the face leaves or the person changes.

    Args:
        mode: OFF, PASSIVE or CHALLENGE.
        mesh: a :class:`~turnstile.vision.landmarks.FaceMesh` to compute the face's mesh
            points when :meth:`update` is not given them. Built from the shipped model on the
            first need when None.
        config: windows and options.
        rng: chooses the challenges (defaults to the operating system's randomness, so a
            recorded answer cannot be prepared).

    Raises:
        ModelFileError: (on first use) the face mesh model is missing or corrupt.
    """

    def __init__(self, mode: LivenessMode | str, *, mesh: FaceMesh | None = None,
                 config: LivenessConfig | None = None, rng: random.Random | None = None
                 ) -> None:
        self.mode = LivenessMode(mode)
        self.config = config or LivenessConfig()
        self._mesh = mesh
        self._rng = rng or random.SystemRandom()
        self._blink = BlinkCue()
        self._motion = MotionCue()
        self.reset()

    # -- public ------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget the current attempt (the face left, or another person stepped in)."""
        self._blink.reset()
        self._motion.reset()
        self._start: float | None = None
        self._last_seen: float | None = None
        self._moire: list[float] = []
        self._coherence: list[float] = []
        self._edge_tests = 0
        self._edge_locks = 0
        self._nose: list[float] = []  # the first few, for the baseline
        self._nose_base: float | None = None
        self._nose_range = (np.inf, -np.inf)
        self._turn_peak = 0.0
        self._turn_done = False
        self._challenge: Challenge | None = None
        self._final: LivenessVerdict | None = None
        self._last_box: tuple[float, float, float, float] | None = None
        self._mesh_calls = 0
        self._last_mesh: tuple[Points, npt.NDArray[np.float32]] | None = None
        self._verdict = self._pending(0.0, "Waiting for a face.")

    def fork(self) -> LivenessTracker:
        """A copy of the attempt so far, to feed a frame ahead of knowing whether that frame
        counts (it shares the face mesh model and the random source); :meth:`adopt` takes
        its state over when it does."""
        fork = copy.copy(self)
        fork._blink = self._blink.fork()
        fork._motion = self._motion.fork()
        # (the rest is numbers, tuples and arrays that are replaced, never changed in place)
        fork._moire, fork._coherence, fork._nose = \
            list(self._moire), list(self._coherence), list(self._nose)
        return fork

    def adopt(self, fork: LivenessTracker) -> None:
        """Take over the state of ``fork`` (made by :meth:`fork`, then fed)."""
        self.__dict__.update(fork.__dict__)

    @property
    def verdict(self) -> LivenessVerdict:
        """The latest verdict."""
        return self._verdict

    @property
    def challenge(self) -> Challenge | None:
        """The challenge of the current attempt (challenge mode, once a face was seen)."""
        return self._challenge

    def update(self, frame: Frame, face: Face | None, timestamp_s: float,
               mesh_points: Points | None = None,
               presence: float | None = None) -> LivenessVerdict:
        """Feed one frame.

        Args:
            frame: the BGR ``uint8 (H, W, 3)`` camera frame.
            face: the tracked face in this frame (its box and keypoints), or None when it
                was not detected in this frame.
            timestamp_s: the frame's capture time in seconds (any monotonic clock).
            mesh_points: the face's 468 mesh points ``(468, 2)`` in frame pixels, when the
                caller already computed them (saves ~2 ms); computed here otherwise.
            presence: the mesh model's face-presence probability for ``mesh_points`` (when
                below :data:`MIN_PRESENCE` the frame counts as one without the face).

        Returns:
            The verdict after this frame. Once LIVE or SPOOF it stays so until :meth:`reset`.
        """
        if self.mode is LivenessMode.OFF:
            self._verdict = LivenessVerdict(LivenessState.LIVE, 1.0, "Liveness check is off.",
                                            checked=False)
            return self._verdict
        if self._final is not None:
            return self._final
        t = float(timestamp_s)
        if face is None:
            if self._last_seen is not None and t - self._last_seen > \
                    self.config.lost_face_reset_s:
                self.reset()
            return self._verdict
        if self._last_seen is not None and (t - self._last_seen > self.config.lost_face_reset_s
                                            or self._jumped(face)):
            self.reset()
        if mesh_points is not None:
            if presence is not None and presence < MIN_PRESENCE:
                return self.update(frame, None, timestamp_s)
            points, fresh = mesh_points, True
        else:
            points, fresh = self._mesh_points(frame, face)
            if points is None:  # the mesh model sees no face there: as if none was found
                return self.update(frame, None, timestamp_s)
        self._last_box = face.box
        if self._start is None:
            self._start = t
            if self.mode is LivenessMode.CHALLENGE:
                self._challenge = self._rng.choice(list(self.config.challenges))
        self._last_seen = t
        self._observe(frame, face, points, t, fresh)
        self._verdict = self._decide(t - self._start)
        if self._verdict.final:
            self._final = self._verdict
            log.info("liveness %s after %.1f s: %s", self._verdict.state.value,
                     self._verdict.elapsed_s, self._verdict.reason)
        return self._verdict

    def _jumped(self, face: Face) -> bool:
        """Whether ``face`` cannot be the face of the previous frame."""
        if self._last_box is None:
            return False
        x, y, w, h = self._last_box
        nx, ny, nw, nh = face.box
        width = max(w, nw, 1.0)
        shift = float(np.hypot(nx + nw / 2 - x - w / 2, ny + nh / 2 - y - h / 2))
        limit = self.config.jump_reset
        return shift > limit * width or abs(nw - w) > limit * width

    # -- evidence ----------------------------------------------------------------------------

    def _mesh_points(self, frame: Frame, face: Face) -> tuple[Points | None, bool]:
        """The face's mesh points (None when the mesh model does not see a face there), and
        whether they were computed on this frame (False: the last mesh carried along by the
        detector's keypoints)."""
        if self._mesh is None:
            from turnstile import resources
            from turnstile.vision.landmarks import FaceMesh

            self._mesh = FaceMesh(resources.model_path(resources.FACE_MESH))
        anchor = face.landmarks[:4].astype(np.float32).mean(axis=0)
        self._mesh_calls += 1
        if self._last_mesh is not None and (self._mesh_calls - 1) % self.config.mesh_stride:
            points, then = self._last_mesh
            return points + (anchor - then), False
        points, presence = self._mesh.landmarks(frame, face)
        if presence < MIN_PRESENCE:
            self._last_mesh = None
            return None, True
        self._last_mesh = (points, anchor)
        return points, True

    def _observe(self, frame: Frame, face: Face, points: Points, t: float,
                 fresh: bool = True) -> None:
        self._blink.update(frame, points, t)
        p = points.astype(np.float64)
        bridge = (p[RIGHT_EYE_INNER] + p[LEFT_EYE_INNER]) / 2
        centre = (bridge + p[NOSE_TIP]) / 2
        self._moire.append(moire_score(frame, (float(centre[0]), float(centre[1]))))
        # The motion cue fits the skull's motion to the mesh points: only on frames with a
        # fresh mesh (it compares frames half a second apart, so half the frames suffice).
        motion = self._motion.update(frame, face.box, points, t) if fresh else None
        if motion is not None:
            if motion.coherence is not None:
                self._coherence.append(motion.coherence)
            if motion.edge_locked is not None:
                self._edge_tests += 1
                self._edge_locks += int(motion.edge_locked)
        nose = nose_position(points)
        self._nose_range = (min(self._nose_range[0], nose), max(self._nose_range[1], nose))
        if self._nose_base is None:
            self._nose.append(nose)
            if len(self._nose) >= 5:
                self._nose_base = float(np.median(self._nose))
        if self._nose_base is not None and self._challenge in (Challenge.TURN_LEFT,
                                                                Challenge.TURN_RIGHT):
            # the subject's left is the image's right: the nose ratio grows
            sign = 1.0 if self._challenge is Challenge.TURN_LEFT else -1.0
            shift = sign * (nose - self._nose_base)
            self._turn_peak = max(self._turn_peak, shift)
            if self._turn_peak >= TURN_MIN_SHIFT and shift < TURN_MIN_SHIFT / 2:
                self._turn_done = True  # turned, then came back

    def _cues(self) -> dict[str, float]:
        cues: dict[str, float] = {"blinks": float(len(self._blink.blinks)),
                                  "min_eyes_ncc": round(self._blink.min_eyes_ncc, 3)}
        if self._moire:
            cues["moire"] = round(float(np.median(self._moire[-48:])), 3)
        if self._coherence:
            cues["coherence"] = round(float(np.mean(self._coherence)), 3)
            cues["motion_samples"] = float(len(self._coherence))
        if self._edge_tests:
            cues["edge_locks"] = float(self._edge_locks)
            cues["edge_tests"] = float(self._edge_tests)
        if self._nose_base is not None:
            cues["nose_shift"] = round(float(self._nose_range[1] - self._nose_range[0]), 3)
        if self._challenge in (Challenge.TURN_LEFT, Challenge.TURN_RIGHT):
            cues["turn_peak"] = round(self._turn_peak, 3)
        return cues

    def _attack(self, cues: dict[str, float]) -> tuple[float, str | None]:
        """The strongest attack cue that may speak yet: (level in [0, 1], reason)."""
        level, reason = 0.0, None
        if len(self._moire) >= self.config.min_moire_samples:
            moire = attack_level(cues["moire"], MOIRE_LIMIT, MOIRE_FLOOR)
            if moire > level:
                level, reason = moire, ("A regular pixel or print-dot pattern (moire) was "
                                        "seen on the face: a picture on a display or on "
                                        "paper.")
        if len(self._coherence) >= self.config.min_motion_samples:
            coherence = attack_level(cues["coherence"], COHERENCE_LIMIT, 0.0)
            if coherence > level:
                level, reason = coherence, ("The face moved together with its surroundings, "
                                            "like a photo or screen held up to the camera.")
        edges = attack_level(float(self._edge_locks), EDGE_LOCK_LIMIT, 0.0)
        if edges > level:
            level, reason = edges, ("A straight border beside the face moved with it: the edge "
                                    "of a photo or a screen.")
        return level, reason

    def _life(self) -> tuple[float, str]:
        blinks = len(self._blink.blinks)
        if self.mode is LivenessMode.PASSIVE or self._challenge is None:
            return (1.0 if blinks else 0.0), "A natural blink was seen."
        if self._challenge is Challenge.BLINK:
            done = blinks >= self.config.blinks_for_challenge
            return (1.0 if done else 0.5 * blinks / self.config.blinks_for_challenge,
                    "The requested blinks were seen.")
        return (1.0 if self._turn_done else 0.0), "The requested head turn was seen."

    def _decide(self, elapsed: float) -> LivenessVerdict:
        cues = self._cues()
        attack, attack_reason = self._attack(cues)
        life, life_reason = self._life()
        score = float(life * (1.0 - attack))
        if attack > 0.5 and attack_reason is not None:
            return LivenessVerdict(LivenessState.SPOOF, score, attack_reason, cues, elapsed,
                                   challenge=self._challenge)
        if life >= 1.0 and elapsed >= self.config.min_observe_s:
            return LivenessVerdict(LivenessState.LIVE, score,
                                   f"{life_reason} No sign of a photo or screen.", cues, elapsed,
                                   challenge=self._challenge)
        window = (self.config.passive_window_s if self.mode is LivenessMode.PASSIVE
                  else self.config.challenge_window_s)
        if elapsed >= window:
            if self.mode is LivenessMode.PASSIVE:
                reason = (f"No blink in {window:.0f} s: a photo or a mask cannot blink. "
                          "If you cannot blink, please ask the staff.")
            else:
                reason = (f"The requested action was not made within {window:.0f} s. "
                          "If you cannot do it, please ask the staff.")
            return LivenessVerdict(LivenessState.SPOOF, score, reason, cues, elapsed,
                                   challenge=self._challenge, timed_out=True)
        return self._pending(elapsed, "Checking that a live person is present.", score, cues)

    def _pending(self, elapsed: float, reason: str, score: float = 0.0,
                 cues: dict[str, float] | None = None) -> LivenessVerdict:
        prompt = None
        if self.mode is LivenessMode.CHALLENGE and self._challenge is not None:
            prompt = self._challenge.prompt
        elif self.mode is LivenessMode.PASSIVE and elapsed >= self.config.prompt_after_s:
            prompt = "Please look at the camera and blink."
        return LivenessVerdict(LivenessState.PENDING, score, reason, cues or {}, elapsed,
                               prompt, self._challenge)


# --- repeated attempts ----------------------------------------------------------------------


@dataclass
class _Record:
    failures: int = 0
    locked_until: float | None = None


class SpoofLockout:
    """Locks out an identity after ``max_attempts`` failed liveness checks in a row.

    An attacker holding up an employee's photo is recognised as that employee and refused as
    a spoof; after ``max_attempts`` such refusals in a row, that employee's identity is not
    accepted at this door for ``lockout_s`` seconds, whatever liveness says (the
    administrator is alerted by the caller). A successful live passage resets the count.
    Pure bookkeeping: the caller passes the clock (``time.monotonic()``), nothing is stored.

    Args:
        max_attempts: refusals in a row that lock (>= 1).
        lockout_s: how long the lock lasts (> 0).
    """

    def __init__(self, max_attempts: int = 3, lockout_s: float = 600.0) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if lockout_s <= 0:
            raise ValueError("lockout_s must be positive")
        self.max_attempts = max_attempts
        self.lockout_s = float(lockout_s)
        self._records: dict[int, _Record] = {}

    def record_spoof(self, employee_id: int, now: float) -> bool:
        """Count a failed liveness check for this identity.

        Returns:
            True when this refusal locks the identity (the moment to alert the admin).
        """
        record = self._records.setdefault(employee_id, _Record())
        if self.is_locked(employee_id, now):
            return False
        record.failures += 1
        if record.failures >= self.max_attempts:
            record.locked_until = now + self.lockout_s
            record.failures = 0
            log.warning("identity %s locked out for %.0f s after %d spoof attempts",
                        employee_id, self.lockout_s, self.max_attempts)
            return True
        return False

    def record_success(self, employee_id: int) -> None:
        """A live, granted passage: the count of failures starts again."""
        record = self._records.get(employee_id)
        if record is not None and record.locked_until is None:
            del self._records[employee_id]

    def is_locked(self, employee_id: int, now: float) -> bool:
        """Whether this identity is locked out at ``now``."""
        record = self._records.get(employee_id)
        if record is None or record.locked_until is None:
            return False
        if now >= record.locked_until:
            record.locked_until = None
            return False
        return True

    def remaining_s(self, employee_id: int, now: float) -> float:
        """Seconds of lockout left (0 when not locked)."""
        if not self.is_locked(employee_id, now):
            return 0.0
        record = self._records[employee_id]
        assert record.locked_until is not None
        return record.locked_until - now

    def failures(self, employee_id: int) -> int:
        """Refusals in a row counted so far (0 after a lock or a success)."""
        record = self._records.get(employee_id)
        return record.failures if record is not None else 0

    def restore(self, employee_id: int, failures: int, locked_for_s: float, now: float) -> None:
        """Set this identity's count and lockout (rebuilt from the access log at start, or
        carried over from the lockout this one replaces)."""
        record = _Record(max(0, failures), now + locked_for_s if locked_for_s > 0 else None)
        if record.failures or record.locked_until is not None:
            self._records[employee_id] = record
        else:
            self._records.pop(employee_id, None)

    def state(self, now: float) -> dict[int, tuple[int, float]]:
        """Every identity with failures or a lockout: ``(failures, seconds locked left)``."""
        return {eid: (record.failures, self.remaining_s(eid, now))
                for eid, record in list(self._records.items())}

    def unlock(self, employee_id: int) -> None:
        """Lift a lock early (an administrator checked the person)."""
        self._records.pop(employee_id, None)

    def locked(self, now: float) -> Sequence[int]:
        """The identities locked at ``now``."""
        return [eid for eid in list(self._records) if self.is_locked(eid, now)]

