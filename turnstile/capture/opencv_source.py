"""Frames from OpenCV: a webcam by index, a video file, or a stream URL (RTSP, HTTP).

Live sources (webcams, streams) are read by a small grabber thread that keeps only the
newest frame: when the vision worker is busy, older frames are dropped instead of piling up
in a buffer and adding delay (the latest frame wins). A video file has no such thread: it is
played in real time at its own frame rate by default (frames that are already late are
skipped, as a live camera would drop them), or as fast as it can be read
(``realtime=False``, for benchmarks).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import cv2
import numpy as np

from turnstile.capture.base import CameraLost, CameraUnavailable, CapturedFrame

log = logging.getLogger(__name__)

STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https", "udp", "tcp", "srt")
STALL_TIMEOUT_S = 5.0
"""A live camera that has delivered no frame for this long is lost."""
READ_WAIT_S = 0.1
"""How long :meth:`OpenCVCamera.read` waits for a new live frame before returning None."""
STREAM_TIMEOUT_MS = 5000
"""FFmpeg's open and read timeouts for stream URLs (its own default is 30 s)."""
DEFAULT_FILE_FPS = 30.0
"""Frame rate assumed for a file that does not state one."""


def parse_source(text: str | int) -> int | str:
    """``"0"`` -> device 0; anything else (file path or URL) is returned stripped."""
    if isinstance(text, int):
        return text
    cleaned = text.strip()
    return int(cleaned) if cleaned.isdigit() else cleaned


def is_stream_url(source: str) -> bool:
    return urlsplit(source).scheme.lower() in STREAM_SCHEMES


def redact_url(url: str) -> str:
    """The URL without user name and password (safe to show and log)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def describe_source(source: int | str) -> str:
    """How a source is named to people."""
    if isinstance(source, int):
        return f"camera {source}"
    if is_stream_url(source):
        return f"stream {redact_url(source)}"
    return f"video file {Path(source).name}"


def _as_bgr(image: Any) -> np.ndarray | None:
    if image is None or not isinstance(image, np.ndarray) or image.size == 0:
        return None
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


class OpenCVCamera:
    """A webcam, video file or stream through :class:`cv2.VideoCapture`.

    Args:
        source: a device index, a file path or a stream URL (see :func:`parse_source`).
        realtime: play a video file at its frame rate (True) or as fast as possible.
        stall_timeout_s: see :data:`STALL_TIMEOUT_S`.
        clock: monotonic seconds (tests may pass their own).
    """

    def __init__(self, source: int | str, *, realtime: bool = True,
                 stall_timeout_s: float = STALL_TIMEOUT_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.source = parse_source(source)
        self.clock = clock
        self.realtime = realtime
        self.stall_timeout_s = stall_timeout_s
        self.description = describe_source(self.source)
        if isinstance(self.source, int):
            self.kind = "device"
        elif is_stream_url(self.source):
            self.kind = "stream"
        else:
            self.kind = "file"
        self._cap: Any = None
        self._fps: float | None = None
        self._stop = threading.Event()
        # live sources
        self._thread: threading.Thread | None = None
        self._cond = threading.Condition()
        self._latest: CapturedFrame | None = None
        self._returned = -1
        self._failure: str | None = None
        self._last_frame_at = 0.0
        # files
        self._next = 0
        self._t0: float | None = None

    @property
    def nominal_fps(self) -> float | None:
        return self._fps

    # -- opening and closing -----------------------------------------------------------------
    def open(self) -> None:
        self.release()
        self._stop.clear()
        self._failure, self._latest, self._returned = None, None, -1
        self._next, self._t0 = 0, None
        if self.kind == "file":
            path = Path(self.source)  # type: ignore[arg-type]
            if not path.is_file():
                raise CameraUnavailable(f"The video file {path} does not exist.")
            cap = cv2.VideoCapture(str(path))
        elif self.kind == "stream":
            cap = cv2.VideoCapture(self.source, cv2.CAP_FFMPEG, [
                cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, STREAM_TIMEOUT_MS,
                cv2.CAP_PROP_READ_TIMEOUT_MSEC, STREAM_TIMEOUT_MS])
        else:
            cap = cv2.VideoCapture(self.source)
        if not cap.isOpened():
            cap.release()
            raise CameraUnavailable(self._cannot_open_message())
        if self.kind == "device":
            # Keep the driver's queue short: a deep queue is delay, not smoothness.
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self._fps = fps if 1.0 <= fps <= 240.0 else None
        self._cap = cap
        if self.kind != "file":
            self._last_frame_at = self.clock()
            self._thread = threading.Thread(target=self._grab_loop, name="camera-grabber",
                                            daemon=True)
            self._thread.start()
        log.info("opened %s (%s fps)", self.description,
                 f"{self._fps:.1f}" if self._fps else "unknown")

    def _cannot_open_message(self) -> str:
        if self.kind == "device":
            return (f"No camera was found at index {self.source}. Check that it is plugged in "
                    f"and not used by another program, or pick a video file.")
        if self.kind == "stream":
            return (f"The {self.description} cannot be opened. Check the address and that "
                    f"the camera is on the network.")
        return f"The {self.description} cannot be read as a video."

    def release(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=STREAM_TIMEOUT_MS / 1000 + 1)
            if thread.is_alive():
                log.warning("the grabber of %s did not stop in time", self.description)
        cap, self._cap = self._cap, None
        if cap is not None:
            cap.release()

    # -- reading -----------------------------------------------------------------------------
    def read(self) -> CapturedFrame | None:
        if self._cap is None:
            raise CameraLost(f"The {self.description} is not open.")
        if self.kind == "file":
            return self._read_file()
        return self._read_live()

    def _read_live(self) -> CapturedFrame | None:
        with self._cond:
            self._cond.wait_for(
                lambda: self._failure is not None or self._stop.is_set()
                or (self._latest is not None and self._latest.index > self._returned),
                READ_WAIT_S)
            latest = self._latest
            if latest is not None and latest.index > self._returned:
                self._returned = latest.index
                return latest
            if self._failure is not None:
                raise CameraLost(self._failure)
            if self._stop.is_set():
                raise CameraLost(f"The {self.description} was closed.")
            silent_s = self.clock() - self._last_frame_at
        if silent_s > self.stall_timeout_s:
            raise CameraLost(f"The {self.description} stopped sending pictures "
                             f"({silent_s:.0f} s without one).")
        return None

    def _grab_loop(self) -> None:
        cap = self._cap
        index = 0
        while not self._stop.is_set():
            try:
                ok, image = cap.read()
            except cv2.error as exc:
                ok, image = False, None
                log.debug("camera read raised: %s", exc)
            now = self.clock()
            image = _as_bgr(image) if ok else None
            if image is None:
                if now - self._last_frame_at > self.stall_timeout_s:
                    with self._cond:
                        self._failure = (f"The {self.description} stopped sending pictures "
                                         f"(unplugged, switched off or out of the network?).")
                        self._cond.notify_all()
                    return
                self._stop.wait(0.02)
                continue
            with self._cond:
                self._latest = CapturedFrame(image, index, now)
                self._last_frame_at = now
                self._cond.notify_all()
            index += 1

    def _read_file(self) -> CapturedFrame | None:
        cap = self._cap
        if not self.realtime:
            ok, image = cap.read()
            image = _as_bgr(image) if ok else None
            if image is None:
                raise CameraLost(f"The {self.description} ended.")
            frame = CapturedFrame(image, self._next, self.clock())
            self._next += 1
            return frame
        fps = self._fps or DEFAULT_FILE_FPS
        now = self.clock()
        if self._t0 is None:
            self._t0 = now
        due = self._t0 + self._next / fps
        if due > now:
            if self._stop.wait(due - now):
                raise CameraLost(f"The {self.description} was closed.")
        else:
            # Late: frames that a live camera would have replaced by now are skipped.
            late = int((now - due) * fps)
            for _ in range(late):
                if not cap.grab():
                    raise CameraLost(f"The {self.description} ended.")
                self._next += 1
            due = self._t0 + self._next / fps
        ok, image = cap.read()
        image = _as_bgr(image) if ok else None
        if image is None:
            raise CameraLost(f"The {self.description} ended.")
        frame = CapturedFrame(image, self._next, due)
        self._next += 1
        return frame
