"""Capture: the :class:`Camera` protocol; webcams, video files and stream URLs through
OpenCV; the ``--demo`` stream; reconnection with backoff."""

from __future__ import annotations

from turnstile.capture.base import (
    Camera,
    CameraError,
    CameraLost,
    CameraUnavailable,
    CapturedFrame,
)
from turnstile.capture.reconnect import (
    Backoff,
    CameraState,
    CameraStatus,
    ReconnectingCamera,
)

DEMO_SOURCE = "demo"
"""The source name of the built-in demo stream (``turnstile --demo``)."""


def open_source(source: str | int, *, realtime: bool = True) -> Camera:
    """The camera for a source (not opened yet: call ``open()`` or wrap it in a
    :class:`ReconnectingCamera`).

    Args:
        source: ``"demo"``, a device index (``0`` or ``"0"``), a video file or a stream URL.
        realtime: play files and the demo at their frame rate (False: as fast as read).

    Raises:
        CameraUnavailable: the source is empty.
    """
    if isinstance(source, str):
        if not source.strip():
            raise CameraUnavailable("No camera is set: choose a camera number, a video file "
                                    "or a stream address in the settings.")
        if source.strip().lower() == DEMO_SOURCE:
            from turnstile.capture.demo import DemoCamera

            return DemoCamera(realtime=realtime)
    from turnstile.capture.opencv_source import OpenCVCamera

    return OpenCVCamera(source, realtime=realtime)


__all__ = [
    "DEMO_SOURCE",
    "Backoff",
    "Camera",
    "CameraError",
    "CameraLost",
    "CameraState",
    "CameraStatus",
    "CameraUnavailable",
    "CapturedFrame",
    "ReconnectingCamera",
    "open_source",
]
