"""Liveness at the door, with real models, real video and a real SQLite file: a photo held up
to the camera is refused and logged as a spoof, repeated spoofs lock the identity out and
raise an alert, and a live person (a real selfie video that blinks) is let in."""

from __future__ import annotations

import threading
from datetime import UTC

import cv2
import pytest
from door_support import (
    FPS,
    Portrait,
    StationRig,
    empty_frames,
    enroll,
    passage_frames,
    write_video,
)

from turnstile.door.liveness_gate import build_door_liveness
from turnstile.matching.door_policy import DoorState


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


def test_face_mesh_run_ahead_on_its_own_thread_changes_no_verdict(ctx, pipeline, shared_data):
    """The door runs the face mesh on the liveness thread while it embeds the face: the
    passage must go exactly as when the tracker runs the mesh itself, frame by frame."""
    from turnstile import resources
    from turnstile.door.liveness_gate import DoorLiveness
    from turnstile.vision.landmarks import FaceMesh

    clip = shared_data / "video" / "selfie_blinks.mp4"
    capture = cv2.VideoCapture(str(clip))
    fps = capture.get(cv2.CAP_PROP_FPS) or FPS
    ok, first = capture.read()
    capture.release()
    assert ok
    enroll(ctx, first, "E7", "Selfie Person")
    runs = []
    threads: list[str] = []
    ahead_mesh = FaceMesh(resources.model_path(resources.FACE_MESH))
    landmarks = ahead_mesh.landmarks

    def recorded(*args):
        threads.append(threading.current_thread().name)
        return landmarks(*args)

    ahead_mesh.landmarks = recorded
    for mesh in (ahead_mesh, None):
        gate = DoorLiveness("passive", mesh=mesh)
        rig = StationRig(ctx, pipeline, cooldown_s=0.5, policy="denied", liveness=gate)
        reports, decisions = rig.play(clip, fps=fps)
        rig.finish()
        gate.close()
        runs.append(([(r.state, r.message, r.employee_id) for r in reports],
                     [(d.verdict, d.seq, d.employee_id) for d in decisions]))
    ahead, inline = runs
    assert threads and all(name.startswith("liveness") for name in threads)
    assert ahead[1] and ahead[1][0][0] == "granted"
    assert ahead == inline


def test_frames_ahead_count_only_for_the_identity_they_are_recognised_as(pipeline, shared_data):
    """The liveness thread feeds a fork of the attempt before the frame's identity is known:
    a frame recognised as nobody must not count (a live stranger's blink must not help an
    employee's photo), and a new identity starts afresh, exactly as when checked in turn."""
    from turnstile import resources
    from turnstile.door.liveness_gate import DoorLiveness
    from turnstile.vision.landmarks import FaceMesh

    capture = cv2.VideoCapture(str(shared_data / "video" / "selfie_blinks.mp4"))
    fps = capture.get(cv2.CAP_PROP_FPS) or FPS
    frames = []
    while len(frames) < 90:
        ok, frame = capture.read()
        assert ok
        frames.append(frame)
    capture.release()
    # who the station recognised in each frame: 7, then nobody (the clip's first blink, at
    # 0.6 s, falls there and must not count), then 7 again, then 8 (a new attempt)
    identity = [7] * 10 + [None] * 40 + [7] * 25 + [8] * 15
    ahead = DoorLiveness("passive", mesh=FaceMesh(resources.model_path(resources.FACE_MESH)))
    in_turn = DoorLiveness("passive")
    seen_ahead, seen_in_turn = [], []
    for i, (frame, who) in enumerate(zip(frames, identity)):
        t = i / fps
        face = pipeline.detect(frame)[0]
        ahead.prepare(frame, face, t)
        if who is not None:  # the station skips the check for a face recognised as nobody
            seen_ahead.append(ahead.check(frame, face, who, t))
            seen_in_turn.append(in_turn.check(frame, face, who, t))
    ahead.close()
    assert seen_ahead == seen_in_turn
    # counted, that blink would have let 7 in from frame 50 on
    assert [c.state for c in seen_ahead] == ["pending"] * 50


def test_a_restarted_station_keeps_the_lockout_from_the_access_log(ctx, pipeline, shared_data,
                                                                   tmp_path):
    """Two spoofs presenting an employee were logged a minute ago (lockout after 2, for 10
    min); the station is restarted: the employee's photo is refused at once as locked out,
    without waiting for the liveness check."""
    from datetime import timedelta

    from turnstile.storage import repositories as repo
    from turnstile.storage.models import utcnow

    people = shared_data / "people"
    obama = enroll(ctx, people / "Barack_Obama" / "obama.jpg", "E1", "Barack Obama")
    with ctx.db.session() as s:
        door = repo.get_or_create_door(s, "Main entrance")  # the rig's door
        for minutes in (3, 1):
            repo.add_event(s, door_id=door.id, decision="spoof", employee_id=obama,
                           at=utcnow() - timedelta(minutes=minutes), reason="a photo")
    rig = rig_for(ctx, pipeline, attempts=2, lockout_min=10.0)
    _, decisions = rig.play(write_video(
        tmp_path / "photo.avi",
        passage_frames(Portrait(people / "Barack_Obama" / "obama2.jpg"), 40, seed=5)))
    rig.finish()
    assert [(d.verdict, d.employee_id) for d in decisions] == [("denied", obama)]
    assert "locked out" in decisions[0].reason and "9 min left" in decisions[0].reason


def test_lockouts_rebuilt_from_the_log_follow_the_counting_rule():
    from datetime import datetime, timedelta

    from turnstile.door.liveness_gate import DoorLiveness

    now = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)

    def ago(minutes):
        return now - timedelta(minutes=minutes)

    history = [
        (ago(30), 1, "spoof"), (ago(29), 1, "spoof"),  # locked 29 min ago: over by now
        (ago(9), 2, "spoof"), (ago(8), 2, "granted"), (ago(7), 2, "spoof"),  # one in a row
        (ago(6), 3, "spoof"), (ago(4), 3, "spoof"),  # locked 4 min ago: 6 min left
        (ago(2), None, "spoof"),  # nobody presented: not counted
    ]
    gate = DoorLiveness("passive", max_attempts=2, lockout_s=600.0)
    assert gate.restore_from_log(history, now, 1000.0) == 1
    assert gate.refusal(1, 1000.0) is None
    assert gate.refusal(2, 1000.0) is None and gate.lockout.failures(2) == 1
    assert gate.lockout.remaining_s(3, 1000.0) == pytest.approx(360.0)
    assert gate.spoofed(2, 1001.0)  # the second in a row locks


def test_new_settings_do_not_lift_a_lockout(pipeline):
    import time

    from turnstile.door.liveness_gate import DoorLiveness
    from turnstile.door.station import DoorStation
    from turnstile.matching.door_policy import DoorPolicy

    before = DoorLiveness("passive", max_attempts=2, lockout_s=600.0)
    before.lockout.restore(7, 0, 300.0, time.monotonic())  # locked, 5 min left
    before.lockout.restore(8, 1, 0.0, time.monotonic())  # one spoof in a row
    station = DoorStation(pipeline, DoorPolicy(3), liveness=before)
    after = DoorLiveness("challenge", max_attempts=2, lockout_s=600.0)
    station.reconfigure(DoorPolicy(3), after, False)  # an admin saved the settings
    assert station.liveness is after
    assert "locked out" in (after.refusal(7, time.monotonic()) or "")
    assert after.lockout.failures(8) == 1
