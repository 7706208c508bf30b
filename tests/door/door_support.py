"""Test helpers shared by the door, capture and GUI tests and the door benchmark: a door that
records what it was told, and 30 fps test streams composed from real face photos."""

from __future__ import annotations

import threading
import time
from typing import NamedTuple

from turnstile.door.base import DoorError


class RecordingDoor:
    """Records every command with its time; can be told to fail.

    ``wait_for(command, count)`` blocks (with a timeout, never a fixed sleep) until the
    door has received ``count`` such commands.
    """

    def __init__(self) -> None:
        self.description = "recording door"
        self.commands: list[str] = []
        self.times: list[float] = []
        self.fail_open = False
        self.fail_close = False
        self._changed = threading.Condition()

    def _record(self, command: str) -> None:
        with self._changed:
            self.commands.append(command)
            self.times.append(time.monotonic())
            self._changed.notify_all()

    def open(self) -> None:
        if self.fail_open:
            self._record("open-failed")
            raise DoorError("relay not answering")
        self._record("open")

    def close(self) -> None:
        if self.fail_close:
            self._record("close-failed")
            raise DoorError("relay not answering")
        self._record("close")

    def release(self) -> None:
        self._record("release")

    def count(self, command: str) -> int:
        with self._changed:
            return self.commands.count(command)

    def wait_for(self, command: str, count: int = 1, timeout_s: float = 10.0) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self.commands.count(command) >= count,
                                          timeout_s)

    def opens_and_closes(self) -> list[str]:
        """The commands without the repeated closes (the lock state sequence)."""
        out: list[str] = []
        for c in self.commands:
            if not out or out[-1] != c:
                out.append(c)
        return out


# --- test streams -----------------------------------------------------------------------------

FRAME_W, FRAME_H = 640, 480
FPS = 30.0


def write_video(path, frames, fps: float = FPS):
    """Write BGR frames as an MJPG .avi (works with headless OpenCV everywhere)."""
    import cv2

    first = frames[0]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps,
                             (first.shape[1], first.shape[0]))
    assert writer.isOpened(), "OpenCV cannot write MJPG here"
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


_BACKGROUNDS: list = []


def background(rng=None):
    """A plain wall with a little sensor noise (one of a few precomputed noisy walls, picked
    at random: drawing fresh noise for every frame would cost more than recognising it)."""
    import numpy as np

    if not _BACKGROUNDS:
        y = np.linspace(0, 1, FRAME_H, dtype=np.float32)[:, None, None]
        wall = np.array([140, 150, 160], np.float32) * (1.0 - 0.3 * y)
        noise_rng = np.random.default_rng(1234)
        for _ in range(8):
            noisy = wall + noise_rng.normal(0, 3, (FRAME_H, FRAME_W, 3))
            _BACKGROUNDS.append(np.clip(noisy, 0, 255).astype(np.uint8))
    rng = rng or np.random.default_rng(0)
    return _BACKGROUNDS[int(rng.integers(len(_BACKGROUNDS)))].copy()


class Portrait:
    """A face photo prepared for composing: the photo and its face box (photo detector)."""

    _detector = None

    def __init__(self, photo_path, *, image=None):
        from turnstile.vision.imageio import read_image

        self.path = photo_path
        self.image = image if image is not None else read_image(photo_path)
        if Portrait._detector is None:
            from turnstile.app import build_detector

            Portrait._detector = build_detector("photo")
        faces = Portrait._detector.detect(self.image)
        if not faces:
            raise ValueError(f"no face in {photo_path}")
        self.box = tuple(float(v) for v in faces[0].box)
        import cv2

        # Cut a generous region around the face (hair, shoulders) once, at a working size
        # where the face is at most WORK_FACE_PX wide (frames only ever shrink it a little
        # or enlarge it, never from a 4000 px original).
        x, y, w, h = self.box
        pad = 1.2 * w
        x0, y0 = max(0, int(x - pad)), max(0, int(y - pad))
        x1 = min(self.image.shape[1], int(x + w + pad))
        y1 = min(self.image.shape[0], int(y + h + 1.6 * pad))
        k = min(1.0, self.WORK_FACE_PX / w)
        crop = self.image[y0:y1, x0:x1]
        self._crop = cv2.resize(crop, (max(2, int(crop.shape[1] * k)),
                                       max(2, int(crop.shape[0] * k))),
                                interpolation=cv2.INTER_AREA) if k < 1 else crop
        self._face_w = w * k
        self._face_c = ((x + w / 2 - x0) * k, (y + h / 2 - y0) * k)

    WORK_FACE_PX = 200.0

    def frame(self, face_px: float, dx: float = 0.0, dy: float = 0.0, light: float = 1.0,
              rng=None):
        """A 640x480 frame with this face ``face_px`` wide, centred (plus an offset)."""
        frame = background(rng)
        self.paste(frame, face_px, FRAME_W / 2 + dx, FRAME_H * 0.45 + dy, light)
        return frame

    def paste(self, frame, face_px: float, cx: float, cy: float, light: float = 1.0):
        """Draw this person into ``frame`` with the face ``face_px`` wide, centred at
        ``(cx, cy)``."""
        import cv2

        scale = face_px / self._face_w
        crop = self._crop
        sw, sh = max(2, int(crop.shape[1] * scale)), max(2, int(crop.shape[0] * scale))
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        patch = cv2.convertScaleAbs(cv2.resize(crop, (sw, sh), interpolation=interp),
                                    alpha=light)
        fcx, fcy = self._face_c[0] * scale, self._face_c[1] * scale
        px, py = int(cx - fcx), int(cy - fcy)
        fh, fw = frame.shape[:2]
        ax0, ay0 = max(0, px), max(0, py)
        ax1, ay1 = min(fw, px + sw), min(fh, py + sh)
        if ax0 < ax1 and ay0 < ay1:
            frame[ay0:ay1, ax0:ax1] = patch[ay0 - py:ay1 - py, ax0 - px:ax1 - px]
        return frame


def two_people_frames(near, far, n_frames: int, *, seed: int = 0):
    """Two people in view: ``near`` in front (face ~150 px, left), ``far`` behind (face
    ~90 px, right), both moving a little."""
    import numpy as np

    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(n_frames):
        frame = background(rng)
        far.paste(frame, 90 + rng.normal(0, 1), 500 + rng.normal(0, 2), 150 + rng.normal(0, 2))
        near.paste(frame, 150 + rng.normal(0, 2), 220 + rng.normal(0, 2),
                   220 + rng.normal(0, 2))
        frames.append(frame)
    return frames


def passage_frames(portrait, n_frames: int, *, seed: int = 0, face_px=(120.0, 170.0)):
    """A person standing at the door for ``n_frames`` at 30 fps: the face drifts a few
    pixels (jitter), the distance changes (scale within ``face_px``) and the light changes."""
    import math

    import numpy as np

    rng = np.random.default_rng(seed)
    lo, hi = face_px
    frames = []
    phase = rng.uniform(0, 2 * math.pi)
    for i in range(n_frames):
        t = i / FPS
        size = lo + (hi - lo) * (0.5 + 0.5 * math.sin(phase + 2.1 * t))
        dx = 15 * math.sin(phase + 1.3 * t) + rng.normal(0, 1.5)
        dy = 8 * math.sin(phase + 1.9 * t) + rng.normal(0, 1.5)
        light = 1.0 + 0.12 * math.sin(phase + 0.8 * t)
        frames.append(portrait.frame(size, dx, dy, light, rng))
    return frames


def empty_frames(n_frames: int, seed: int = 1):
    import numpy as np

    rng = np.random.default_rng(seed)
    return [background(rng) for _ in range(n_frames)]


def enroll(ctx, photo, number, name):
    """Enroll a person from a photo (with consent); their employee id."""
    return ctx.enrollment.enroll(photo, employee_number=number, name=name, consent=True
                                 ).employee_id


class LoggedEvent(NamedTuple):
    """An access event as a test reads it back from the database."""

    decision: str
    employee_id: int | None
    reason: str | None
    liveness_score: float | None
    snapshot: bytes | None


class StationRig:
    """A door station (headless, real models) over a recording door and the real event writer
    on the context's database; plays a video file through OpenCV frame by frame with the
    frame's index as the policy's clock."""

    def __init__(self, ctx, pipeline, door=None, *, cooldown_s=1.0, policy="all",
                 liveness=None):
        from turnstile.door import DoorCommander
        from turnstile.door.station import DoorStation
        from turnstile.matching.door_policy import DoorPolicy
        from turnstile.services.access_log import EventWriter

        self.ctx = ctx
        self.door = door if door is not None else RecordingDoor()
        self.commander = DoorCommander(self.door, unlock_ms=100)
        self.events = EventWriter(ctx.db, "Main entrance", policy)
        self.commander.start()
        self.events.start()
        snapshot = ctx.door_snapshot(pipeline.model_id, pipeline.embedder.dim)
        self.station = DoorStation(pipeline, DoorPolicy(3, cooldown_s=cooldown_s),
                                   door=self.commander, events=self.events, snapshot=snapshot,
                                   liveness=liveness)

    def play(self, path, fps: float = FPS, start_s: float = 0.0):
        """Every frame of the video through the station: (reports, decisions); the policy's
        clock starts at ``start_s`` (to play a second video after a first)."""
        from turnstile.capture import CameraLost
        from turnstile.capture.opencv_source import OpenCVCamera

        camera = OpenCVCamera(str(path), realtime=False)
        camera.open()
        reports, decisions = [], []
        while True:
            try:
                frame = camera.read()
            except CameraLost:
                break
            report, decision = self.station.process(frame, len(reports) + 1,
                                                    now=start_s + frame.index / fps)
            reports.append(report)
            if decision is not None:
                decisions.append(decision)
        camera.release()
        return reports, decisions

    def finish(self) -> list[LoggedEvent]:
        """Stop the door and the writer; the events logged, oldest first."""
        from turnstile.storage import repositories as repo

        assert self.events.flush(10)
        self.commander.shutdown()
        self.events.close()
        with self.ctx.db.session() as s:
            return [LoggedEvent(e.decision, e.employee_id, e.reason, e.liveness_score,
                                repo.get_event_snapshot(s, e.id))
                    for e in repo.query_events(s, None, newest_first=False)]
