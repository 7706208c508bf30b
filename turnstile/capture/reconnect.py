"""Keeping a camera alive: reopen it after it is lost, waiting longer after each failed try.

A door station runs all day; a camera unplugged for a minute, a stream that drops, a network
camera rebooting must all come back on their own, without flooding the log or the camera
with attempts, and without ever blocking the vision worker for long.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from turnstile.capture.base import Camera, CameraError, CameraLost, CapturedFrame

log = logging.getLogger(__name__)

FIRST_RETRY_S = 0.5
MAX_RETRY_S = 30.0
"""A camera that stays away is tried at most this often (every 30 s all night)."""
POLL_S = 0.1
"""While waiting to retry, :meth:`ReconnectingCamera.read` returns within this time."""


class CameraState(enum.Enum):
    STARTING = "starting"
    LIVE = "live"
    LOST = "lost"                # was delivering frames, stopped; retrying
    UNAVAILABLE = "unavailable"  # could not be opened; retrying
    STOPPED = "stopped"


@dataclass(frozen=True)
class CameraStatus:
    """What the camera is doing, for the screen.

    Attributes:
        state: see :class:`CameraState`.
        message: plain-language detail ('' when live).
        attempts: failed attempts to (re)open since it was last live.
        retry_in_s: seconds until the next attempt (None when live or stopped).
    """

    state: CameraState
    message: str = ""
    attempts: int = 0
    retry_in_s: float | None = None


class Backoff:
    """Delays of ``first_s``, doubling up to ``max_s``."""

    def __init__(self, first_s: float = FIRST_RETRY_S, max_s: float = MAX_RETRY_S,
                 factor: float = 2.0) -> None:
        if first_s <= 0 or max_s < first_s or factor < 1:
            raise ValueError("backoff needs 0 < first_s <= max_s and factor >= 1")
        self.first_s, self.max_s, self.factor = first_s, max_s, factor
        self._next = first_s

    def next(self) -> float:
        delay = self._next
        self._next = min(self.max_s, self._next * self.factor)
        return delay

    def reset(self) -> None:
        self._next = self.first_s


class ReconnectingCamera:
    """Wraps a camera: opens it, and after a failure reopens it with backoff.

    :meth:`read` never raises for a camera problem: it returns None and reports the change
    through ``on_status``. Used by one thread.

    Args:
        camera: the camera to keep open.
        backoff: the delays between attempts.
        on_status: called with each new :class:`CameraStatus` (on the reading thread).
        clock: monotonic seconds (tests may pass their own).
    """

    def __init__(self, camera: Camera, *, backoff: Backoff | None = None,
                 on_status: Callable[[CameraStatus], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.camera = camera
        self.backoff = backoff or Backoff()
        self.on_status = on_status
        self.clock = clock
        self._open = False
        self._was_live = False
        self._attempts = 0
        self._retry_at = 0.0
        self._wake = threading.Event()
        self.status = CameraStatus(CameraState.STARTING)
        self.reconnects = 0
        """How many times the camera came back after being lost."""

    @property
    def description(self) -> str:
        return self.camera.description

    @property
    def nominal_fps(self) -> float | None:
        return self.camera.nominal_fps

    @property
    def is_live(self) -> bool:
        return self._open

    def read(self) -> CapturedFrame | None:
        """The next frame, or None (no frame yet, or the camera is away: see ``status``)."""
        if self._open:
            try:
                return self.camera.read()
            except CameraError as exc:
                self._lost(exc)
                return None
        now = self.clock()
        if now < self._retry_at:
            self._wake.wait(min(self._retry_at - now, POLL_S))
            return None
        self._try_open()
        return None

    def release(self) -> None:
        self._wake.set()
        if self._open:
            self._open = False
        try:
            self.camera.release()
        except Exception:  # noqa: BLE001 (a dead device may fail to close in any way)
            log.debug("releasing the camera failed", exc_info=True)
        self._set(CameraStatus(CameraState.STOPPED))

    # -- internals ---------------------------------------------------------------------------
    def _try_open(self) -> None:
        try:
            self.camera.open()
        except CameraError as exc:
            self._failed(exc, CameraState.LOST if self._was_live else CameraState.UNAVAILABLE)
            return
        except Exception as exc:  # noqa: BLE001 (a driver error must not stop the door)
            log.exception("opening the camera raised an unexpected error")
            self._failed(CameraError(f"The {self.description} failed to open ({exc})."),
                         CameraState.LOST if self._was_live else CameraState.UNAVAILABLE)
            return
        if self._was_live:
            self.reconnects += 1
            log.warning("%s is back after %d attempt(s)", self.description, self._attempts)
        self._open, self._was_live, self._attempts = True, True, 0
        self.backoff.reset()
        self._set(CameraStatus(CameraState.LIVE))

    def _lost(self, exc: CameraError) -> None:
        self._open = False
        try:
            self.camera.release()
        except Exception:  # noqa: BLE001
            log.debug("releasing the lost camera failed", exc_info=True)
        log.warning("camera lost: %s", exc)
        self._failed(exc if isinstance(exc, CameraLost) else CameraLost(str(exc)),
                     CameraState.LOST)

    def _failed(self, exc: CameraError, state: CameraState) -> None:
        self._attempts += 1
        delay = self.backoff.next()
        self._retry_at = self.clock() + delay
        (log.info if self._attempts > 1 else log.warning)(
            "%s: %s (attempt %d; next try in %.1f s)", self.description, exc, self._attempts,
            delay)
        self._set(CameraStatus(state, str(exc), self._attempts, delay))

    def _set(self, status: CameraStatus) -> None:
        self.status = status
        if self.on_status is not None:
            self.on_status(status)
