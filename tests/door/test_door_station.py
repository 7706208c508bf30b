"""The station's per-frame work with real models on real faces, a real video file, a real
SQLite file and a door that records what it was told (headless: no Qt)."""

from __future__ import annotations

import pytest
from door_support import (
    Portrait,
    RecordingDoor,
    StationRig,
    empty_frames,
    enroll,
    passage_frames,
    two_people_frames,
    write_video,
)

from turnstile.door.station import load_face_crop
from turnstile.matching.door_policy import DoorState
from turnstile.storage import repositories as repo


@pytest.fixture
def recording_door() -> RecordingDoor:
    """A door that records every command."""
    return RecordingDoor()





def test_enrolled_person_opens_the_door_once_per_passage(ctx, pipeline, people, tmp_path,
                                                         recording_door):
    obama = enroll(ctx, people / "Barack_Obama" / "obama.jpg", "E1", "Barack Obama")
    probe = Portrait(people / "Barack_Obama" / "obama2.jpg")
    frames = (empty_frames(15) + passage_frames(probe, 75, seed=1) + empty_frames(60)
              + passage_frames(probe, 75, seed=2) + empty_frames(10))
    video = write_video(tmp_path / "two_passages.avi", frames)
    rig = StationRig(ctx, pipeline, recording_door, cooldown_s=1.0)
    reports, decisions = rig.play(video)
    events = rig.finish()

    assert [d.verdict for d in decisions] == ["granted", "granted"]
    assert all(d.employee_id == obama and d.name == "Barack Obama" for d in decisions)
    assert len({d.passage for d in decisions}) == 2
    assert recording_door.count("open") == 2
    seq = recording_door.opens_and_closes()
    assert seq[0] == "close" and seq[-2:] == ["close", "release"]
    assert [e[:2] for e in events] == [("granted", obama), ("granted", obama)]
    assert all(e.snapshot for e in events), "policy 'all' keeps a snapshot of each decision"
    # The decision came within K frames of the face's first usable frame.
    first_face = next(r.seq for r in reports if r.faces)
    assert decisions[0].seq - first_face < 10
    assert any(r.state is DoorState.GRANTED and r.name == "Barack Obama" for r in reports)
    assert load_face_crop(ctx.db, obama)[:2] == b"\xff\xd8"  # the banner's enrolled photo


def test_stranger_never_opens_and_is_logged_unknown(ctx, pipeline, people, tmp_path,
                                                   recording_door):
    enroll(ctx, people / "Barack_Obama" / "obama.jpg", "E1", "Barack Obama")
    biden = Portrait(people / "Joe_Biden" / "biden.jpg")
    video = write_video(tmp_path / "biden.avi", empty_frames(10) + passage_frames(biden, 90))
    rig = StationRig(ctx, pipeline, recording_door, policy="denied")
    reports, decisions = rig.play(video)
    events = rig.finish()
    assert recording_door.count("open") == 0
    assert [d.verdict for d in decisions] == ["unknown"]
    assert [e[:3] for e in events] == [("unknown", None, "not an enrolled person")]
    assert events[0].snapshot, "policy 'denied' keeps a snapshot of refusals"
    assert not any(f.label == "Barack Obama" for r in reports for f in r.faces)


def test_suspended_person_is_denied_with_the_reason(ctx, pipeline, people, tmp_path,
                                                   recording_door):
    obama = enroll(ctx, people / "Barack_Obama" / "obama.jpg", "E1", "Barack Obama")
    with ctx.db.session() as s:
        repo.set_employee_status(s, obama, "suspended")
    probe = Portrait(people / "Barack_Obama" / "obama3.jpg")
    video = write_video(tmp_path / "suspended.avi", passage_frames(probe, 60))
    rig = StationRig(ctx, pipeline, recording_door, policy="none")
    reports, decisions = rig.play(video)
    events = rig.finish()
    assert recording_door.count("open") == 0
    assert [(d.verdict, d.employee_id, d.reason) for d in decisions] == [
        ("denied", obama, "suspended")]
    assert [(e.decision, e.employee_id, e.reason, e.snapshot) for e in events] == [
        ("denied", obama, "suspended", None)]
    assert any(r.state is DoorState.DENIED and r.message == "suspended" for r in reports)


def test_camera_problem_closes_the_door_and_logs_an_error(ctx, pipeline, recording_door):
    rig = StationRig(ctx, pipeline, recording_door)
    assert recording_door.wait_for("close")
    decision = rig.station.camera_problem("camera lost")
    assert recording_door.wait_for("close", 2)
    events = rig.finish()
    assert decision.verdict == "error" and decision.reason == "camera lost"
    assert [e[:3] for e in events] == [("error", None, "camera lost")]


def test_no_decision_before_the_staff_list_is_loaded(ctx, pipeline, people, tmp_path,
                                                     recording_door):
    enroll(ctx, people / "Barack_Obama" / "obama.jpg", "E1", "Barack Obama")
    probe = Portrait(people / "Barack_Obama" / "obama2.jpg")
    video = write_video(tmp_path / "early.avi", passage_frames(probe, 30))
    rig = StationRig(ctx, pipeline, recording_door)
    rig.station.snapshot = None
    reports, decisions = rig.play(video)
    rig.finish()
    assert decisions == [] and recording_door.count("open") == 0
    assert reports[-1].faces and reports[-1].message.startswith("Starting")


@pytest.mark.parametrize("enrolled_in_front", [True, False])
def test_the_largest_face_decides(ctx, pipeline, people, tmp_path, recording_door,
                                  enrolled_in_front):
    obama_id = enroll(ctx, people / "Barack_Obama" / "obama.jpg", "E1", "Barack Obama")
    obama = Portrait(people / "Barack_Obama" / "obama2.jpg")
    biden = Portrait(people / "Joe_Biden" / "biden.jpg")
    near, far = (obama, biden) if enrolled_in_front else (biden, obama)
    video = write_video(tmp_path / "two.avi", two_people_frames(near, far, 60))
    rig = StationRig(ctx, pipeline, recording_door)
    reports, decisions = rig.play(video)
    rig.finish()
    assert sum(len(r.faces) == 2 for r in reports) > 40  # both people are seen
    if enrolled_in_front:
        assert [(d.verdict, d.employee_id) for d in decisions] == [("granted", obama_id)]
        assert recording_door.count("open") == 1
    else:
        # Obama is in view, but behind a stranger: the stranger decides.
        assert [d.verdict for d in decisions] == ["unknown"]
        assert recording_door.count("open") == 0


def test_settings_saved_mid_passage_keep_cooldowns_and_passage_numbers(ctx, pipeline, people,
                                                                      tmp_path, recording_door):
    """An admin saving the settings replaces the door's decision rules: the person just let
    in must not be let in (and logged) again within the cooldown, and the next person's
    passage must still open the door (the door opens once per passage number)."""
    from door_support import FPS

    from turnstile.matching.door_policy import DoorPolicy

    obama = enroll(ctx, people / "Barack_Obama" / "obama.jpg", "E1", "Barack Obama")
    biden = enroll(ctx, people / "Joe_Biden" / "biden.jpg", "E2", "Joe Biden")
    first = empty_frames(10) + passage_frames(Portrait(people / "Barack_Obama" / "obama2.jpg"),
                                              60, seed=1)
    then = (passage_frames(Portrait(people / "Barack_Obama" / "obama2.jpg"), 45, seed=2)
            + empty_frames(30)
            + passage_frames(Portrait(people / "Joe_Biden" / "biden.jpg"), 60, seed=3))
    rig = StationRig(ctx, pipeline, recording_door, cooldown_s=10.0)
    _, before = rig.play(write_video(tmp_path / "first.avi", first))
    rig.station.reconfigure(DoorPolicy(3, cooldown_s=10.0), None, False)  # settings saved
    _, after = rig.play(write_video(tmp_path / "then.avi", then), start_s=len(first) / FPS)
    rig.finish()

    decisions = before + after
    assert [(d.verdict, d.employee_id) for d in decisions] == [("granted", obama),
                                                               ("granted", biden)]
    assert decisions[1].passage > decisions[0].passage
    assert recording_door.count("open") == 2
