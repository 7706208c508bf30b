"""Liveness at the door, with real models, real video and a real SQLite file: a photo held up
to the camera is refused and logged as a spoof, repeated spoofs lock the identity out and
raise an alert, and a live person (a real selfie video that blinks) is let in."""

from __future__ import annotations

import cv2
import pytest
from door_support import FPS, Portrait, StationRig, empty_frames, passage_frames, write_video

from turnstile.app import AppContext
from turnstile.config import Settings
from turnstile.door.liveness_gate import build_door_liveness
from turnstile.matching.door_policy import DoorState


@pytest.fixture
def ctx(tmp_path, photo_pipeline):
    context = AppContext(Settings(), database_url="sqlite:///" + str(tmp_path / "t.db"))
    context._photo_pipeline = photo_pipeline
    yield context
    context.close()


def enroll(ctx, photo, number, name):
    return ctx.enrollment.enroll(photo, employee_number=number, name=name, consent=True
                                 ).employee_id


def rig_for(ctx, pipeline, *, mode="passive", attempts=3, lockout_min=10.0):
    return StationRig(ctx, pipeline, cooldown_s=0.5, policy="denied",
                      liveness=build_door_liveness(mode, attempts, lockout_min))


def test_photo_of_an_employee_is_refused_as_a_spoof_with_its_snapshot(ctx, pipeline,
                                                                      shared_data, tmp_path):
    people = shared_data / "people"
    obama = enroll(ctx, people / "Barack_Obama" / "obama.jpg", "E1", "Barack Obama")
    # The employee's photo held up and moved about for 8 s (longer than the blink window).
    frames = (empty_frames(10) + passage_frames(Portrait(people / "Barack_Obama" / "obama2.jpg"),
                                                240, seed=3) + empty_frames(10))
    rig = rig_for(ctx, pipeline)
    reports, decisions = rig.play(write_video(tmp_path / "photo.avi", frames))
    events = rig.finish()

    assert [d.verdict for d in decisions] == ["spoof"]
    assert decisions[0].employee_id == obama  # the identity that was presented is logged
    assert rig.door.count("open") == 0
    assert [e[:2] for e in events] == [("spoof", obama)]
    assert events[0].reason and events[0].snapshot[:2] == b"\xff\xd8"  # a reason and the snapshot
    assert events[0].liveness_score is not None and events[0].liveness_score < 0.5
    # The name is never shown while liveness is unconfirmed, nor on the refusal.
    assert not any("Obama" in v.label for r in reports for v in r.faces)
    assert any(r.state is DoorState.SPOOF for r in reports)


def test_same_photo_with_liveness_off_opens_the_door(ctx, pipeline, shared_data, tmp_path):
    people = shared_data / "people"
    obama = enroll(ctx, people / "Barack_Obama" / "obama.jpg", "E1", "Barack Obama")
    frames = passage_frames(Portrait(people / "Barack_Obama" / "obama2.jpg"), 60, seed=3)
    rig = rig_for(ctx, pipeline, mode="off")
    _, decisions = rig.play(write_video(tmp_path / "photo.avi", frames))
    rig.finish()
    assert [(d.verdict, d.employee_id) for d in decisions] == [("granted", obama)]


def test_repeated_spoofs_lock_the_identity_out_and_raise_an_alert(ctx, pipeline, shared_data,
                                                                  tmp_path):
    people = shared_data / "people"
    obama = enroll(ctx, people / "Barack_Obama" / "obama.jpg", "E1", "Barack Obama")
    photo = Portrait(people / "Barack_Obama" / "obama2.jpg")
    frames = []
    for seed in range(3):  # three attempts, the photo taken away in between
        frames += passage_frames(photo, 230, seed=seed) + empty_frames(45, seed=seed)
    rig = rig_for(ctx, pipeline, attempts=2, lockout_min=10.0)
    _, decisions = rig.play(write_video(tmp_path / "attempts.avi", frames))
    events = rig.finish()

    verdicts = [d.verdict for d in decisions]
    assert verdicts[:2] == ["spoof", "spoof"]
    assert {d.employee_id for d in decisions} == {obama}  # the identity presented
    assert not decisions[0].alert and "locked out" in decisions[1].alert
    assert "Barack Obama" in decisions[1].alert  # the admin is told whose identity
    assert "locked out" in events[1].reason
    # The third attempt meets the lockout: denied without waiting for liveness.
    assert verdicts[2] == "denied" and "locked out" in decisions[2].reason
    assert rig.door.count("open") == 0


def test_live_person_blinking_is_let_in_within_three_seconds(ctx, pipeline, shared_data,
                                                              tmp_path):
    clip = shared_data / "video" / "selfie_blinks.mp4"
    capture = cv2.VideoCapture(str(clip))
    fps = capture.get(cv2.CAP_PROP_FPS) or FPS
    ok, first = capture.read()
    capture.release()
    assert ok
    person = enroll(ctx, first, "E7", "Selfie Person")
    rig = rig_for(ctx, pipeline)
    reports, decisions = rig.play(clip, fps=fps)
    events = rig.finish()

    assert decisions and decisions[0].verdict == "granted"
    assert decisions[0].employee_id == person
    first_face = next(r for r in reports if r.faces)
    seconds = (decisions[0].seq - first_face.seq) / fps
    print(f"live person let in {seconds:.2f} s after the face appeared")
    assert seconds <= 3.0
    assert events[0].decision == "granted" and events[0].liveness_score > 0.5
    assert rig.door.count("open") == 1
