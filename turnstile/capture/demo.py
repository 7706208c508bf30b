"""The ``--demo`` camera: a 30 fps stream made at run time from one public-domain photo
(``assets/demo_face.jpg``, see ``assets/DEMO.md``), so the door station can be tried without a
camera.

One 12-second cycle, repeated: an empty hall (2 s); a person walking up from far away, too
small at first (1.5 s); standing in front of the door with small movements, changes of
distance and of light (4.5 s); walking away (1 s); the empty hall again (3 s). The person
is a stranger until enrolled, so the demo shows a denial and, once she is enrolled from the
door page's demo bar, the door opening.

Without the photo (a trimmed install), scikit-image's copy of the same portrait is used when
installed; otherwise the hall stays empty.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from turnstile.capture.base import CameraLost, CapturedFrame
from turnstile.vision.types import Frame

log = logging.getLogger(__name__)

DEMO_FACE_FILENAME = "demo_face.jpg"
DEMO_PERSON_NAME = "Eileen Collins (demo)"
DEMO_EMPLOYEE_NUMBER = "DEMO-0001"
FPS = 30.0
FRAME_SIZE = (640, 480)
CYCLE_S = 12.0
_EMPTY_UNTIL, _ARRIVE_UNTIL, _STAY_UNTIL, _LEAVE_UNTIL = 2.0, 3.5, 8.0, 9.0
_FAR_SCALE, _NEAR_SCALE = 0.55, 1.45
"""Size of the 300 px portrait in the frame: far away (its face ~55 px wide, too small to
decide on) and in front of the door (~140 px)."""


def demo_face_path() -> Path | None:
    """The shipped demo photo, or None when this install has none."""
    try:
        from turnstile.resources import assets_dir

        path = assets_dir() / DEMO_FACE_FILENAME
    except Exception:  # noqa: BLE001 (a broken install: the demo still runs, without a face)
        return None
    return path if path.is_file() else None


def load_demo_face() -> Frame | None:
    """The demo portrait as BGR, or None when neither the asset nor scikit-image has it."""
    path = demo_face_path()
    if path is not None:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is not None:
            return np.asarray(image, np.uint8)
    try:
        from skimage import data

        return np.ascontiguousarray(data.astronaut()[0:300, 75:375, ::-1])
    except Exception:  # noqa: BLE001
        log.info("no demo face available: the demo shows an empty hall")
        return None


def _hall(width: int, height: int) -> Frame:
    """A plain hall with a door, drawn once."""
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    wall = (np.array([150, 160, 170], np.float32) * (1.0 - 0.25 * y))[:, None, :]
    image = np.broadcast_to(wall, (height, width, 3)).astype(np.uint8).copy()
    floor_y = int(height * 0.82)
    image[floor_y:] = (70, 80, 90)
    cv2.rectangle(image, (int(width * 0.3), int(height * 0.12)),
                  (int(width * 0.7), floor_y), (95, 110, 125), -1)
    cv2.rectangle(image, (int(width * 0.3), int(height * 0.12)),
                  (int(width * 0.7), floor_y), (60, 70, 80), 6)
    cv2.circle(image, (int(width * 0.66), int(height * 0.5)), 7, (40, 170, 210), -1)
    return image


class DemoCamera:
    """The demo stream.

    Args:
        realtime: deliver frames at 30 fps (True) or as fast as they are asked for.
        face: the portrait to animate (default: :func:`load_demo_face`).
    """

    description = "demo video"

    def __init__(self, *, realtime: bool = True, face: Frame | None = None) -> None:
        self.realtime = realtime
        self._face = face if face is not None else load_demo_face()
        width, height = FRAME_SIZE
        self._background = _hall(width, height)
        rng = np.random.default_rng(7)
        # Sensor noise, precomputed: drawing it for each frame would cost more than the rest.
        self._noise = [rng.integers(-6, 7, (height, width, 3), dtype=np.int16)
                       for _ in range(4)]
        self._mask = None
        if self._face is not None:
            h, w = self._face.shape[:2]
            mask = np.zeros((h, w), np.float32)
            cv2.ellipse(mask, (w // 2, int(h * 0.47)), (int(w * 0.42), int(h * 0.5)), 0, 0, 360,
                        1.0, -1)
            self._mask = cv2.GaussianBlur(mask, (0, 0), w * 0.05)
        self._index = 0
        self._t0: float | None = None
        self._stop = threading.Event()
        self._open = False

    @property
    def nominal_fps(self) -> float | None:
        return FPS

    @property
    def has_face(self) -> bool:
        return self._face is not None

    def open(self) -> None:
        self._stop.clear()
        self._open = True
        self._index, self._t0 = 0, None

    def release(self) -> None:
        self._stop.set()
        self._open = False

    def read(self) -> CapturedFrame | None:
        if not self._open:
            raise CameraLost("The demo video is not open.")
        now = time.monotonic()
        if not self.realtime:
            frame = CapturedFrame(self.render(self._index / FPS), self._index, now)
            self._index += 1
            return frame
        if self._t0 is None:
            self._t0 = now
        due = self._t0 + self._index / FPS
        if due > now:
            if self._stop.wait(due - now):
                raise CameraLost("The demo video was closed.")
        else:
            self._index += int((now - due) * FPS)  # late: skip, as a live camera would
            due = self._t0 + self._index / FPS
        frame = CapturedFrame(self.render(self._index / FPS), self._index, due)
        self._index += 1
        return frame

    # -- drawing -----------------------------------------------------------------------------
    def placement(self, t: float) -> tuple[float, float, float, float] | None:
        """Where the portrait is at time ``t``: ``(centre x, centre y, scale, brightness)``
        in frame pixels, or None when the hall is empty."""
        width, height = FRAME_SIZE
        phase = t % CYCLE_S
        if self._face is None or phase < _EMPTY_UNTIL or phase >= _LEAVE_UNTIL:
            return None
        cx, cy = width * 0.5, height * 0.47
        if phase < _ARRIVE_UNTIL:
            k = (phase - _EMPTY_UNTIL) / (_ARRIVE_UNTIL - _EMPTY_UNTIL)
            k = k * k * (3 - 2 * k)  # ease in and out
            scale = _FAR_SCALE + (_NEAR_SCALE - _FAR_SCALE) * k
            return cx - 60 * (1 - k), cy - 30 * (1 - k), scale, 1.0
        if phase < _STAY_UNTIL:
            u = phase - _ARRIVE_UNTIL
            scale = _NEAR_SCALE * (1.0 + 0.06 * math.sin(u * 1.7))
            light = 1.0 + 0.12 * math.sin(u * 0.9)
            return cx + 12 * math.sin(u * 2.3), cy + 6 * math.sin(u * 3.1), scale, light
        k = (phase - _STAY_UNTIL) / (_LEAVE_UNTIL - _STAY_UNTIL)
        return cx + 520 * k * k, cy, _NEAR_SCALE * (1.0 - 0.2 * k), 1.0

    def render(self, t: float) -> Frame:
        """The frame at time ``t`` seconds into the demo."""
        index = int(round(t * FPS))
        frame = self._background.copy()
        where = self.placement(t)
        if where is not None and self._face is not None and self._mask is not None:
            cx, cy, scale, light = where
            rng = np.random.default_rng(index)
            cx += float(rng.normal(0, 1.2))  # hand-held jitter
            cy += float(rng.normal(0, 1.2))
            self._paste(frame, cx, cy, scale, light)
        noisy = frame.astype(np.int16) + self._noise[index % len(self._noise)]
        return np.clip(noisy, 0, 255).astype(np.uint8)

    def _paste(self, frame: Frame, cx: float, cy: float, scale: float, light: float) -> None:
        assert self._face is not None and self._mask is not None
        h, w = self._face.shape[:2]
        sw, sh = max(2, int(w * scale)), max(2, int(h * scale))
        face = cv2.resize(self._face, (sw, sh), interpolation=cv2.INTER_LINEAR)
        mask = cv2.resize(self._mask, (sw, sh), interpolation=cv2.INTER_LINEAR)
        x0, y0 = int(cx - sw / 2), int(cy - sh / 2)
        fh, fw = frame.shape[:2]
        ax0, ay0, ax1, ay1 = max(0, x0), max(0, y0), min(fw, x0 + sw), min(fh, y0 + sh)
        if ax0 >= ax1 or ay0 >= ay1:
            return
        patch = face[ay0 - y0:ay1 - y0, ax0 - x0:ax1 - x0].astype(np.float32) * light
        alpha = mask[ay0 - y0:ay1 - y0, ax0 - x0:ax1 - x0, None]
        region = frame[ay0:ay1, ax0:ax1].astype(np.float32)
        frame[ay0:ay1, ax0:ax1] = np.clip(alpha * patch + (1 - alpha) * region, 0, 255).astype(
            np.uint8)
