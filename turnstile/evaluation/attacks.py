"""Presentation-attack streams for ``turnstile eval liveness``: what an attacker shows the door.

Everything here is deterministic given a seed, so anyone can rerun the evaluation and get the
same frames. A stream is a list of ``(timestamp_s, frame)`` produced lazily (a 6 s stream of
640 x 480 frames would hold ~130 MB in memory).

The camera is the door's: fixed, 640 x 480, pinhole with a ~60 degree horizontal field of view.
Attack artefacts are rendered in 3-D in front of it by casting one ray per pixel onto the
artefact's surface (a plane, or a gently bent sheet of paper), moved by a hand-held motion
model:

* **print** -- a photo printed on paper with a white margin: ink contrast and saturation loss,
  a paper-grain texture, a warm cast, lighting that changes with the sheet's tilt, and a
  curvature that flexes (a sheet held by its edges is never flat).
* **screen** -- a still photo shown on a phone or tablet: a dark bezel, the display's gamma and
  colour temperature, the moire the camera makes of the display's pixel grid (the grid is
  evaluated where each camera pixel lands on the screen, so the aliasing is the real one of
  point sampling), a reflection of a ceiling light that slides as the screen tilts, and
  back-light flicker.
* **replay** -- the genuine selfie video played on such a screen.
* **real_print / real_screen** -- the ``spoof/`` photos of real attacks (a printed photo and a
  tablet held to a camera) shaken by the same hand-held motion (a small homography, the
  motion of a sheet seen from a still camera).

The hand-held motion mixes slow sway (0.1-1.2 Hz), physiological tremor (7-12 Hz) and, in the
"tilt" style, deliberate yaw/pitch swings of up to ~25 degrees: the attacker trying to fake the
parallax of a real head. Genuine streams (the selfie video) go through the same camera model
(defocus, motion blur, sensor noise, exposure flicker, JPEG), so a cue cannot win by spotting
the simulator.

Honesty notes: the generator is one model of these attacks. Tuning and reporting use
disjoint source photos and seeds (:func:`split_of`), but both come from the same generator;
real prints and screens vary more. The only real attack material is the three ``spoof/``
stills.
"""

from __future__ import annotations

import enum
import hashlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from turnstile.vision.imageio import read_image
from turnstile.vision.types import Frame

log = logging.getLogger(__name__)

FRAME_W, FRAME_H = 640, 480
"""The door camera's frame size."""

FOCAL_PX = 560.0
"""Focal length of the simulated door camera in pixels (~59 degrees horizontal field)."""

CAMERA_FPS = 24.0
"""Frame rate of the simulated door camera."""

ATTACK_DURATION_S = 8.5
"""Length of an attack stream: longer than the passive (6 s) and challenge (8 s) liveness
windows, so an attack is either caught or times out inside it."""

GENUINE_DURATION_S = 7.0
"""Length of a genuine window cut from the selfie video."""

MAP_STEP_PX = 4
"""Rays are cast every this many pixels; the maps are smooth and upsampled in between."""

Float = npt.NDArray[np.float64]


class AttackKind(enum.StrEnum):
    """The presentation-attack instrument species of a stream (ISO/IEC 30107-3 "PAI
    species")."""

    PRINT = "print"
    SCREEN = "screen"
    REPLAY = "replay"
    REAL_PRINT = "real_print"
    REAL_SCREEN = "real_screen"


class Split(enum.StrEnum):
    """Which half of the material a stream belongs to: thresholds are tuned on ``TUNING``
    only; ``HELD_OUT`` (other source photos, other seeds) is the reported figure."""

    TUNING = "tuning"
    HELD_OUT = "held_out"


def split_of(key: str) -> Split:
    """Assign a source (a photo's relative path) to a split by a stable hash of its name."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return Split.TUNING if digest[0] % 2 == 0 else Split.HELD_OUT


@dataclass(frozen=True)
class Stream:
    """One stream of camera frames shown to the liveness check.

    Attributes:
        name: unique, readable (kind, source, seed).
        kind: an :class:`AttackKind`, or None for a genuine (bona fide) presentation.
        split: tuning or held-out.
        source: the source file relative to the data folder.
        seed: the random seed the stream was made with.
        n_frames: how many frames :meth:`frames` yields.
        fps: frames per second.
    """

    name: str
    kind: AttackKind | None
    split: Split
    source: str
    seed: int
    n_frames: int
    fps: float
    _render: Callable[[], Iterator[Frame]] = field(repr=False, compare=False)

    @property
    def genuine(self) -> bool:
        return self.kind is None

    def frames(self) -> Iterator[tuple[float, Frame]]:
        """Yield ``(timestamp_s, BGR frame)`` pairs, rendered on demand."""
        for i, frame in enumerate(self._render()):
            yield i / self.fps, frame


# --- motion ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pose:
    """Per-frame pose of an artefact: translation (metres), rotations (radians)."""

    tx: Float
    ty: Float
    z: Float
    roll: Float
    yaw: Float
    pitch: Float
    bend: Float  # curvature of the sheet (1/m); 0 = flat


def _sway(rng: np.random.Generator, t: Float, amplitude: float, f_lo: float, f_hi: float,
          parts: int = 3) -> Float:
    out = np.zeros_like(t)
    for _ in range(parts):
        freq = rng.uniform(f_lo, f_hi)
        out += rng.uniform(0.3, 1.0) * np.sin(2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi))
    return amplitude * out / parts


def handheld_pose(rng: np.random.Generator, n_frames: int, fps: float, distance_m: float,
                  style: str) -> Pose:
    """A hand-held trajectory.

    Args:
        rng: the stream's random generator.
        n_frames: frames to make.
        fps: frame rate.
        distance_m: mean distance from the camera.
        style: ``"steady"`` (an attacker holding still), ``"shake"`` (a nervous hand) or
            ``"tilt"`` (deliberate yaw/pitch swings to imitate a turning head).
    """
    t = np.arange(n_frames) / fps
    sway_m = {"steady": 0.006, "shake": 0.02, "tilt": 0.012}[style]
    tremor_m = {"steady": 0.0008, "shake": 0.003, "tilt": 0.0012}[style]
    angle = {"steady": np.radians(2.0), "shake": np.radians(5.0), "tilt": np.radians(22.0)}[style]

    def tremor(amp: float) -> Float:
        return _sway(rng, t, amp, 7.0, 12.0, parts=2)

    tx = _sway(rng, t, sway_m, 0.1, 1.2) + tremor(tremor_m)
    ty = _sway(rng, t, sway_m, 0.1, 1.2) + tremor(tremor_m)
    z = distance_m * (1.0 + _sway(rng, t, {"steady": 0.03, "shake": 0.08, "tilt": 0.06}[style],
                                  0.1, 0.8))
    roll = _sway(rng, t, np.radians(3.0 if style != "steady" else 1.0), 0.1, 1.0) \
        + tremor(np.radians(0.3))
    slow = (0.2, 0.9) if style == "tilt" else (0.1, 1.2)
    yaw = _sway(rng, t, angle, *slow, parts=2) + tremor(np.radians(0.4))
    pitch = _sway(rng, t, angle * 0.7, *slow, parts=2) + tremor(np.radians(0.4))
    bend = np.zeros_like(t)
    return Pose(tx, ty, z, roll, yaw, pitch, bend)


def _rotation(roll: float, yaw: float, pitch: float) -> Float:
    cr, sr = np.cos(roll), np.sin(roll)
    cy, sy = np.cos(yaw), np.sin(yaw)
    cp, sp = np.cos(pitch), np.sin(pitch)
    rz = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    return rz @ ry @ rx


def _ray_maps(rotation: Float, translation: Float, bend: float, metres_per_px: float,
              art_w: int, art_h: int, centre_px: tuple[float, float]
              ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], Float]:
    """Where each camera pixel's ray meets the artefact, in artefact pixels.

    The artefact lies in its own frame on ``z = bend * x^2 / 2`` (x right, y down, metres,
    origin at ``centre_px`` of the artefact image); the camera looks down +z.

    Returns:
        ``map_x, map_y`` (float32, frame-sized, -10 where the ray misses) and the cosine of the
        angle between the artefact's normal and the camera's axis (for shading).
    """
    step = MAP_STEP_PX
    # coarse samples at the centres of step x step blocks, so a linear resize by ``step``
    # puts every value back on its own pixel
    xs = np.arange(FRAME_W // step + 1) * step + (step - 1) / 2
    ys = np.arange(FRAME_H // step + 1) * step + (step - 1) / 2
    gx, gy = np.meshgrid(xs, ys)
    d = np.stack([(gx - FRAME_W / 2) / FOCAL_PX, (gy - FRAME_H / 2) / FOCAL_PX,
                  np.ones_like(gx)], -1)
    d_art = d @ rotation  # R^T d for row vectors
    o_art = -(rotation.T @ translation)
    dx, dy, dz = d_art[..., 0], d_art[..., 1], d_art[..., 2]
    ox, oy, oz = o_art
    if abs(bend) < 1e-6:
        lam = -oz / dz
    else:
        a = 0.5 * bend * dx * dx
        b = bend * ox * dx - dz
        c = 0.5 * bend * ox * ox - oz
        disc = np.maximum(b * b - 4 * a * c, 0.0)
        root = np.sqrt(disc)
        with np.errstate(divide="ignore", invalid="ignore"):
            l1 = (-b - root) / (2 * a)
            l2 = (-b + root) / (2 * a)
        l1 = np.where(l1 > 0, l1, np.inf)
        l2 = np.where(l2 > 0, l2, np.inf)
        lam = np.minimum(l1, l2)
        small = np.abs(a) < 1e-12
        lam = np.where(small, -c / b, lam)
    lam = np.where(np.isfinite(lam) & (lam > 0), lam, 1e6)
    u = (ox + lam * dx) / metres_per_px + centre_px[0]
    v = (oy + lam * dy) / metres_per_px + centre_px[1]
    # The surface extends smoothly past the artefact's edges, so the coarse maps can be
    # upsampled first and the edges cut at full resolution (no staircase along the border).
    size = (len(xs), len(ys))
    full_u = cv2.resize(u.astype(np.float32), (size[0] * step, size[1] * step),
                        interpolation=cv2.INTER_LINEAR)[:FRAME_H, :FRAME_W]
    full_v = cv2.resize(v.astype(np.float32), (size[0] * step, size[1] * step),
                        interpolation=cv2.INTER_LINEAR)[:FRAME_H, :FRAME_W]
    bad = (full_u < 0) | (full_v < 0) | (full_u > art_w - 1) | (full_v > art_h - 1)
    full_u = np.ascontiguousarray(np.where(bad, np.float32(-10.0), full_u))
    full_v = np.ascontiguousarray(np.where(bad, np.float32(-10.0), full_v))
    cos_normal = float(abs(rotation[2, 2]))
    return full_u, full_v, np.array(cos_normal)


# --- artefacts ------------------------------------------------------------------------------


@dataclass
class Artefact:
    """A physical attack instrument: its texture and size.

    Attributes:
        image: BGR uint8 (the print, or the screen with its bezel).
        metres_per_px: physical size of one artefact pixel.
        face_centre_px: where the face is in ``image`` (the motion keeps it near the frame's
            centre).
        face_px: the face's width in ``image`` pixels.
        emissive: a screen (brightness independent of the room light) or paper.
    """

    image: Frame
    metres_per_px: float
    face_centre_px: tuple[float, float]
    emissive: bool
    face_px: float
    screen_px_per_art_px: float = 1.0
    active: tuple[int, int, int, int] = (0, 0, 0, 0)  # x0, y0, x1, y1 of the display area


def _to_float(img: Frame) -> npt.NDArray[np.float32]:
    return img.astype(np.float32) / 255.0


def _to_uint8(img: npt.NDArray[np.float32]) -> Frame:
    return np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8)


def make_print(content: Frame, face_box: tuple[float, float, float, float],
               rng: np.random.Generator, face_width_m: float) -> Artefact:
    """A photo printed on paper: margin, ink gamut, grain, warm cast."""
    img = _to_float(content)
    # Ink cannot reach paper white nor true black; saturation drops on cheap printers.
    gray = img.mean(axis=2, keepdims=True)
    img = gray + (img - gray) * rng.uniform(0.65, 0.95)
    low, high = rng.uniform(0.05, 0.14), rng.uniform(0.82, 0.95)
    img = low + (high - low) * np.power(img, rng.uniform(0.9, 1.25))
    cast = np.array([rng.uniform(0.92, 0.99), rng.uniform(0.97, 1.0), 1.0], np.float32)
    img = img * cast
    h, w = img.shape[:2]
    # paper grain / halftone: fine multiplicative noise, slightly blurred
    grain = rng.normal(0.0, rng.uniform(0.02, 0.06), (h, w, 1)).astype(np.float32)
    grain = cv2.GaussianBlur(grain, (0, 0), 0.7)[..., None]
    img = np.clip(img * (1.0 + grain), 0, 1)
    margin = int(rng.uniform(0.02, 0.10) * max(h, w))
    paper = np.full((h + 2 * margin, w + 2 * margin, 3), high, np.float32) * cast
    paper[margin:margin + h, margin:margin + w] = img
    metres_per_px = face_width_m / max(face_box[2], 1.0)
    centre = (face_box[0] + face_box[2] / 2 + margin, face_box[1] + face_box[3] / 2 + margin)
    return Artefact(_to_uint8(paper), metres_per_px, centre, emissive=False,
                    face_px=face_box[2])


def make_screen(content: Frame, face_box: tuple[float, float, float, float],
                rng: np.random.Generator, face_width_m: float) -> Artefact:
    """A photo or video frame on a phone or tablet: gamma, colour temperature, bezel."""
    h, w = content.shape[:2]
    bezel = int(rng.uniform(0.03, 0.08) * max(h, w))
    screen = np.full((h + 2 * bezel, w + 2 * bezel, 3), rng.uniform(0.02, 0.08), np.float32)
    metres_per_px = face_width_m / max(face_box[2], 1.0)
    # Display pixel pitch: phones ~0.05 mm, tablets ~0.1 mm.
    pitch_m = rng.uniform(0.00005, 0.00012)
    centre = (face_box[0] + face_box[2] / 2 + bezel, face_box[1] + face_box[3] / 2 + bezel)
    return Artefact(_to_uint8(screen), metres_per_px, centre, emissive=True, face_px=face_box[2],
                    screen_px_per_art_px=metres_per_px / pitch_m,
                    active=(bezel, bezel, bezel + w, bezel + h))


def screen_content(content: Frame, rng_params: dict[str, float]) -> Frame:
    """What the display emits for a frame of content (gamma, colour temperature, brightness)."""
    img = _to_float(content)
    img = np.power(img, rng_params["gamma"]) * rng_params["brightness"]
    img = img * np.array([rng_params["blue"], 1.0, rng_params["red"]], np.float32)
    return _to_uint8(img)


# --- scene and camera -----------------------------------------------------------------------


def background(rng: np.random.Generator) -> npt.NDArray[np.float32]:
    """A plain room behind the attacker: a lit wall gradient, a door frame, a shelf."""
    yy, xx = np.mgrid[0:FRAME_H, 0:FRAME_W].astype(np.float32)
    base = rng.uniform(0.35, 0.75)
    wall = base + rng.uniform(-0.15, 0.15) * xx / FRAME_W + rng.uniform(-0.1, 0.1) * yy / FRAME_H
    tint = rng.uniform(0.85, 1.1, 3).astype(np.float32)
    img = np.clip(wall[..., None] * tint, 0, 1)
    for _ in range(rng.integers(1, 4)):
        x0, y0 = rng.integers(0, FRAME_W - 40), rng.integers(0, FRAME_H - 40)
        x1, y1 = x0 + rng.integers(30, 260), y0 + rng.integers(30, 300)
        img[y0:y1, x0:x1] = rng.uniform(0.1, 0.9, 3)
    img = cv2.GaussianBlur(img, (0, 0), 1.2)
    return img.astype(np.float32)


@dataclass
class CameraModel:
    """The door camera's own imperfections, applied to genuine and attack frames alike."""

    defocus_sigma: float
    noise_sigma: float
    jpeg_quality: int
    exposure_drift: float
    flicker_amp: float
    flicker_hz: float
    phase: float
    _bank: npt.NDArray[np.float32] | None = field(default=None, repr=False)

    @classmethod
    def random(cls, rng: np.random.Generator) -> CameraModel:
        return cls(
            defocus_sigma=rng.uniform(0.3, 1.0),
            noise_sigma=rng.uniform(1.0, 4.0),
            jpeg_quality=int(rng.integers(70, 93)),
            exposure_drift=rng.uniform(0.0, 0.06),
            flicker_amp=rng.uniform(0.0, 0.04),
            flicker_hz=rng.uniform(3.0, 11.0),  # mains flicker aliased by the frame rate
            phase=rng.uniform(0, 2 * np.pi),
        )

    def gain(self, t: float) -> float:
        return 1.0 + self.exposure_drift * np.sin(0.4 * t + self.phase) \
            + self.flicker_amp * np.sin(2 * np.pi * self.flicker_hz * t + self.phase)

    def shoot(self, light: npt.NDArray[np.float32], t: float, rng: np.random.Generator
              ) -> Frame:
        """Turn scene radiance (BGR float in [0, 1]) into the camera's JPEG-decoded frame."""
        img = light * np.float32(self.gain(t) * 255.0)
        if self.defocus_sigma > 0.35:
            img = cv2.GaussianBlur(img, (0, 0), self.defocus_sigma)
        img += self._noise(rng, img.shape)
        frame = np.clip(img, 0, 255, out=img).astype(np.uint8)
        ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
        if not ok:  # pragma: no cover - OpenCV always encodes a uint8 frame
            return frame
        return cv2.imdecode(data, cv2.IMREAD_COLOR)

    def _noise(self, rng: np.random.Generator, shape: tuple[int, ...]
               ) -> npt.NDArray[np.float32]:
        # Drawing 1M normal samples a frame dominated the rendering time: a small bank of
        # noise frames, picked at random, is indistinguishable for a per-frame cue.
        if self._bank is None or self._bank.shape[1:] != shape:
            self._bank = rng.standard_normal((4, *shape), dtype=np.float32) \
                * np.float32(self.noise_sigma)
        return self._bank[int(rng.integers(0, len(self._bank)))]


def _motion_blur(img: npt.NDArray[np.float32], mask: npt.NDArray[np.float32],
                 velocity_px: tuple[float, float]) -> tuple[npt.NDArray[np.float32], ...]:
    """Blur the artefact layer along its motion during the exposure."""
    length = float(np.hypot(*velocity_px))
    if length < 1.0:
        return img, mask
    size = int(min(15, np.ceil(length))) | 1
    kernel = np.zeros((size, size), np.float32)
    c = size // 2
    angle = np.arctan2(velocity_px[1], velocity_px[0])
    for k in np.linspace(-c, c, 2 * size):
        x, y = int(round(c + k * np.cos(angle))), int(round(c + k * np.sin(angle)))
        kernel[y, x] = 1.0
    kernel /= kernel.sum()
    return cv2.filter2D(img, -1, kernel), cv2.filter2D(mask, -1, kernel)


# --- rendering an attack stream -------------------------------------------------------------


@dataclass
class _Scene:
    artefact: Artefact
    pose: Pose
    camera: CameraModel
    room: npt.NDArray[np.float32]
    light_dir: Float
    moire_amp: float
    glare_amp: float
    glare_pos: tuple[float, float]
    display: dict[str, float]
    anchor: Float  # where the face sits in the frame (pixels)


def _render_frame(scene: _Scene, i: int, t: float, rng: np.random.Generator,
                  content: Frame | None = None) -> Frame:
    art, pose = scene.artefact, scene.pose
    rotation = _rotation(pose.roll[i], pose.yaw[i], pose.pitch[i])
    # Keep the face near the anchor: place the artefact so its face centre projects there.
    ray = np.array([(scene.anchor[0] - FRAME_W / 2) / FOCAL_PX,
                    (scene.anchor[1] - FRAME_H / 2) / FOCAL_PX, 1.0])
    translation = ray * pose.z[i] + np.array([pose.tx[i], pose.ty[i], 0.0])
    cx, cy = art.face_centre_px
    map_x, map_y, cos_n = _ray_maps(rotation, translation, float(pose.bend[i]),
                                    art.metres_per_px, art.image.shape[1], art.image.shape[0],
                                    (cx, cy))
    texture = art.image
    if content is not None:
        x0, y0, x1, y1 = art.active
        texture = art.image.copy()
        texture[y0:y1, x0:x1] = content
    # remapping 8-bit textures is ~4x faster than float ones; the optics work in float
    layer = cv2.remap(texture, map_x, map_y, cv2.INTER_LINEAR,
                      borderMode=cv2.BORDER_CONSTANT).astype(np.float32) / np.float32(255.0)
    inside = (map_x >= 0).astype(np.float32)
    if art.emissive:
        layer = _screen_optics(scene, layer, map_x, map_y, i, t)
    else:
        normal = rotation[:, 2]
        shade = 0.55 + 0.45 * max(0.0, float(-normal @ scene.light_dir))
        layer = layer * shade * (0.9 + 0.1 * float(cos_n))
    # motion of the face centre between frames -> blur during the exposure
    if i > 0:
        prev_rot = _rotation(pose.roll[i - 1], pose.yaw[i - 1], pose.pitch[i - 1])
        prev_t = ray * pose.z[i - 1] + np.array([pose.tx[i - 1], pose.ty[i - 1], 0.0])
        now = _project(rotation, translation)
        before = _project(prev_rot, prev_t)
        velocity = (now - before) * 0.5  # the shutter is open about half the frame time
        layer, inside = _motion_blur(layer, inside, (float(velocity[0]), float(velocity[1])))
    light = scene.room * (1.0 - inside[..., None]) + layer * inside[..., None]
    return scene.camera.shoot(light.astype(np.float32), t, rng)


def _project(rotation: Float, translation: Float) -> Float:
    p = rotation @ np.zeros(3) + translation
    return np.array([FOCAL_PX * p[0] / p[2] + FRAME_W / 2, FOCAL_PX * p[1] / p[2] + FRAME_H / 2])


def _screen_optics(scene: _Scene, layer: npt.NDArray[np.float32],
                   map_x: npt.NDArray[np.float32], map_y: npt.NDArray[np.float32],
                   i: int, t: float) -> npt.NDArray[np.float32]:
    """Moire of the display's pixel grid as sampled by the camera, glare and back-light
    flicker."""
    art = scene.artefact
    k = art.screen_px_per_art_px
    u = map_x * k
    v = map_y * k
    out = layer.copy()
    if scene.moire_amp > 0:
        rows = 1.0 - 0.5 * scene.moire_amp * (1.0 - np.cos(2 * np.pi * v))
        for channel, phase in ((2, 0.0), (1, 1 / 3), (0, 2 / 3)):  # RGB stripes, BGR order
            stripe = 1.0 - scene.moire_amp * (1.0 - np.cos(2 * np.pi * (u - phase))) * 0.5
            out[..., channel] *= stripe * rows
    if scene.glare_amp > 0:
        gx = scene.glare_pos[0] - 40.0 * scene.pose.yaw[i]
        gy = scene.glare_pos[1] - 40.0 * scene.pose.pitch[i]
        h, w = art.image.shape[:2]
        sigma = 0.25 * max(h, w)
        d2 = ((map_x - gx * w) ** 2 + (map_y - gy * h) ** 2) / (2 * sigma * sigma)
        out += (scene.glare_amp * np.exp(-d2))[..., None].astype(np.float32)
    out *= 1.0 + 0.03 * np.sin(2 * np.pi * 9.0 * t)
    return out


def _scene(rng: np.random.Generator, artefact: Artefact, n_frames: int, fps: float,
           face_px: float, style: str, kind: AttackKind) -> _Scene:
    # distance at which the face appears face_px wide
    distance = FOCAL_PX * artefact.metres_per_px * artefact.face_px / face_px
    pose = handheld_pose(rng, n_frames, fps, distance, style)
    if kind is AttackKind.PRINT:
        t = np.arange(n_frames) / fps
        base = rng.uniform(0.0, 6.0)
        flex = base + _sway(rng, t, rng.uniform(0.0, 3.0), 0.2, 1.0, parts=2)
        pose = Pose(pose.tx, pose.ty, pose.z, pose.roll, pose.yaw, pose.pitch,
                    flex * rng.choice([-1.0, 1.0]))
    light = np.array([rng.uniform(-0.4, 0.4), rng.uniform(-0.8, -0.3), 1.0])
    light /= np.linalg.norm(light)
    anchor = np.array([FRAME_W / 2 + rng.uniform(-60, 60), FRAME_H / 2 + rng.uniform(-40, 30)])
    return _Scene(
        artefact=artefact, pose=pose, camera=CameraModel.random(rng), room=background(rng),
        light_dir=-light, moire_amp=rng.uniform(0.02, 0.5) if artefact.emissive else 0.0,
        glare_amp=rng.uniform(0.0, 0.35) if artefact.emissive else 0.0,
        glare_pos=(rng.uniform(0.1, 0.9), rng.uniform(0.1, 0.9)),
        display={"gamma": rng.uniform(0.8, 1.25), "brightness": rng.uniform(0.8, 1.15),
                 "blue": rng.uniform(1.0, 1.12), "red": rng.uniform(0.88, 1.0)},
        anchor=anchor,
    )


def photo_attack(kind: AttackKind, content: Frame, face_box: tuple[float, float, float, float],
                 *, name: str, source: str, split: Split, seed: int,
                 duration_s: float = ATTACK_DURATION_S, fps: float = CAMERA_FPS) -> Stream:
    """A still photo presented as a print or on a screen, held by hand.

    Args:
        kind: :attr:`AttackKind.PRINT` or :attr:`AttackKind.SCREEN`.
        content: the photo (BGR).
        face_box: the face in ``content`` ``(x, y, w, h)``.
        name, source, split, seed: stream identity (see :class:`Stream`).
    """
    if kind not in (AttackKind.PRINT, AttackKind.SCREEN):
        raise ValueError(f"photo_attack makes print or screen attacks, not {kind}")
    n_frames = int(round(duration_s * fps))

    def render() -> Iterator[Frame]:
        rng = np.random.default_rng(seed)
        face_width_m = rng.uniform(0.05, 0.16)
        make = make_print if kind is AttackKind.PRINT else make_screen
        artefact = make(content, face_box, rng, face_width_m)
        style = str(rng.choice(["steady", "shake", "tilt"], p=[0.3, 0.35, 0.35]))
        scene = _scene(rng, artefact, n_frames, fps, rng.uniform(110, 260), style, kind)
        shown = screen_content(content, scene.display) if artefact.emissive else None
        for i in range(n_frames):
            yield _render_frame(scene, i, i / fps, rng, shown)

    return Stream(name, kind, split, source, seed, n_frames, fps, render)


def replay_attack(video: Path, face_box: tuple[float, float, float, float], *, name: str,
                  source: str, split: Split, seed: int, start_s: float = 0.0,
                  duration_s: float = ATTACK_DURATION_S, fps: float = CAMERA_FPS) -> Stream:
    """A video of the person played on a phone or tablet held to the door camera.

    Args:
        video: the genuine clip.
        face_box: the face in the clip's frames (its position barely changes).
        start_s: where in the clip the replay starts.
    """
    n_frames = int(round(duration_s * fps))

    def render() -> Iterator[Frame]:
        rng = np.random.default_rng(seed)
        clip = _VideoFrames(video)
        first = clip.at(start_s)
        artefact = make_screen(first, face_box, rng, rng.uniform(0.05, 0.14))
        style = str(rng.choice(["steady", "shake", "tilt"], p=[0.4, 0.4, 0.2]))
        scene = _scene(rng, artefact, n_frames, fps, rng.uniform(110, 260), style,
                       AttackKind.REPLAY)
        for i in range(n_frames):
            t = i / fps
            shown = screen_content(clip.at(start_s + t), scene.display)
            yield _render_frame(scene, i, t, rng, shown)
        clip.close()

    return Stream(name, AttackKind.REPLAY, split, source, seed, n_frames, fps, render)


def real_attack_photo(kind: AttackKind, photo: Frame, *, name: str, source: str, split: Split,
                      seed: int, duration_s: float = ATTACK_DURATION_S,
                      fps: float = CAMERA_FPS) -> Stream:
    """A photo of a real attack (a print or a tablet held to a phone camera), shaken by hand.

    The photo is already a camera's view of the artefact in a room, so the hand-held motion
    is applied as the homography a moving sheet makes in a still camera, to the whole
    picture (cropped to 4:3 and scaled to the door camera's frame).
    """
    if kind not in (AttackKind.REAL_PRINT, AttackKind.REAL_SCREEN):
        raise ValueError(f"real_attack_photo takes real print or screen photos, not {kind}")
    n_frames = int(round(duration_s * fps))

    def render() -> Iterator[Frame]:
        rng = np.random.default_rng(seed)
        view = _to_float(_fit_4_3(photo))
        style = str(rng.choice(["steady", "shake", "tilt"], p=[0.3, 0.4, 0.3]))
        pose = handheld_pose(rng, n_frames, fps, 0.4, style)
        camera = CameraModel.random(rng)
        # the picture is treated as a plane 0.4 m away filling the frame
        metres_per_px = 0.4 / FOCAL_PX
        for i in range(n_frames):
            rotation = _rotation(pose.roll[i] * 0.5, pose.yaw[i] * 0.4, pose.pitch[i] * 0.4)
            translation = np.array([pose.tx[i], pose.ty[i], pose.z[i]])
            map_x, map_y, _ = _ray_maps(rotation, translation, 0.0, metres_per_px,
                                        FRAME_W, FRAME_H, (FRAME_W / 2, FRAME_H / 2))
            layer = cv2.remap(view, map_x, map_y, cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REFLECT)
            yield camera.shoot(layer, i / fps, rng)

    return Stream(name, kind, split, source, seed, n_frames, fps, render)


def genuine_stream(video: Path, face_box: tuple[float, float, float, float], *, name: str,
                   split: Split, seed: int, start_s: float,
                   duration_s: float = GENUINE_DURATION_S, mirror: bool = False,
                   frame_step: int = 1) -> Stream:
    """A window of the real selfie video as the door camera would see it.

    The portrait clip is scaled so the face is as wide as at the door (150-260 px), placed
    in a 640 x 480 frame (the clip's edge columns stretched out to fill it), and passed
    through the same camera model as the attacks.

    Args:
        video: the genuine clip.
        face_box: the face in the clip's first frame.
        start_s: where the window starts in the clip.
        mirror: flip left-right (another camera mounting).
        frame_step: keep every n-th frame (2 imitates a 12 fps camera).
    """
    probe = _VideoFrames(video)
    clip_fps, total = probe.fps, probe.count
    probe.close()
    fps = clip_fps / frame_step
    first = int(start_s * clip_fps)
    n_frames = min(int(round(duration_s * fps)), (total - first) // frame_step)
    if n_frames <= 0:
        raise ValueError(f"start {start_s} s is past the end of {video}")

    def render() -> Iterator[Frame]:
        rng = np.random.default_rng(seed)
        camera = CameraModel.random(rng)
        scale = rng.uniform(150, 260) / face_box[2]
        clip = _VideoFrames(video)
        centre_x = (face_box[0] + face_box[2] / 2) * scale
        centre_y = (face_box[1] + face_box[3] / 2) * scale
        # where the face lands in the door frame
        anchor_x = FRAME_W / 2 + rng.uniform(-60, 60)
        anchor_y = FRAME_H / 2 + rng.uniform(-40, 30)
        shift = np.array([[scale, 0.0, anchor_x - centre_x], [0.0, scale, anchor_y - centre_y]])
        for i in range(n_frames):
            frame = clip.at((first + i * frame_step + 0.5) / clip_fps)
            view = cv2.warpAffine(frame, shift, (FRAME_W, FRAME_H), flags=cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_REPLICATE)
            if mirror:
                view = np.ascontiguousarray(view[:, ::-1])
            yield camera.shoot(_to_float(view), i / fps, rng)
        clip.close()

    return Stream(name, None, split, video.name, seed, n_frames, fps, render)


class _VideoFrames:
    """Sequential random access to a video's frames by time (decodes forward only)."""

    def __init__(self, path: Path) -> None:
        self._cap = cv2.VideoCapture(str(path))
        if not self._cap.isOpened():
            raise OSError(f"cannot open video {path}")
        self.fps = float(self._cap.get(cv2.CAP_PROP_FPS)) or 24.0
        self.count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self._index = -1
        self._frame: Frame | None = None

    def at(self, t: float) -> Frame:
        target = min(int(t * self.fps), max(self.count - 1, 0))
        if target < self._index:
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, target)
            self._index = target - 1
        while self._index < target or self._frame is None:
            ok, frame = self._cap.read()
            if not ok:
                break
            self._frame = frame
            self._index += 1
        if self._frame is None:
            raise OSError("the video has no frames")
        return self._frame

    def close(self) -> None:
        self._cap.release()


def _fit_4_3(photo: Frame) -> Frame:
    """Crop a photo to 4:3 landscape around its upper-middle part and scale to the frame."""
    h, w = photo.shape[:2]
    if w / h > 4 / 3:
        crop_w, crop_h = int(h * 4 / 3), h
    else:
        crop_w, crop_h = w, int(w * 3 / 4)
    x0 = (w - crop_w) // 2
    y0 = int(np.clip(h * 0.4 - crop_h / 2, 0, h - crop_h))
    view = photo[y0:y0 + crop_h, x0:x0 + crop_w]
    return cv2.resize(view, (FRAME_W, FRAME_H), interpolation=cv2.INTER_AREA)


def load_photo(path: Path) -> Frame:
    """Read a source photo upright (EXIF orientation applied: the 640 x 480 ``spoof/`` photos
    are stored sideways with an orientation tag)."""
    return read_image(path)
