"""The Enroll page's camera: live preview with face boxes and plain advice, on its own thread.

:class:`EnrollCameraWorker` is a QObject moved to a QThread. It owns the camera (a
:class:`turnstile.capture.Camera`: webcam, video file, stream or the demo) and a fast (door)
face detector, reads frames, finds faces, measures the quality of the largest
one, and emits the frame with :class:`LiveFeedback`. The latest frame wins: while the page has
not painted the previous frame, new ones are not sent. It stops cooperatively (a flag checked
between frames; the capture is released on the worker's thread).

The advice itself (:func:`live_feedback`) is plain Python, tested without a camera.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot
from PySide6.QtGui import QImage

from turnstile.capture import Camera, CameraError, CameraLost, CameraUnavailable, open_source
from turnstile.gui.widgets_common import bgr_to_qimage
from turnstile.vision.quality import Problem, Quality, assess
from turnstile.vision.types import Face

log = logging.getLogger(__name__)

SHORT_ADVICE = {
    Problem.TOO_SMALL: "Move closer",
    Problem.BLURRED: "Hold still",
    Problem.TURNED: "Look at the camera",
    Problem.TILTED: "Look at the camera",
    Problem.TOO_DARK: "Too dark: add light in front of the face",
    Problem.TOO_BRIGHT: "Too bright: avoid glare on the face",
    Problem.LOW_CONTRAST: "Improve the lighting",
}
"""What the preview says for each quality problem (the Enroll form shows the full advice)."""
NO_FACE = "No face in view: stand in front of the camera"
SEVERAL_FACES = "One person at a time"
READY = "Good: take the photo"


@dataclass
class LiveFeedback:
    """What the preview shows for one frame.

    Attributes:
        boxes: face boxes ``(x, y, w, h)`` in frame pixels, largest first.
        ok: whether each face passes the quality gates (only the largest is measured).
        hint: the short advice for the person in front of the camera.
        ready: a photo taken now would be accepted (one good face).
        problems: the quality problems of the largest face.
    """

    boxes: list[tuple[float, float, float, float]] = field(default_factory=list)
    ok: list[bool] = field(default_factory=list)
    hint: str = NO_FACE
    ready: bool = False
    problems: list[Problem] = field(default_factory=list)


def live_feedback(faces: list[Face], quality: Quality | None) -> LiveFeedback:
    """Advice for the live preview, from the faces found and the largest face's quality.

    Args:
        faces: faces in the frame, largest first.
        quality: the quality of ``faces[0]`` (None when there is no face).
    """
    boxes = [tuple(float(v) for v in f.box) for f in faces]
    if not faces:
        return LiveFeedback()
    problems = list(quality.problems) if quality is not None else []
    ok = [not problems] + [False] * (len(faces) - 1)
    if len(faces) > 1:
        return LiveFeedback(boxes, ok, SEVERAL_FACES, False, problems)  # type: ignore[arg-type]
    if problems:
        # The most useful advice first: distance, then pose, then light, then blur.
        order = [Problem.TOO_SMALL, Problem.TURNED, Problem.TILTED, Problem.TOO_DARK,
                 Problem.TOO_BRIGHT, Problem.LOW_CONTRAST, Problem.BLURRED]
        first = min(problems, key=order.index)
        return LiveFeedback(boxes, ok, SHORT_ADVICE[first], False, problems)  # type: ignore[arg-type]
    return LiveFeedback(boxes, ok, READY, True, problems)  # type: ignore[arg-type]


class EnrollCameraWorker(QObject):
    """Reads the camera on its own thread and reports frames with live advice.

    Signals:
        frame_ready(QImage, LiveFeedback): a frame to show (RGB copy).
        error_occurred(str): the camera cannot be opened or was lost (plain words).
        stopped(): the loop ended and the camera is released.

    Args:
        source: the camera setting (device index, video file, stream URL or ``demo``).
        detector: a face detector with ``detect(frame) -> list[Face]`` (built on the
            worker thread when None: the fast door detector).
    """

    frame_ready = Signal(QImage, object)
    error_occurred = Signal(str)
    stopped = Signal()

    def __init__(self, source: str, detector: object | None = None) -> None:
        super().__init__()
        self.source = source
        self._detector = detector
        self._stop = threading.Event()
        self._shown = threading.Event()
        self._shown.set()
        self._lock = threading.Lock()
        self._latest: np.ndarray | None = None
        self.frames_read = 0

    def stop(self) -> None:
        """Ask the loop to end (returns at once; wait for :attr:`stopped`)."""
        self._stop.set()

    def frame_shown(self) -> None:
        """The page painted the last frame: the next one may be sent."""
        self._shown.set()

    def latest_frame(self) -> np.ndarray | None:
        """A copy of the last frame read (BGR), for "take photo"."""
        with self._lock:
            return None if self._latest is None else self._latest.copy()

    @Slot()
    def run(self) -> None:
        camera: Camera | None = None
        try:
            if self._detector is None:
                from turnstile.app import build_detector

                self._detector = build_detector("door")
            camera = open_source(self.source)
            camera.open()
            self._loop(camera)
        except CameraError as exc:
            self.error_occurred.emit(f"{exc} (The Door page may be using the camera: only "
                                     f"one page can use it at a time.)"
                                     if isinstance(exc, CameraUnavailable) else str(exc))
        except Exception as exc:  # noqa: BLE001 - reported in words, details logged
            log.exception("enroll camera failed")
            self.error_occurred.emit(f"The camera stopped because of an unexpected error "
                                     f"({type(exc).__name__}); details are in the log.")
        finally:
            if camera is not None:
                camera.release()
            self.stopped.emit()

    def _loop(self, camera: Camera) -> None:
        looping_file = Path(self.source.strip()).is_file()
        while not self._stop.is_set():
            try:
                captured = camera.read()
            except CameraLost:
                if not looping_file or self._stop.is_set():
                    raise
                camera.open()  # a video file ended: play it again
                continue
            if captured is None:
                continue
            frame = captured.image
            self.frames_read += 1
            with self._lock:
                self._latest = frame
            if self._shown.is_set():
                feedback = self._analyse(frame)
                self._shown.clear()
                self.frame_ready.emit(bgr_to_qimage(frame), feedback)

    def _analyse(self, frame: np.ndarray) -> LiveFeedback:
        faces = self._detector.detect(frame)  # type: ignore[union-attr]
        quality = assess(faces[0], frame=frame) if faces else None
        return live_feedback(faces, quality)


class EnrollCamera(QObject):
    """Starts and stops an :class:`EnrollCameraWorker` on its own QThread."""

    frame_ready = Signal(QImage, object)
    error_occurred = Signal(str)
    stopped = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.worker: EnrollCameraWorker | None = None
        self.thread: QThread | None = None

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.isRunning()

    def start(self, source: str, detector: object | None = None) -> None:
        self.stop()
        worker = EnrollCameraWorker(source, detector)
        thread = QThread()
        thread.setObjectName("enroll-camera")
        worker.moveToThread(thread)
        # Queued: run() then executes inside the thread's event loop, so quit() from either
        # side ends the thread once run() returns.
        thread.started.connect(worker.run, Qt.ConnectionType.QueuedConnection)
        worker.frame_ready.connect(self._on_frame)
        worker.error_occurred.connect(self.error_occurred)
        worker.stopped.connect(thread.quit)
        # A bound slot of this GUI-thread object: queued, so it runs on the GUI thread.
        worker.stopped.connect(self._worker_stopped)
        self.worker, self.thread = worker, thread
        thread.start()

    @Slot()
    def _worker_stopped(self) -> None:
        # The loop ended by itself (camera lost or never opened): tidy up, then tell.
        if self.sender() is self.worker:
            self.stop()
        self.stopped.emit()

    def _on_frame(self, image: QImage, feedback: LiveFeedback) -> None:
        self.frame_ready.emit(image, feedback)
        if self.worker is not None:
            self.worker.frame_shown()

    def latest_frame(self) -> np.ndarray | None:
        return None if self.worker is None else self.worker.latest_frame()

    def stop(self, wait_ms: int = 3000) -> None:
        """Stop the worker and wait for its thread (the camera is released there)."""
        worker, thread = self.worker, self.thread
        self.worker, self.thread = None, None
        if worker is None or thread is None:
            return
        worker.stop()
        thread.quit()
        if not thread.wait(wait_ms):
            log.warning("enroll camera thread did not stop within %d ms", wait_ms)
        worker.deleteLater()
        thread.deleteLater()
