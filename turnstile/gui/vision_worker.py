"""The door's vision worker: one QObject moved to one QThread, owning the camera, its own
vision pipeline and a gallery snapshot. The GUI thread only paints what it sends.

* Frames: each processed frame is sent as an RGB ``QImage`` (RGB32), copied (a QImage
  over a numpy buffer dies with the buffer). At most :data:`MAX_FRAMES_IN_FLIGHT` wait for
  the GUI: when it is busy, newer frames replace older ones instead of queueing (the latest
  frame wins).
* Sequence numbers: every frame gets one, and every report and decision carries the number
  of the frame it came from (and the source generation), so the page can drop stale answers.
* Gallery: a new snapshot arrives through a queued signal and is swapped in between frames.
* Stopping: :meth:`VisionWorker.request_stop` sets a flag and queues the stop; the worker
  releases the camera on its own thread, then quits the thread; the page waits for it.
"""

from __future__ import annotations

import ctypes
import logging
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
from PySide6.QtCore import QObject, QThread, QTimer, Signal, SignalInstance, Slot
from PySide6.QtGui import QImage

from turnstile.capture import (
    Camera,
    CameraError,
    CameraState,
    CameraStatus,
    ReconnectingCamera,
    open_source,
)
from turnstile.door.commander import DoorCommander
from turnstile.door.liveness_gate import DoorLiveness
from turnstile.door.station import DoorStation
from turnstile.matching.door_policy import DoorPolicy, GallerySnapshot
from turnstile.services.access_log import EventWriter
from turnstile.vision.pipeline import FacePipeline

log = logging.getLogger(__name__)

MAX_FRAMES_IN_FLIGHT = 2
"""Preview frames sent but not yet taken by the GUI; beyond this, frames are not sent."""
PREVIEW_MAX_WIDTH = 960
"""Wider frames are scaled down before they are sent (the screen needs no more; a 1080p
QImage costs the GUI thread 6 MB a frame)."""
FPS_WINDOW = 30
"""Frames over which the frame rate is measured."""
ERROR_REPEAT_S = 10.0
"""The same processing error is reported at most this often."""


@dataclass(frozen=True)
class WorkerStats:
    """Figures for the status bar.

    Attributes:
        fps: frames processed (and shown) per second, over the last :data:`FPS_WINDOW`.
        process_ms: mean time to process a frame over the same window.
        frames: frames processed since start.
        previews_dropped: frames not sent to the screen because it was busy.
    """

    fps: float
    process_ms: float
    frames: int
    previews_dropped: int


# --- PySide6 6.12.0 work-around ----------------------------------------------------------------
# PySide6 6.12.0's SignalInstance.emit() (and .disconnect()) return Py_True without taking a
# reference for it: every emit takes one reference from True, and after a few thousand emits
# the interpreter aborts ("bool_dealloc: deallocating True or False"). 6.11.3 is fine. The door
# emits several signals a frame all day, so it checks once whether the installed PySide6 has
# the bug and, if so, gives the reference back after each of its emits (see emit()).


class _Probe(QObject):
    pinged = Signal()


def _emit_drops_true_references() -> bool:
    probe = _Probe()
    rounds = 32
    before = sys.getrefcount(True)
    for _ in range(rounds):
        probe.pinged.emit()
    lost = before - sys.getrefcount(True)
    if lost >= rounds * 3 // 4:
        for _ in range(lost):  # give back what the probe took
            ctypes.pythonapi.Py_IncRef(ctypes.py_object(True))
        return True
    return False


_EMIT_DROPS_TRUE = _emit_drops_true_references()
if _EMIT_DROPS_TRUE:
    log.warning("this PySide6 (%s) loses a reference to True on each signal emit; "
                "compensating. Install a PySide6 other than 6.12.0.",
                __import__("PySide6").__version__)


def emit(signal: SignalInstance, *args: object) -> None:
    """``signal.emit(*args)``, safe with PySide6 6.12.0 (see above)."""
    result = signal.emit(*args)
    if _EMIT_DROPS_TRUE and isinstance(result, bool):
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(result))


def to_qimage(frame_bgr: np.ndarray, max_width: int = PREVIEW_MAX_WIDTH) -> QImage:
    """A QImage that owns its pixels, from a BGR frame.

    The format is ``Format_RGB32`` (each pixel ``0xffRRGGBB``; in memory B, G, R, 255 on
    little-endian machines, which is what OpenCV's BGRA order gives): the raster engine
    paints it without converting, about 2.5x faster than RGB888 when scaling to the view.
    """
    height, width = frame_bgr.shape[:2]
    if width > max_width:
        scale = max_width / width
        frame_bgr = cv2.resize(frame_bgr, (max_width, max(1, round(height * scale))),
                               interpolation=cv2.INTER_AREA)
        height, width = frame_bgr.shape[:2]
    if sys.byteorder == "little":
        pixels = np.ascontiguousarray(cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2BGRA))
        image = QImage(pixels.data, width, height, 4 * width, QImage.Format.Format_RGB32)
    else:
        pixels = np.ascontiguousarray(cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB))
        image = QImage(pixels.data, width, height, 3 * width, QImage.Format.Format_RGB888)
    return image.copy()  # detach from the numpy buffer before it goes away


DOOR_EMBEDDER_THREADS = 1
"""The worker's embedder runs on one thread: on a 2-core machine a second interpreter thread
competes with the GUI thread and the capture and makes a frame slower, not faster
(``tests/bench/bench_pipeline.py``: 9.7 ms a frame with 1 thread, 15.2 ms with 2)."""


def default_pipeline() -> FacePipeline:
    """The door's own pipeline: the short-range detector, one embedder thread."""
    from turnstile.app import build_pipeline

    return build_pipeline("door", num_threads=DOOR_EMBEDDER_THREADS)


class VisionWorker(QObject):
    """Camera -> recognition -> door, on its own thread.

    Create it on the GUI thread, ``moveToThread(thread)``, connect ``thread.started`` to
    :meth:`start`, start the thread.

    Args:
        source: ``"demo"``, a device index, a video file or a stream URL.
        policy: the door policy (owned by the worker from now on).
        door: the door commander (shared; its requests never block).
        events: the access-log writer (shared; never blocks).
        pipeline_factory: builds the worker's own pipeline, on the worker thread.
        camera_factory: builds the camera for a source (default :func:`open_source`).
        liveness_factory: builds the door's liveness check on the worker thread (None, or a
            factory returning None: no liveness check).
        one_to_one: 1:1 mode (see :class:`~turnstile.door.station.DoorStation`); numbers
            arrive through :meth:`claim`.
        realtime: play files and the demo at their frame rate.
    """

    frame_ready = Signal(QImage, int)
    """A preview frame (RGB, owns its pixels) and its sequence number."""
    faces_found = Signal(object)
    """A :class:`~turnstile.door.station.FrameReport` for every processed frame."""
    decision_made = Signal(object)
    """A :class:`~turnstile.door.station.StationDecision` the station acted on."""
    error_occurred = Signal(str)
    """A plain-language problem (models missing, processing failed)."""
    camera_state_changed = Signal(object)
    """A :class:`~turnstile.capture.CameraStatus`."""
    stats_updated = Signal(object)
    """:class:`WorkerStats`, about twice a second."""
    pipeline_ready = Signal(str, int)
    """The worker's model id and embedding size, once its models are loaded."""
    stopped = Signal()

    _stop_requested = Signal()

    def __init__(self, source: str, policy: DoorPolicy, *, door: DoorCommander | None = None,
                 events: EventWriter | None = None,
                 pipeline_factory: Callable[[], FacePipeline] = default_pipeline,
                 camera_factory: Callable[[str], Camera] | None = None,
                 liveness_factory: Callable[[], DoorLiveness | None] | None = None,
                 one_to_one: bool = False, realtime: bool = True) -> None:
        super().__init__()
        self.one_to_one = one_to_one
        self.liveness_factory = liveness_factory
        self.source = source
        self.policy = policy
        self.door = door
        self.events = events
        self.pipeline_factory = pipeline_factory
        self.realtime = realtime
        self.camera_factory = camera_factory or (
            lambda s: open_source(s, realtime=self.realtime))
        self.station: DoorStation | None = None
        self.camera: ReconnectingCamera | None = None
        self._pending_snapshot: GallerySnapshot | None = None
        self._timer: QTimer | None = None
        self._stopping = threading.Event()
        self._in_flight = 0
        self._in_flight_lock = threading.Lock()
        self._seq = 0
        self._generation = 0
        self._frame_times: deque[float] = deque(maxlen=FPS_WINDOW)
        self._process_ms: deque[float] = deque(maxlen=FPS_WINDOW)
        self._frames = 0
        self._dropped = 0
        self._last_stats = 0.0
        self._last_error: tuple[str, float] = ("", 0.0)
        self._was_live = False
        self._reported_unavailable = False
        self._stop_requested.connect(self._finish)

    # -- any thread --------------------------------------------------------------------------
    def request_stop(self) -> None:
        """Ask the worker to stop (returns at once; wait for the thread to finish)."""
        self._stopping.set()
        emit(self._stop_requested)

    def frame_taken(self) -> None:
        """The GUI took a preview frame (call from the slot receiving ``frame_ready``)."""
        with self._in_flight_lock:
            self._in_flight = max(0, self._in_flight - 1)

    # -- worker thread -----------------------------------------------------------------------
    @Slot()
    def start(self) -> None:
        """Load the models, open the camera, start the frame loop (on the worker thread)."""
        if self._stopping.is_set():
            self._finish()
            return
        try:
            pipeline = self.pipeline_factory()
            liveness = self.liveness_factory() if self.liveness_factory is not None else None
        except Exception as exc:  # noqa: BLE001 (shown to the person, never a crash)
            log.exception("the door's vision models could not be loaded")
            emit(self.error_occurred, f"The face recognition models could not be loaded: {exc}")
            if self.door is not None:
                self.door.request_close("models missing")
            return
        if self._stopping.is_set():  # stopped while the models were loading
            self._finish()
            return
        self.station = DoorStation(pipeline, self.policy, door=self.door, events=self.events,
                                   snapshot=self._pending_snapshot, liveness=liveness,
                                   one_to_one=self.one_to_one)
        emit(self.pipeline_ready, pipeline.model_id, pipeline.embedder.dim)
        self._open_camera(self.source)
        self._timer = QTimer(self)
        self._timer.setInterval(0)  # as fast as frames come; read() waits for the camera
        self._timer.timeout.connect(self._tick)
        self._timer.start()

    @Slot(object, object, bool)
    def reconfigure(self, policy: DoorPolicy,
                    liveness_factory: Callable[[], DoorLiveness | None] | None,
                    one_to_one: bool) -> None:
        """New door settings (queued from the GUI thread): the decision policy, the liveness
        check and the 1:1 mode are swapped between two frames; the passage in progress
        starts afresh under the new rules."""
        self.policy = policy
        self.liveness_factory = liveness_factory
        self.one_to_one = one_to_one
        if self.station is None:
            return  # start() builds the station with these
        try:
            liveness = liveness_factory() if liveness_factory is not None else None
        except Exception as exc:  # noqa: BLE001 (shown; the door stays closed)
            log.exception("the liveness check could not be rebuilt")
            emit(self.error_occurred, f"The new door settings could not be applied (the "
                                      f"previous ones stay in force): {exc}")
            return
        self.station.reconfigure(policy, liveness, one_to_one)

    @Slot(str)
    def claim(self, number: str) -> None:
        """1:1 mode: an employee number was typed or a badge scanned (queued from the GUI)."""
        if self.station is None:
            emit(self.error_occurred, "The door is still starting; please scan again.")
            return
        decision = self.station.claim(number, time.monotonic())
        if decision is not None:
            emit(self.decision_made, decision)

    @Slot(object)
    def set_snapshot(self, snapshot: GallerySnapshot) -> None:
        """Swap in a new gallery snapshot (queued from the GUI thread)."""
        if self.station is None:
            self._pending_snapshot = snapshot
        else:
            self.station.set_snapshot(snapshot)

    @Slot(str)
    def set_source(self, source: str) -> None:
        """Switch to another camera, file or stream (queued from the GUI thread)."""
        if self._stopping.is_set():
            return
        self.source = source
        if self.station is None:
            return  # start() opens it
        if self.camera is not None:
            self.camera.release()
        if self.door is not None:
            self.door.request_close("camera changed")
        self.station.policy.reset()
        self._open_camera(source)

    def _open_camera(self, source: str) -> None:
        self._generation += 1
        if self.station is not None:
            self.station.source_generation = self._generation
        self._was_live = False
        self._reported_unavailable = False
        try:
            camera = self.camera_factory(source)
        except CameraError as exc:
            self.camera = None
            emit(self.camera_state_changed, CameraStatus(CameraState.UNAVAILABLE, str(exc)))
            self._camera_problem("camera unavailable")
            return
        self.camera = ReconnectingCamera(camera, on_status=self._on_camera_status)

    def _on_camera_status(self, status: CameraStatus) -> None:
        emit(self.camera_state_changed, status)
        if status.state is CameraState.LIVE:
            self._was_live = True
        elif status.state is CameraState.LOST and status.attempts == 1:
            self._camera_problem("camera lost")
        elif status.state is CameraState.UNAVAILABLE and not self._reported_unavailable:
            self._reported_unavailable = True
            self._camera_problem("camera unavailable")

    def _camera_problem(self, reason: str) -> None:
        if self.station is not None:
            decision = self.station.camera_problem(reason)
            emit(self.decision_made, decision)
        elif self.door is not None:
            self.door.request_close(reason)

    @Slot()
    def _tick(self) -> None:
        if self._stopping.is_set() or self.station is None:
            return
        if self.camera is None:
            QThread.msleep(100)  # nothing to read: do not spin
            return
        frame = self.camera.read()
        if frame is None or self._stopping.is_set():
            return
        self._seq += 1
        seq = self._seq
        try:
            report, decision = self.station.process(frame, seq)
        except Exception as exc:  # noqa: BLE001 (a bad frame must not stop the door)
            self._processing_error(exc)
            return
        emit(self.faces_found, report)
        if decision is not None:
            emit(self.decision_made, decision)
        with self._in_flight_lock:
            send = self._in_flight < MAX_FRAMES_IN_FLIGHT
            if send:
                self._in_flight += 1
        if send:
            emit(self.frame_ready, to_qimage(frame.image), seq)
        else:
            self._dropped += 1
        self._count(report.process_ms)

    def _count(self, process_ms: float) -> None:
        now = time.monotonic()
        self._frames += 1
        self._frame_times.append(now)
        self._process_ms.append(process_ms)
        if now - self._last_stats >= 0.5 and len(self._frame_times) >= 2:
            self._last_stats = now
            span = self._frame_times[-1] - self._frame_times[0]
            fps = (len(self._frame_times) - 1) / span if span > 0 else 0.0
            emit(self.stats_updated, WorkerStats(fps, float(np.mean(self._process_ms)),
                                                self._frames, self._dropped))

    def _processing_error(self, exc: Exception) -> None:
        log.exception("processing a door frame failed")
        if self.door is not None:
            self.door.request_close("processing error")
        message = f"A camera frame could not be processed ({type(exc).__name__}: {exc})."
        last, at = self._last_error
        now = time.monotonic()
        if message != last or now - at > ERROR_REPEAT_S:
            self._last_error = (message, now)
            emit(self.error_occurred, message)

    @Slot()
    def _finish(self) -> None:
        """Stop on the worker thread: timer, camera, then the thread's event loop."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        if self.camera is not None:
            self.camera.release()
            self.camera = None
        if self.station is not None:
            self.station.close()
        emit(self.stopped)
        thread = self.thread()
        if thread is not None and thread is QThread.currentThread():
            thread.quit()

    # -- figures (any thread; approximate) ---------------------------------------------------
    def source_description(self) -> str:
        """The camera as named to people ("camera 0", "video file door.avi")."""
        camera = self.camera
        if camera is not None:
            return camera.description
        if self.source.strip().lower() == "demo":
            return "demo video"
        from turnstile.capture.opencv_source import describe_source, parse_source

        return describe_source(parse_source(self.source))

    @property
    def frames_processed(self) -> int:
        return self._frames

    @property
    def previews_dropped(self) -> int:
        return self._dropped
