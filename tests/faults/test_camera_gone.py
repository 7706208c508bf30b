"""The camera goes away and comes back: here a video file source that ends and then
disappears (a network share dropped, a USB stick pulled) and reappears. The station reports
the camera lost, locks the door and logs it once, keeps trying with backoff (the message
names the missing file), and when the file is back it reconnects and recognises people
again. Real vision worker on its QThread, real station, real video."""

from __future__ import annotations

from door_support import Portrait, RecordingDoor, empty_frames, passage_frames, write_video
from PySide6.QtCore import QObject, QThread, Signal

from turnstile.capture import CameraState
from turnstile.capture.opencv_source import OpenCVCamera
from turnstile.door import DoorCommander
from turnstile.door.station import load_snapshot
from turnstile.gui.vision_worker import VisionWorker, emit
from turnstile.matching.door_policy import DoorPolicy
from turnstile.services.access_log import EventWriter
from turnstile.storage import repositories as repo


class Feeder(QObject):
    snapshot = Signal(object)


def test_camera_file_gone_and_back(qtbot, tmp_path, make_ctx, pipeline, people):
    ctx = make_ctx(f"sqlite:///{tmp_path / 't.db'}")
    obama = ctx.enrollment.enroll(people / "Barack_Obama" / "obama.jpg", employee_number="E1",
                                  name="Barack Obama", consent=True).employee_id
    video = write_video(tmp_path / "door.avi", empty_frames(10) + passage_frames(
        Portrait(people / "Barack_Obama" / "obama1.jpg"), 30) + empty_frames(10))
    away = tmp_path / "away.avi"
    door = RecordingDoor()
    commander = DoorCommander(door, unlock_ms=200)
    commander.start()
    events = EventWriter(ctx.db, "Main entrance", "none", spool_path=tmp_path / "s.jsonl")
    events.start()
    worker = VisionWorker(str(video), DoorPolicy(3, cooldown_s=0.5), door=commander,
                          events=events, pipeline_factory=lambda: pipeline,
                          camera_factory=lambda s: OpenCVCamera(s, realtime=False))
    thread = QThread()
    worker.moveToThread(thread)
    thread.started.connect(worker.start)
    feeder = Feeder()
    feeder.snapshot.connect(worker.set_snapshot)
    emit(feeder.snapshot, load_snapshot(ctx.db, pipeline.model_id, pipeline.embedder.dim,
                                        ctx.thresholds()))
    statuses, decisions = [], []
    worker.decision_made.connect(decisions.append)

    def on_status(status):
        statuses.append(status)
        if status.state is CameraState.LOST and status.attempts == 1 and video.exists():
            video.rename(away)  # gone before the first attempt to reopen it (0.5 s later)

    worker.camera_state_changed.connect(on_status)
    worker.frame_ready.connect(lambda image, seq: worker.frame_taken())
    thread.start()
    try:
        qtbot.waitUntil(lambda: any(s.state is CameraState.LOST and s.attempts >= 2
                                    for s in statuses), timeout=30_000)
        opens_while_gone = door.count("open")
        lost = [s for s in statuses if s.state is CameraState.LOST]
        assert "ended" in lost[0].message
        assert "does not exist" in lost[1].message and "door.avi" in lost[1].message
        away.rename(video)  # back
        qtbot.waitUntil(lambda: sum(d.verdict == "granted" for d in decisions) >= 2,
                        timeout=30_000)
    finally:
        with qtbot.waitSignal(thread.finished, timeout=10_000):
            worker.request_stop()
        thread.wait()
        commander.shutdown()
        assert events.flush(10)
        events.close()
    states = [s.state for s in statuses]
    assert states[0] is CameraState.LIVE and CameraState.LOST in states
    assert states.index(CameraState.LIVE, states.index(CameraState.LOST)) > 0  # reconnected
    # Granted once before the loss and once after the reconnection; never while it was gone.
    assert opens_while_gone == 1
    assert door.count("open") == 2
    assert door.commands[-2:] == ["close", "release"]
    errors = [d for d in decisions if d.verdict == "error"]
    assert [d.reason for d in errors][:1] == ["camera lost"]
    with ctx.db.session() as s:
        logged = [(e.decision, e.employee_id, e.reason)
                  for e in sorted(repo.query_events(s, None), key=lambda e: e.id)]
    assert logged[:3] == [("granted", obama, None), ("error", None, "camera lost"),
                          ("granted", obama, None)]
