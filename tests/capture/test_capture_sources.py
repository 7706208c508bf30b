"""Capture over real video through OpenCV: files (real time, late frames dropped, the end),
an HTTP stream from a local server, missing devices; reconnection with backoff; the demo."""

from __future__ import annotations

import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np
import pytest

from turnstile.capture import (
    Backoff,
    CameraError,
    CameraLost,
    CameraState,
    CameraUnavailable,
    CapturedFrame,
    ReconnectingCamera,
    open_source,
)
from turnstile.capture.demo import DemoCamera
from turnstile.capture.opencv_source import OpenCVCamera, describe_source, parse_source

FPS = 30.0


def level_frame(i: int) -> np.ndarray:
    """A frame whose grey level encodes its number (survives MJPG compression)."""
    return np.full((120, 160, 3), (i * 8) % 250, np.uint8)


def level_of(frame: CapturedFrame) -> int:
    return int(round(float(frame.image.mean()) / 8))


@pytest.fixture
def clip(tmp_path):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (160, 120))
    for i in range(30):
        writer.write(level_frame(i))
    writer.release()
    return path


def read_all(camera, limit: int = 1000) -> tuple[list[CapturedFrame], Exception | None]:
    frames = []
    for _ in range(limit):
        try:
            frame = camera.read()
        except CameraError as exc:
            return frames, exc
        if frame is not None:
            frames.append(frame)
    return frames, None


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_parse_and_describe_sources():
    assert parse_source("0") == 0 and parse_source(" 2 ") == 2
    assert parse_source("/videos/door.avi") == "/videos/door.avi"
    assert describe_source(0) == "camera 0"
    assert describe_source("/videos/door.avi") == "video file door.avi"
    # Credentials in a stream address are never shown.
    assert describe_source("rtsp://admin:hunter2@10.0.0.9:554/live") == \
        "stream rtsp://10.0.0.9:554/live"


def test_file_is_read_in_order_at_its_frame_rate(clip):
    camera = OpenCVCamera(str(clip))
    camera.open()
    assert camera.nominal_fps == pytest.approx(FPS)
    frames, end = read_all(camera)
    camera.release()
    assert isinstance(end, CameraLost) and "ended" in str(end)
    indices = [f.index for f in frames]
    assert indices == sorted(indices) and indices[0] == 0
    # Each frame is stamped with the time a camera would have delivered it.
    gaps = np.diff([f.t_capture for f in frames]) / np.diff(indices)
    assert np.allclose(gaps, 1 / FPS, atol=1e-6)
    assert [level_of(f) for f in frames] == [i % 31 for i in indices]


def test_a_slow_reader_gets_the_latest_frame_not_a_backlog(clip):
    clock = FakeClock()
    camera = OpenCVCamera(str(clip), clock=clock)
    camera.open()
    first = camera.read()
    clock.now += 0.5  # the reader was busy for half a second (15 frames)
    after = camera.read()
    camera.release()
    assert first.index == 0
    assert after.index >= 15, "frames that are already late must be skipped"
    assert level_of(after) == after.index


def test_fast_mode_reads_every_frame(clip):
    camera = open_source(str(clip), realtime=False)
    camera.open()
    frames, end = read_all(camera)
    assert [f.index for f in frames] == list(range(30)) and isinstance(end, CameraLost)


def test_missing_file_is_unavailable_with_its_name(tmp_path):
    camera = OpenCVCamera(str(tmp_path / "nope.avi"))
    with pytest.raises(CameraUnavailable, match="nope.avi"):
        camera.open()


def test_not_a_video_file_is_unavailable(tmp_path):
    bad = tmp_path / "notes.avi"
    bad.write_text("not a video")
    with pytest.raises(CameraUnavailable, match="cannot be read as a video"):
        OpenCVCamera(str(bad)).open()


def test_missing_webcam_is_unavailable_in_plain_words():
    with pytest.raises(CameraUnavailable, match="No camera was found at index 97"):
        OpenCVCamera(97).open()


def test_empty_source_is_refused():
    with pytest.raises(CameraUnavailable, match="No camera is set"):
        open_source("  ")


def test_http_stream_is_read_live_then_lost_when_it_ends(clip):
    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    handler = partial(Quiet, directory=str(clip.parent))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{clip.name}"
        camera = OpenCVCamera(url, stall_timeout_s=0.5)
        assert camera.kind == "stream"
        camera.open()
        frames, end = read_all(camera)
        camera.release()
    finally:
        server.shutdown()
        server.server_close()
    assert frames, "no frame came through the HTTP stream"
    assert [f.index for f in frames] == sorted({f.index for f in frames})
    assert isinstance(end, CameraLost) and "stopped sending pictures" in str(end)


# --- reconnecting ---------------------------------------------------------------------------


def test_file_that_ends_is_lost_then_reopened(clip):
    statuses = []
    camera = ReconnectingCamera(OpenCVCamera(str(clip), realtime=False),
                                backoff=Backoff(first_s=0.01), on_status=statuses.append)
    frames = []
    for _ in range(2000):
        frame = camera.read()
        if frame is not None:
            frames.append(frame)
        if camera.reconnects == 1 and len(frames) > 35:
            break
    camera.release()
    states = [s.state for s in statuses]
    assert states[:3] == [CameraState.LIVE, CameraState.LOST, CameraState.LIVE]
    assert statuses[1].message and "ended" in statuses[1].message
    assert states[-1] is CameraState.STOPPED
    assert camera.reconnects == 1 and len(frames) > 35


class FlakyCamera:
    """Fails to open ``failures`` times, then works (a camera being plugged in)."""

    description = "camera 0"
    nominal_fps = 30.0

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.opened = 0

    def open(self) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise CameraUnavailable("No camera was found at index 0.")
        self.opened += 1

    def read(self) -> CapturedFrame:
        return CapturedFrame(level_frame(1), 0, 0.0)

    def release(self) -> None:
        pass


def test_backoff_doubles_up_to_the_limit_then_the_camera_comes_back():
    clock = FakeClock()
    statuses = []
    flaky = FlakyCamera(failures=5)
    camera = ReconnectingCamera(flaky, backoff=Backoff(first_s=0.5, max_s=4.0), clock=clock,
                                on_status=statuses.append)
    assert camera.read() is None  # first attempt fails
    for _ in range(20):
        clock.now = camera._retry_at  # jump to the next attempt
        camera.read()
    delays = [s.retry_in_s for s in statuses if s.state is CameraState.UNAVAILABLE]
    assert delays == [0.5, 1.0, 2.0, 4.0, 4.0]
    assert statuses[-1].state is CameraState.LIVE and flaky.opened == 1
    assert camera.read() is not None


def test_no_attempt_before_the_backoff_is_over():
    clock = FakeClock()
    flaky = FlakyCamera(failures=100)
    camera = ReconnectingCamera(flaky, backoff=Backoff(first_s=10.0), clock=clock)
    camera.read()
    left = flaky.failures
    for _ in range(3):
        camera.read()  # each waits at most POLL_S and does not retry yet
    assert flaky.failures == left


# --- demo -----------------------------------------------------------------------------------


def test_demo_has_an_empty_hall_then_a_person(pipeline):
    demo = DemoCamera(realtime=False)
    assert demo.has_face, "the demo face (assets/demo_face.jpg) is missing"
    assert demo.placement(1.0) is None and demo.placement(5.0) is not None
    empty = pipeline.detect(demo.render(1.0))
    standing = pipeline.detect(demo.render(5.0))
    assert empty == [] and len(standing) == 1
    assert 110 < standing[0].box[2] < 200  # close enough to decide on


def test_demo_streams_at_30_fps():
    demo = open_source("demo")
    assert isinstance(demo, DemoCamera) and demo.nominal_fps == 30.0
    demo.open()
    a, b = demo.read(), demo.read()
    demo.release()
    assert a.image.shape == (480, 640, 3) and a.image.dtype == np.uint8
    assert b.index == a.index + 1 and b.t_capture - a.t_capture == pytest.approx(1 / 30)
    with pytest.raises(CameraLost):
        demo.read()
