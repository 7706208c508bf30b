"""The real vision worker on its QThread, over real video files made from real face photos,
with a recording door and a real SQLite file. Awaited with signals, never with sleeps."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QObject, QThread, Signal
from PySide6.QtGui import QColor

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "door"))

from door_support import (  # noqa: E402
    Portrait,
    RecordingDoor,
    empty_frames,
    passage_frames,
    write_video,
)

from turnstile.capture import CameraLost, CameraState, CameraUnavailable  # noqa: E402
from turnstile.capture.opencv_source import OpenCVCamera  # noqa: E402
from turnstile.door import DoorCommander  # noqa: E402
from turnstile.door.station import load_snapshot  # noqa: E402
from turnstile.gui.vision_worker import MAX_FRAMES_IN_FLIGHT, VisionWorker, emit  # noqa: E402
from turnstile.matching.door_policy import DoorPolicy  # noqa: E402
from turnstile.services.access_log import EventWriter  # noqa: E402
from turnstile.storage import repositories as repo  # noqa: E402


@pytest.fixture
def ctx(models_ctx):
    return models_ctx


class Feeder(QObject):
    """Sends a gallery snapshot to the worker the way the page does: a queued signal."""

    snapshot = Signal(object)


class Rig:
    def __init__(self, qtbot, ctx, pipeline, source, *, camera_factory=None, enrolled=True):
        self.qtbot, self.ctx = qtbot, ctx
        self.door = RecordingDoor()
        self.commander = DoorCommander(self.door, unlock_ms=200)
        self.events = EventWriter(ctx.db, "Main entrance", "all")
        self.commander.start()
        self.events.start()
        kwargs = {"camera_factory": camera_factory} if camera_factory else {}
        self.worker = VisionWorker(str(source), DoorPolicy(3, cooldown_s=5.0),
                                   door=self.commander, events=self.events,
                                   pipeline_factory=lambda: pipeline, **kwargs)
        self.thread = QThread()
        self.worker.moveToThread(self.thread)
        self.thread.started.connect(self.worker.start)
        self.feeder = Feeder()
        self.feeder.snapshot.connect(self.worker.set_snapshot)
        self.decisions, self.statuses, self.reports, self.frames = [], [], [], []
        self.worker.decision_made.connect(self.decisions.append)
        self.worker.camera_state_changed.connect(self.statuses.append)
        self.worker.faces_found.connect(self.reports.append)
        self.worker.frame_ready.connect(self._frame)
        self.ack = True
        if enrolled:
            emit(self.feeder.snapshot, load_snapshot(ctx.db, pipeline.model_id,
                                                     pipeline.embedder.dim, ctx.thresholds()))

    def _frame(self, image, seq):
        self.frames.append((image, seq))
        if self.ack:
            self.worker.frame_taken()

    def start(self):
        self.thread.start()

    def stop(self):
        with self.qtbot.waitSignal(self.thread.finished, timeout=10_000):
            self.worker.request_stop()
        self.thread.wait()
        self.commander.shutdown()
        assert self.events.flush(10)
        self.events.close()

    def logged(self):
        with self.ctx.db.session() as s:
            return [(e.decision, e.employee_id, e.reason, repo.get_event_snapshot(s, e.id))
                    for e in repo.query_events(s, None, newest_first=False)]


def enroll(ctx, photo, number, name):
    return ctx.enrollment.enroll(photo, employee_number=number, name=name, consent=True
                                 ).employee_id


def test_worker_grants_once_then_reports_the_file_ending(qtbot, ctx, pipeline, shared_data,
                                                        tmp_path):
    people = shared_data / "people"
    obama = enroll(ctx, people / "Barack_Obama" / "obama.jpg", "E1", "Barack Obama")
    video = write_video(tmp_path / "door.avi", empty_frames(15) + passage_frames(
        Portrait(people / "Barack_Obama" / "obama1.jpg"), 75) + empty_frames(15))
    rig = Rig(qtbot, ctx, pipeline, video)
    rig.start()
    with qtbot.waitSignal(rig.worker.decision_made, timeout=15_000,
                          check_params_cb=lambda d: d.verdict == "granted"):
        pass
    # The file ends: camera lost, door told to close, event logged, and it is reopened.
    with qtbot.waitSignal(rig.worker.camera_state_changed, timeout=15_000,
                          check_params_cb=lambda s: s.state is CameraState.LOST):
        pass
    with qtbot.waitSignal(rig.worker.camera_state_changed, timeout=15_000,
                          check_params_cb=lambda s: s.state is CameraState.LIVE):
        pass
    rig.stop()

    granted = [d for d in rig.decisions if d.verdict == "granted"]
    assert [(d.employee_id, d.name) for d in granted] == [(obama, "Barack Obama")]
    assert rig.door.count("open") == 1
    i = rig.door.commands.index("open")
    assert rig.door.commands[0] == "close" and "close" in rig.door.commands[i + 1:]
    assert rig.door.commands[-2:] == ["close", "release"]
    logged = rig.logged()
    assert logged[0][:2] == ("granted", obama) and logged[0][3] is not None
    assert ("error", None, "camera lost") in [e[:3] for e in logged]
    errors = [d for d in rig.decisions if d.verdict == "error"]
    assert errors and errors[0].reason == "camera lost"
    # Sequence numbers only grow; every report names the frame it came from.
    seqs = [r.seq for r in rig.reports]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert granted[0].seq in seqs


def test_frames_are_rgb_copies_and_the_latest_frame_wins(qtbot, ctx, pipeline, tmp_path):
    red_bgr = np.zeros((480, 640, 3), np.uint8)
    red_bgr[:, :, 2] = 220  # red in BGR
    video = write_video(tmp_path / "red.avi", [red_bgr] * 60)
    rig = Rig(qtbot, ctx, pipeline, video, enrolled=False)
    rig.ack = False  # a GUI that never gets round to taking the frames
    rig.start()
    qtbot.waitUntil(lambda: len(rig.reports) >= 20, timeout=15_000)
    rig.stop()
    assert len(rig.frames) == MAX_FRAMES_IN_FLIGHT  # the rest were dropped, not queued
    assert rig.worker.previews_dropped >= 18
    image, _ = rig.frames[0]
    del red_bgr
    pixel = QColor(image.pixel(320, 240))
    assert pixel.red() > 180 and pixel.blue() < 40  # built from RGB, owns its pixels


class FlakyDevice:
    """A "webcam" over a real video file that is unplugged after ``frames_before_loss``
    frames and stays away for ``absent_attempts`` attempts to reopen it."""

    description = "camera 0"

    def __init__(self, path, frames_before_loss: int, absent_attempts: int) -> None:
        self.inner = OpenCVCamera(str(path))
        self.left = frames_before_loss
        self.absent = absent_attempts
        self.unplugged = False
        self.release_threads: list = []

    @property
    def nominal_fps(self):
        return self.inner.nominal_fps

    def open(self):
        if self.unplugged and self.absent > 0:
            self.absent -= 1
            raise CameraUnavailable("No camera was found at index 0.")
        self.inner.open()

    def read(self):
        if self.left <= 0 and not self.unplugged:
            self.unplugged = True
            raise CameraLost("The camera 0 stopped sending pictures.")
        self.left -= 1
        return self.inner.read()

    def release(self):
        self.release_threads.append(QThread.currentThread())
        self.inner.release()


def test_device_that_disappears_closes_the_door_and_is_retried(qtbot, ctx, pipeline,
                                                               tmp_path):
    video = write_video(tmp_path / "wall.avi", empty_frames(300))
    device = FlakyDevice(video, frames_before_loss=10, absent_attempts=2)
    rig = Rig(qtbot, ctx, pipeline, "0", camera_factory=lambda s: device, enrolled=False)
    rig.start()
    qtbot.waitUntil(lambda: rig.worker.camera is not None
                    and rig.worker.camera.reconnects == 1, timeout=20_000)
    worker_thread = rig.thread
    rig.stop()
    states = [(s.state, s.attempts) for s in rig.statuses]
    assert states[:4] == [(CameraState.LIVE, 0), (CameraState.LOST, 1), (CameraState.LOST, 2),
                          (CameraState.LOST, 3)]
    assert (CameraState.LIVE, 0) in states[4:]
    assert rig.door.commands[-2:] == ["close", "release"]
    assert rig.door.count("close") >= 3  # start, camera lost, exit
    assert [e[:3] for e in rig.logged()] == [("error", None, "camera lost")]
    # The camera is released on the worker's own thread.
    assert device.release_threads and all(t is worker_thread for t in device.release_threads)


def test_unknown_source_file_reports_unavailable_and_logs_once(qtbot, ctx, pipeline,
                                                               tmp_path):
    rig = Rig(qtbot, ctx, pipeline, tmp_path / "missing.avi", enrolled=False)
    with qtbot.waitSignal(rig.worker.camera_state_changed, timeout=10_000,
                          check_params_cb=lambda s: s.state is CameraState.UNAVAILABLE):
        rig.start()
    qtbot.waitUntil(lambda: sum(s.state is CameraState.UNAVAILABLE for s in rig.statuses)
                    >= 3, timeout=10_000)
    rig.stop()
    assert "missing.avi" in rig.statuses[0].message
    assert [e[:3] for e in rig.logged()] == [("error", None, "camera unavailable")]
    assert rig.door.count("open") == 0


def test_switching_source_starts_a_new_generation(qtbot, ctx, pipeline, tmp_path):
    a = write_video(tmp_path / "a.avi", empty_frames(200))
    b = write_video(tmp_path / "b.avi", empty_frames(200, seed=5))

    class Switcher(QObject):
        source = Signal(str)

    rig = Rig(qtbot, ctx, pipeline, a, enrolled=False)
    switcher = Switcher()
    switcher.source.connect(rig.worker.set_source)
    rig.start()
    qtbot.waitUntil(lambda: len(rig.reports) >= 5, timeout=10_000)
    emit(switcher.source, str(b))
    qtbot.waitUntil(lambda: rig.reports[-1].source_generation == 2, timeout=10_000)
    rig.stop()
    assert rig.worker.source_description() == "video file b.avi"
    generations = [r.source_generation for r in rig.reports]
    assert generations == sorted(generations) and generations[0] == 1


def test_emitting_all_day_does_not_wear_out_true(qtbot):
    """PySide6 6.12.0 loses a reference to True on every emit; the worker's emit() gives it
    back, so a door emitting ~100 signals a second does not abort after half a minute."""

    class Source(QObject):
        ping = Signal(object)

    source = Source()
    got = []
    source.ping.connect(got.append)
    before = sys.getrefcount(True)
    for i in range(5000):
        emit(source.ping, i)
    assert len(got) == 5000
    assert abs(sys.getrefcount(True) - before) < 50
