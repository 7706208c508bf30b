"""The camera protocol, captured frames and capture errors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from turnstile.errors import TurnstileError
from turnstile.vision.types import Frame


class CameraError(TurnstileError):
    """A camera cannot be opened or stopped delivering frames. The message says which camera
    and what to check."""


class CameraUnavailable(CameraError):
    """The camera could not be opened (no device at that index, no such file, stream down)."""


class CameraLost(CameraError):
    """A camera that was delivering frames stopped (unplugged, stream dropped, file ended)."""


@dataclass(frozen=True)
class CapturedFrame:
    """One frame from a camera.

    Attributes:
        image: BGR ``uint8 (H, W, 3)``.
        index: the frame's number since the camera was opened (gaps: frames dropped because
            the reader was busy; the latest frame wins).
        t_capture: when the camera delivered it, on :func:`time.monotonic`'s clock (for a
            file played in real time: when its frame was due).
    """

    image: Frame
    index: int
    t_capture: float


@runtime_checkable
class Camera(Protocol):
    """A source of frames: a webcam, a video file, a stream URL, the demo.

    Used by one thread (the vision worker); :meth:`read` never waits much longer than one
    frame time, so that thread stays free to notice a request to stop.
    """

    description: str
    """Shown to people: "camera 0", "video file clip.avi", "stream rtsp://host/..."."""

    @property
    def nominal_fps(self) -> float | None:
        """The frame rate the source announces (None when it does not say)."""
        ...

    def open(self) -> None:
        """Start capturing.

        Raises:
            CameraUnavailable: the camera cannot be opened.
        """
        ...

    def read(self) -> CapturedFrame | None:
        """The newest frame not returned yet; waits at most about one frame time.

        Returns:
            The frame, or None when none arrived in time (the caller just asks again).

        Raises:
            CameraLost: the camera stopped delivering frames (or the file ended).
        """
        ...

    def release(self) -> None:
        """Stop capturing and free the device. Safe to call twice."""
        ...
