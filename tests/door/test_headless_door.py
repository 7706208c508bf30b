"""The headless door (``turnstile door run``) on a real video file and a real SQLite file:
in 1:1 mode a badge number given on its input is verified against the face."""

from __future__ import annotations

from door_support import Portrait, RecordingDoor, empty_frames, passage_frames, write_video

from turnstile.app import AppContext
from turnstile.config import Settings
from turnstile.door.headless import HeadlessDoor
from turnstile.storage import repositories as repo


def test_one_to_one_headless_door_grants_the_badge_holder_only(tmp_path, photo_pipeline,
                                                              pipeline, shared_data):
    settings = Settings(liveness_mode="off", door_mode="verify", cooldown_s=0.5)
    ctx = AppContext(settings, database_url="sqlite:///" + str(tmp_path / "h.db"))
    ctx._photo_pipeline = photo_pipeline
    people = shared_data / "people"
    obama = ctx.enrollment.enroll(people / "Barack_Obama" / "obama.jpg", employee_number="E1",
                                  name="Barack Obama", consent=True).employee_id
    video = write_video(tmp_path / "door.avi", empty_frames(5) + passage_frames(
        Portrait(people / "Barack_Obama" / "obama2.jpg"), 60, seed=2))
    door = RecordingDoor()
    decisions = []
    station = HeadlessDoor(ctx, str(video), door_backend=door, realtime=False,
                           pipeline_factory=lambda: pipeline, on_decision=decisions.append)
    # Without a badge the same face is never let in.
    station.run()
    assert decisions == [] and door.count("open") == 0

    station = HeadlessDoor(ctx, str(video), door_backend=door, realtime=False,
                           pipeline_factory=lambda: pipeline, on_decision=decisions.append)
    station.claim("nobody-here")
    station.claim("E1")
    station.run()
    assert [(d.verdict, d.employee_id) for d in decisions] == [("unknown", None),
                                                              ("granted", obama)]
    assert door.count("open") == 1
    with ctx.db.session() as s:
        logged = [e.decision for e in repo.query_events(s, None, newest_first=False)]
    assert logged == ["unknown", "granted"]
    ctx.close()
