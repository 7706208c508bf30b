"""The three modes of the liveness check, on a real face photo run through the real detector
and face mesh (no shared data needed): a still photo never passes, OFF lets everyone
through unchecked, a challenge is asked for and only the requested movement answers it."""

from __future__ import annotations

import random

import numpy as np
import pytest

from turnstile.vision.liveness import (
    Challenge,
    LivenessConfig,
    LivenessMode,
    LivenessState,
    LivenessTracker,
)
from turnstile.vision.liveness_cues import (
    LEFT_CHEEK,
    LEFT_EYE_OUTER,
    NOSE_TIP,
    RIGHT_CHEEK,
    RIGHT_EYE_OUTER,
    nose_position,
)

FPS = 24.0


@pytest.fixture(scope="module")
def mesh():
    from turnstile import resources
    from turnstile.vision.landmarks import FaceMesh

    return FaceMesh(resources.model_path(resources.FACE_MESH))


@pytest.fixture(scope="module")
def photo_face(astronaut_bgr, mesh):
    """The astronaut photo in a 640 x 480 frame, its detected face and mesh points."""
    from turnstile.app import build_detector

    frame = np.full((480, 640, 3), 90, np.uint8)
    frame[:, 64:576] = astronaut_bgr[16:496]
    faces = build_detector("door").detect(frame)
    assert faces, "the door detector must find the astronaut's face"
    points, presence = mesh.landmarks(frame, faces[0])
    assert presence > 0.9
    return frame, faces[0], points


def _noisy_frames(frame: np.ndarray, seed: int, count: int = 5) -> list[np.ndarray]:
    """The photo with a few different draws of camera noise (cycled through)."""
    rng = np.random.default_rng(seed)
    return [np.clip(frame + rng.normal(0, 2.0, frame.shape), 0, 255).astype(np.uint8)
            for _ in range(count)]


def _run(tracker, photo_face, mesh, seconds, *, points_at=None, seed=0):
    """Show the still photo (with sensor noise) for ``seconds``; mesh run on every frame
    unless ``points_at(t)`` gives the points."""
    frame, face, _ = photo_face
    shots = _noisy_frames(frame, seed)
    verdicts = []
    for i in range(int(seconds * FPS)):
        t = i / FPS
        shot = shots[i % len(shots)]
        points = points_at(t) if points_at else mesh.landmarks(shot, face)[0]
        verdicts.append(tracker.update(shot, face, 100.0 + t, points))
    return verdicts


def test_off_lets_every_face_through_unchecked(photo_face):
    frame, face, _ = photo_face
    tracker = LivenessTracker("off")
    verdict = tracker.update(frame, face, 0.0)
    assert verdict.live and verdict.final and not verdict.checked
    assert "off" in verdict.reason.lower()


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError):
        LivenessTracker("sometimes")


def test_passive_refuses_a_still_photo_when_the_window_ends(photo_face, mesh):
    tracker = LivenessTracker(LivenessMode.PASSIVE, mesh=mesh)
    window = tracker.config.passive_window_s
    verdicts = _run(tracker, photo_face, mesh, window + 0.5)
    states = [v.state for v in verdicts]
    assert LivenessState.LIVE not in states
    final = verdicts[-1]
    assert final.state is LivenessState.SPOOF and final.timed_out
    assert final.elapsed_s == pytest.approx(window, abs=1 / FPS + 1e-6)
    assert "blink" in final.reason.lower() and "staff" in final.reason.lower()
    assert final.cues["blinks"] == 0
    assert 0.0 <= final.score < 0.5
    # before the end it asks the person to blink, once the hint delay has passed
    early = verdicts[int(FPS)]
    late = verdicts[int((tracker.config.prompt_after_s + 0.5) * FPS)]
    assert early.state is LivenessState.PENDING and early.prompt is None
    assert late.state is LivenessState.PENDING and "blink" in late.prompt.lower()


def test_a_decision_stays_until_reset_and_a_lost_face_starts_over(photo_face, mesh):
    frame, face, points = photo_face
    config = LivenessConfig(passive_window_s=2.0)
    tracker = LivenessTracker(LivenessMode.PASSIVE, mesh=mesh, config=config)
    verdicts = _run(tracker, photo_face, mesh, 2.5, points_at=lambda t: points)
    assert verdicts[-1].state is LivenessState.SPOOF
    assert tracker.update(frame, face, 200.0, points).state is LivenessState.SPOOF
    tracker.reset()
    fresh = tracker.update(frame, face, 201.0, points)
    assert fresh.state is LivenessState.PENDING and fresh.elapsed_s == 0.0

    # the face is missing for longer than lost_face_reset_s: the next sighting is a new try
    tracker.update(frame, face, 202.0, points)
    assert tracker.update(frame, None, 202.5).elapsed_s == pytest.approx(1.0)
    tracker.update(frame, None, 203.6)
    again = tracker.update(frame, face, 203.7, points)
    assert again.elapsed_s == 0.0


def test_a_face_that_jumps_is_another_attempt(photo_face, mesh):
    """A live blink must not be credited to a photo swapped in front of the camera."""
    from turnstile.vision.types import Face

    frame, face, points = photo_face
    tracker = LivenessTracker(LivenessMode.PASSIVE, mesh=mesh)
    for i in range(12):
        tracker.update(frame, face, i / FPS, points)
    assert tracker.verdict.elapsed_s == pytest.approx(11 / FPS)
    x, y, w, h = face.box
    elsewhere = Face(box=(x + 0.8 * w, y, w, h), landmarks=face.landmarks + [0.8 * w, 0],
                     score=face.score)
    moved = points + np.float32([0.8 * w, 0])
    assert tracker.update(frame, elsewhere, 12 / FPS, moved).elapsed_s == 0.0
    # a small, natural movement is the same face
    nearby = Face(box=(x + 0.85 * w, y, w, h), landmarks=elsewhere.landmarks, score=face.score)
    assert tracker.update(frame, nearby, 13 / FPS, moved).elapsed_s == pytest.approx(1 / FPS)


def _turning(points: np.ndarray, peak_shift: float, start_s: float, end_s: float):
    """Mesh points whose nose tip swings ``peak_shift`` of the cheek-to-cheek width towards
    the subject's left (image right) between start and end, and back."""
    p = points.astype(np.float64)
    axis = p[LEFT_EYE_OUTER] - p[RIGHT_EYE_OUTER]
    axis /= np.hypot(*axis)
    span = float((p[LEFT_CHEEK] - p[RIGHT_CHEEK]) @ axis)

    def at(t: float) -> np.ndarray:
        phase = np.clip((t - start_s) / (end_s - start_s), 0.0, 1.0)
        moved = points.copy()
        moved[NOSE_TIP] += (peak_shift * np.sin(np.pi * phase) * span * axis).astype(np.float32)
        return moved

    return at


def test_turn_challenge_is_answered_only_by_a_turn_to_the_asked_side(photo_face, mesh):
    _, _, points = photo_face
    base = nose_position(points)
    turn = _turning(points, 0.3, 1.0, 2.5)
    assert nose_position(turn(1.75)) == pytest.approx(base + 0.3, abs=0.01)

    left = LivenessTracker(LivenessMode.CHALLENGE, mesh=mesh,
                           config=LivenessConfig(challenges=(Challenge.TURN_LEFT,)))
    verdicts = _run(left, photo_face, mesh, 4.0, points_at=turn)
    assert verdicts[0].challenge is Challenge.TURN_LEFT
    assert verdicts[0].prompt == Challenge.TURN_LEFT.prompt
    assert verdicts[-1].state is LivenessState.LIVE
    assert "head turn" in verdicts[-1].reason
    assert verdicts[-1].elapsed_s > 2.0  # only once the head came back

    right = LivenessTracker(LivenessMode.CHALLENGE, mesh=mesh,
                            config=LivenessConfig(challenges=(Challenge.TURN_RIGHT,),
                                                  challenge_window_s=4.0))
    verdicts = _run(right, photo_face, mesh, 4.5, points_at=turn)
    assert LivenessState.LIVE not in [v.state for v in verdicts]
    assert verdicts[-1].state is LivenessState.SPOOF and verdicts[-1].timed_out
    assert "staff" in verdicts[-1].reason


def test_a_small_nose_wobble_is_not_a_turn(photo_face, mesh):
    _, _, points = photo_face
    tracker = LivenessTracker(LivenessMode.CHALLENGE, mesh=mesh,
                              config=LivenessConfig(challenges=(Challenge.TURN_LEFT,),
                                                    challenge_window_s=4.0))
    verdicts = _run(tracker, photo_face, mesh, 4.5, points_at=_turning(points, 0.1, 1.0, 2.5))
    assert verdicts[-1].state is LivenessState.SPOOF


def test_challenge_is_drawn_from_the_allowed_ones(photo_face, mesh):
    frame, face, points = photo_face
    seen = set()
    for seed in range(12):
        tracker = LivenessTracker(LivenessMode.CHALLENGE, mesh=mesh, rng=random.Random(seed))
        verdict = tracker.update(frame, face, 0.0, points)
        assert verdict.state is LivenessState.PENDING
        assert verdict.prompt == verdict.challenge.prompt
        seen.add(verdict.challenge)
    assert seen == set(Challenge)  # every kind is asked for, so a recording cannot prepare


def test_blink_challenge_refuses_a_still_photo(photo_face, mesh):
    tracker = LivenessTracker(LivenessMode.CHALLENGE, mesh=mesh,
                              config=LivenessConfig(challenges=(Challenge.BLINK,),
                                                    challenge_window_s=3.0))
    verdicts = _run(tracker, photo_face, mesh, 3.5)
    assert verdicts[0].prompt == "Please blink twice."
    assert verdicts[-1].state is LivenessState.SPOOF and verdicts[-1].timed_out


@pytest.mark.parametrize("kwargs", [{"passive_window_s": 1.0}, {"challenges": ()},
                                    {"challenge_window_s": 0.0}])
def test_nonsense_config_is_refused(kwargs):
    with pytest.raises(ValueError):
        LivenessConfig(**kwargs)
