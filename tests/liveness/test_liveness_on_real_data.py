"""The liveness check on real material from ``../shared/data`` (skipped, saying why, when the
folder is absent), run as the door runs it: the door's face detector, the face mesh, then the
tracker, frame by frame.

* the real selfie video of a live man is accepted within 3 s, in passive and blink-challenge
  mode;
* a printed photo of a person from ``people/`` and the ``spoof/`` photos of real print attacks,
  held by a shaking hand, are refused;
* the genuine video replayed on a hand-held phone is refused.

The attack streams are the evaluation's own (``turnstile eval liveness``, held-out split),
rebuilt by name, so a test failure names a stream anyone can rerun.
"""

from __future__ import annotations

import random

import cv2
import pytest

from turnstile.evaluation.liveness import make_stream, run_streams
from turnstile.vision.landmarks import MIN_PRESENCE
from turnstile.vision.liveness import (
    Challenge,
    LivenessConfig,
    LivenessMode,
    LivenessState,
    LivenessTracker,
)

GENUINE_BAR_S = 3.0


@pytest.fixture(scope="module")
def models():
    from turnstile import resources
    from turnstile.app import build_detector
    from turnstile.vision.landmarks import FaceMesh

    return build_detector("door"), FaceMesh(resources.model_path(resources.FACE_MESH))


def _watch_video(path, tracker, models, seconds):
    """Feed the raw video to a tracker; return the first final verdict (or the last one)."""
    detector, mesh = models
    cap = cv2.VideoCapture(str(path))
    fps = cap.get(cv2.CAP_PROP_FPS)
    verdict = tracker.verdict
    try:
        for index in range(int(seconds * fps)):
            ok, frame = cap.read()
            if not ok:
                break
            faces = detector.detect(frame)
            face = faces[0] if faces else None
            points = None
            if face is not None:
                points, presence = mesh.landmarks(frame, face)
                if presence < MIN_PRESENCE:
                    face, points = None, None
            verdict = tracker.update(frame, face, index / fps, points)
            if verdict.final:
                break
    finally:
        cap.release()
    return verdict


def test_the_real_selfie_video_is_accepted_within_3_s(shared_data, models):
    video = shared_data / "video" / "selfie_blinks.mp4"
    verdict = _watch_video(video, LivenessTracker(LivenessMode.PASSIVE), models, 4.0)
    assert verdict.state is LivenessState.LIVE, verdict.reason
    assert verdict.elapsed_s <= GENUINE_BAR_S
    assert verdict.cues["blinks"] >= 1
    assert verdict.score > 0.5


def test_the_real_selfie_video_answers_the_blink_challenge(shared_data, models):
    video = shared_data / "video" / "selfie_blinks.mp4"
    tracker = LivenessTracker(LivenessMode.CHALLENGE, rng=random.Random(0),
                              config=LivenessConfig(challenges=(Challenge.BLINK,)))
    verdict = _watch_video(video, tracker, models, 4.0)
    assert verdict.state is LivenessState.LIVE, verdict.reason
    assert verdict.challenge is Challenge.BLINK and verdict.cues["blinks"] >= 2
    assert verdict.elapsed_s <= GENUINE_BAR_S


ATTACKS = [
    "print/people/Joe_Biden/biden2.jpg",  # a printed photo, bent and shaken
    "real_print/print_attack_1.jpg/1",  # photos of real print attacks, shaken
    "real_print/print_attack_2.jpg/1",
    "replay/1",  # the genuine video on a hand-held phone
]


def test_print_photo_and_replay_attacks_are_refused(shared_data, models):
    detector, mesh = models
    streams = [make_stream(shared_data, name) for name in ATTACKS]
    results, _ = run_streams(streams, ["passive"], detector=detector, mesh=mesh)
    for result in results:
        assert result.state == LivenessState.SPOOF.value, (result.name, result.reason,
                                                           result.cues)
        assert result.decision_s is not None and result.decision_s <= 6.0 + 1e-6


def test_the_real_spoof_photos_are_upright_after_reading(shared_data, models):
    # the 640 x 480 spoof/ photos are stored sideways with an EXIF orientation tag: they
    # must reach the attack generator upright, or the door's detector never sees a face
    from turnstile.evaluation.attacks import load_photo

    detector, _ = models
    for name in ("print_attack_1.jpg", "screen_replay_attack_1.jpg", "genuine_1.jpg"):
        photo = load_photo(shared_data / "spoof" / name)
        assert photo.shape[:2] == (640, 480)
        assert detector.detect(photo), name
