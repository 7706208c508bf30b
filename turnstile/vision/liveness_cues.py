"""The individual liveness cues: eye blinks, screen moire, face/background motion, head turn.

Each cue is a small stateful object fed one frame at a time by
:class:`turnstile.vision.liveness.LivenessTracker`, cheap enough for every frame (well under
a millisecond each on one core). They work on the face mesh's points (MediaPipe Face Mesh,
468 points in frame pixels, see :mod:`turnstile.vision.landmarks`) and on small crops of the
frame.

Thresholds are named constants; each docstring says which way is stricter and where the
value comes from (``turnstile eval liveness``, tuning split only).
"""

from __future__ import annotations

import copy
import logging
from collections import deque
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from turnstile.vision.types import Frame

log = logging.getLogger(__name__)

Points = npt.NDArray[np.float32]
Gray = npt.NDArray[Any]
"""A single-channel 8-bit image (typed loosely: OpenCV's stubs do not keep dtypes)."""

# Face-mesh indices (MediaPipe canonical face model). "Right" is the subject's right, which
# is on the left of a camera image.
RIGHT_EYE_OUTER, RIGHT_EYE_INNER = 33, 133
LEFT_EYE_INNER, LEFT_EYE_OUTER = 362, 263
NOSE_TIP = 1
RIGHT_CHEEK, LEFT_CHEEK = 234, 454

# --- eye blinks -----------------------------------------------------------------------------

PATCH_W, PATCH_H = 48, 32
"""Size of the canonical eye patch: the eye's corners land on fixed points 32 px apart."""

EYE_CORNER_DST = np.array([[8.0, 16.0], [40.0, 16.0]])
BRIDGE_DST_Y = 2.0
"""The nose-bridge control patch hangs below the line between the eyes' middles."""

BLINK_CLOSED_NCC = 0.80
"""An eye counts as changed (closing) when its patch correlates less than this with the
open-eye template, in both eyes at once. Higher is more lenient (more blinks found, more
false blinks from noise). Genuine blinks reach 0.41-0.65; shaken prints stay above 0.81."""

BLINK_OPEN_NCC = 0.90
"""The eyes count as open again above this correlation (hysteresis with the closed level)."""

BRIDGE_MIN_NCC = 0.95
"""Frames whose nose-bridge patch correlates less than this with its template are ignored by
the blink detector: the whole face changed (motion blur, a screen's moire, a lighting jump),
so a change of the eyes proves nothing. Lower is more lenient."""

MAX_CLOSED_S = 4.0
"""A closure longer than this is not a blink; the open-eye templates are renewed."""

TEMPLATE_RATE = 0.15
"""Weight of the current patch in the running templates (exponential moving average)."""


def _ncc(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> float:
    a = a - a.mean()
    b = b - b.mean()
    denom = float(np.sqrt(float((a * a).sum()) * float((b * b).sum())))
    return float((a * b).sum()) / denom if denom > 1e-6 else 1.0


def _patch(frame: Frame, a: npt.NDArray[np.float64], b: npt.NDArray[np.float64],
           dst_y: float) -> npt.NDArray[np.float32]:
    """A gray ``PATCH_H x PATCH_W`` crop whose x-axis runs from point ``a`` to point ``b``."""
    d = b - a
    length = float(np.hypot(d[0], d[1]))
    if length < 1e-3:
        return np.zeros((PATCH_H, PATCH_W), np.float32)
    scale = (EYE_CORNER_DST[1, 0] - EYE_CORNER_DST[0, 0]) / length
    cos, sin = d[0] / length * scale, d[1] / length * scale
    matrix = np.array([[cos, sin, 0.0], [-sin, cos, 0.0]])
    matrix[:, 2] = np.array([EYE_CORNER_DST[0, 0], dst_y]) - matrix[:, :2] @ a
    crop = cv2.warpAffine(frame, matrix, (PATCH_W, PATCH_H), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
    return cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY).astype(np.float32)


@dataclass
class BlinkSample:
    """What the blink cue saw in one frame."""

    eyes_ncc: float  # the higher of the two eyes' correlations: low only if both changed
    bridge_ncc: float
    usable: bool
    blinked: bool  # a blink completed in this frame


class BlinkCue:
    """Counts eye blinks as a change of both eyes' appearance the rest of the face lacks.

    Each eye is cut out in a canonical frame fixed by its two corners (which do not move when
    the lid closes) and compared by normalised cross-correlation with a running template of
    the open eye. A blink is: both eyes' correlations fall below :data:`BLINK_CLOSED_NCC`
    and come back above :data:`BLINK_OPEN_NCC` within :data:`MAX_CLOSED_S`, in frames where
    the nose bridge (cut out the same way) did not change. A photo cannot do this; shaking,
    tilting or bending it changes the whole face, not the eyes alone. The appearance test is
    used rather than the mesh's eye-aspect ratio, which moves only ~10 % in a blink (the mesh
    model does not follow the lids) and as much when a photo is tilted.
    """

    def __init__(self) -> None:
        self.blinks: list[float] = []
        self._templates: list[npt.NDArray[np.float32]] | None = None
        self._closed_at: float | None = None
        self.min_eyes_ncc = 1.0

    def reset(self) -> None:
        self.__init__()  # type: ignore[misc]

    def fork(self) -> BlinkCue:
        """An independent copy (the templates are blended in place)."""
        fork = copy.copy(self)
        fork.blinks = list(self.blinks)
        if self._templates is not None:
            fork._templates = [tpl.copy() for tpl in self._templates]
        return fork

    def update(self, frame: Frame, points: Points, t: float) -> BlinkSample:
        p = points.astype(np.float64)
        patches = [
            _patch(frame, p[RIGHT_EYE_OUTER], p[RIGHT_EYE_INNER], EYE_CORNER_DST[0, 1]),
            _patch(frame, p[LEFT_EYE_INNER], p[LEFT_EYE_OUTER], EYE_CORNER_DST[0, 1]),
            _patch(frame, (p[RIGHT_EYE_OUTER] + p[LEFT_EYE_INNER]) / 2,
                   (p[RIGHT_EYE_INNER] + p[LEFT_EYE_OUTER]) / 2, BRIDGE_DST_Y),
        ]
        if self._templates is None:
            self._templates = [q.copy() for q in patches]
            return BlinkSample(1.0, 1.0, True, False)
        right, left, bridge = (_ncc(q, tpl) for q, tpl in zip(patches, self._templates))
        eyes = max(right, left)
        usable = bridge >= BRIDGE_MIN_NCC
        blinked = False
        # the bridge template follows slow changes (pose, light) in every usable frame
        if usable:
            self._blend(2, patches[2])
        if self._closed_at is None:
            if usable and eyes < BLINK_CLOSED_NCC:
                self._closed_at = t
                self.min_eyes_ncc = min(self.min_eyes_ncc, eyes)
            elif usable and eyes >= BLINK_OPEN_NCC:
                self._blend(0, patches[0])
                self._blend(1, patches[1])
        else:
            if usable:
                self.min_eyes_ncc = min(self.min_eyes_ncc, eyes)
            if t - self._closed_at > MAX_CLOSED_S:
                # not a blink (eyes kept shut, or the templates went stale): start again
                self._templates = [q.copy() for q in patches]
                self._closed_at = None
            elif usable and eyes >= BLINK_OPEN_NCC:
                self.blinks.append(t)
                self._closed_at = None
                blinked = True
        return BlinkSample(eyes, bridge, usable, blinked)

    def _blend(self, index: int, patch: npt.NDArray[np.float32]) -> None:
        assert self._templates is not None
        tpl = self._templates[index]
        tpl *= 1.0 - TEMPLATE_RATE
        tpl += TEMPLATE_RATE * patch


# --- screen moire ---------------------------------------------------------------------------

MOIRE_CROP_PX = 64
"""Side of the square of native frame pixels analysed, centred on the nose bridge."""

MOIRE_MIN_BIN = 4
"""Frequencies below this many cycles per crop are the face's own shading, not a grid."""

MOIRE_TOP_PEAKS = 6
"""The score averages this many strongest isolated peaks of the spectrum."""


def _moire_band(n: int) -> npt.NDArray[np.bool_]:
    fy, fx = np.meshgrid(np.fft.fftfreq(n) * n, np.fft.fftfreq(n) * n, indexing="ij")
    radius = np.hypot(fx, fy)
    band = (radius >= MOIRE_MIN_BIN) & (radius <= n / 2)
    # JPEG's 8 x 8 blocks put peaks at multiples of n/8 cycles on the axes and grid lines;
    # every webcam stream has them, so they say nothing about a screen.
    block = n // 8
    on_block_x = np.abs(np.abs(fx) % block) <= 0.5
    on_block_y = np.abs(np.abs(fy) % block) <= 0.5
    return band & ~(on_block_x & on_block_y)


_BAND = _moire_band(MOIRE_CROP_PX)
_WINDOW = np.outer(np.hanning(MOIRE_CROP_PX), np.hanning(MOIRE_CROP_PX)).astype(np.float32)


def moire_score(frame: Frame, centre: tuple[float, float]) -> float:
    """How peaky the face's fine texture spectrum is (log-magnitude above its local median).

    A camera filming a display samples the display's pixel grid and folds it into beat
    patterns (moire): sharp, isolated peaks in the spectrum of the skin's fine texture. Skin
    and paper give a smooth spectrum. About 1.0-1.2 for live faces and prints; screens with
    visible moire score 1.3 and more.
    """
    crop = cv2.getRectSubPix(frame, (MOIRE_CROP_PX, MOIRE_CROP_PX), centre)
    gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY).astype(np.float32)
    gray -= cv2.GaussianBlur(gray, (0, 0), 3.0)  # keep the fine texture only
    spectrum = np.abs(np.fft.fft2(gray * _WINDOW)).astype(np.float32)
    log_mag = np.log(spectrum + 1e-3)
    excess = (log_mag - cv2.medianBlur(log_mag, 5))[_BAND]
    top = np.partition(excess, -MOIRE_TOP_PEAKS)[-MOIRE_TOP_PEAKS:]
    return float(top.mean())


# --- face vs surroundings motion ------------------------------------------------------------

MOTION_WIDTH_PX = 320
"""Frames are tracked at this width (half of 640 x 480): enough for the motion of a face."""

MOTION_LAG_S = 0.5
"""Motion is measured between each frame and the frame this long before it."""

MOTION_MIN_FACE_PX = 1.5
"""Only moments where the face moved at least this much (median, at tracking width) are
judged for coherence: a still face and a still background are both consistent with anything."""

MOTION_TOLERANCE_PX = 0.6
"""A surrounding point "moves with the face" when the face's motion predicts its position
within this many pixels (at tracking width) and it also moved away from where it was."""

EDGE_MIN_SHIFT_PX = 3.0
"""A straight edge is tested for moving with the face only when the face's motion would
move it at least this far (at tracking width); smaller shifts cannot tell."""

EDGE_LOCKED_SUPPORT = 0.6
"""Share of a straight edge found again where the face's motion predicts it, above which
it moved with the face. Lower is stricter (more edges count as locked to the face)."""

EDGE_STATIC_SUPPORT = 0.3
"""...while at most this share of it is still where it was (it did not stay put)."""

EDGE_MIN_LENGTH = 0.8
"""Straight edges shorter than this many face heights are ignored (hair, collars)."""

_LK_WINDOW = (11, 11)
_LK_LEVELS = 3
_LK_STOP = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.03)
_CANNY = (40, 120)
_RIGID = [RIGHT_EYE_OUTER, RIGHT_EYE_INNER, LEFT_EYE_INNER, LEFT_EYE_OUTER, NOSE_TIP,
          RIGHT_CHEEK, LEFT_CHEEK, 10, 152]
"""Mesh points that move with the skull (eye corners, nose tip, cheeks, forehead, chin)."""


@dataclass
class MotionSample:
    """The motion of one frame against the frame :data:`MOTION_LAG_S` before it.

    Attributes:
        face_motion_px: median motion of the face's corner points (at tracking width).
        coherence: share of the surrounding points that moved with the face, or None when
            the motion could not tell.
        edge_locked: a long straight edge beside the face (a sheet's or a screen's border)
            moved with the face; None when no edge could be tested.
    """

    face_motion_px: float
    coherence: float | None
    edge_locked: bool | None


@dataclass
class _Reference:
    t: float
    gray: Gray
    face_pts: Points
    ring_pts: Points
    rigid: Points  # mesh points that move with the skull, at tracking scale
    edges: list[tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]]


class MotionCue:
    """Does the face move on its own, or together with what surrounds it?

    A live person moves in front of a still room: when the head moves, the wall beside it
    and the door frame behind it do not. A photo or a screen is one object: the face and
    everything around it on the sheet or display (the photo's background, the paper's edge,
    the screen's bezel) move together. Every third frame is kept as a reference; the frame
    :data:`MOTION_LAG_S` later is compared with it in two ways:

    * **coherence** (the face/background motion correlation of Anjos & Marcel, IJCB 2011):
      corners in the face and in a ring beside and above the head (below are the neck and
      shoulders, which follow a live head) are tracked; the face's motion is fitted by a
      homography and the ring points it predicts, that did move, are counted;
    * **edge lock**: long straight edges beside the face (longer than
      :data:`EDGE_MIN_LENGTH` face heights) are moved by the face's motion (a similarity
      fitted to the mesh points of the skull); an edge found again where the face's motion
      puts it, and no longer where it was, is the border of the thing the face is on.

    The door camera is assumed fixed (a camera that shakes moves the background too).
    """

    def __init__(self) -> None:
        self._refs: deque[_Reference] = deque()
        self._new_ref: tuple[float, Gray, Points, tuple[float, ...]] | None = None
        self._count = 0

    def reset(self) -> None:
        self.__init__()  # type: ignore[misc]

    def fork(self) -> MotionCue:
        """An independent copy (references are added and dropped, never changed)."""
        fork = copy.copy(self)
        fork._refs = deque(self._refs)
        return fork

    def update(self, frame: Frame, box: tuple[float, float, float, float], points: Points,
               t: float) -> MotionSample | None:
        scale = MOTION_WIDTH_PX / frame.shape[1]
        rigid = (points[_RIGID] * scale).astype(np.float32)
        sbox = tuple(float(v) * scale for v in box)
        sample = None
        while self._refs and t - self._refs[0].t > MOTION_LAG_S * 1.5:
            self._refs.popleft()
        compare = bool(self._refs) and t - self._refs[0].t >= MOTION_LAG_S
        # A reference is taken every third frame and its corners and edges are found on the
        # next frame, so that work and the comparison (due a whole number of thirds later)
        # fall on different frames: no frame pays for both.
        take = self._count % 3 == 0
        gray = None
        if compare or take:  # (the other frames need no image of their own)
            small = cv2.resize(frame, (MOTION_WIDTH_PX, max(1, round(frame.shape[0] * scale))),
                               interpolation=cv2.INTER_LINEAR)
            gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        if compare:
            assert gray is not None
            sample = self._compare(self._refs.popleft(), gray, rigid, sbox)
        if take:
            assert gray is not None
            self._new_ref = (t, gray, rigid, sbox)
        elif self._new_ref is not None:
            ref_t, ref_gray, ref_rigid, ref_box = self._new_ref
            self._new_ref = None
            face_pts, ring_pts = self._features(ref_gray, ref_box)
            if len(face_pts) >= 8:
                self._refs.append(_Reference(ref_t, ref_gray, face_pts, ring_pts, ref_rigid,
                                             _long_edges(ref_gray, ref_box)))
        self._count += 1
        return sample

    @staticmethod
    def _features(gray: Gray, box: tuple[float, ...]
                  ) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
        x, y, w, h = box
        height, width = gray.shape
        # corners are searched in crops (the detector's cost grows with the image it scans)
        ix0, ix1 = int(max(0, x + 0.15 * w)), int(min(width, x + 0.85 * w))
        iy0, iy1 = int(max(0, y + 0.15 * h)), int(min(height, y + 0.9 * h))
        rx0, rx1 = int(max(0, x - 0.9 * w)), int(min(width, x + 1.9 * w))
        ry0, ry1 = int(max(0, y - 0.6 * h)), int(min(height, y + 0.8 * h))
        empty = np.zeros((0, 1, 2), np.float32)
        face = around = None
        if ix1 - ix0 >= 8 and iy1 - iy0 >= 8:
            face = cv2.goodFeaturesToTrack(gray[iy0:iy1, ix0:ix1], 40, 0.01, 3)
        if rx1 - rx0 >= 8 and ry1 - ry0 >= 8:
            ring = np.full((ry1 - ry0, rx1 - rx0), 255, np.uint8)
            # not the head itself, nor below it (neck and shoulders follow a live head)
            hole_y = max(0, int(max(0, y - 0.25 * h)) - ry0)
            hole_x0 = max(0, int(max(0, x - 0.2 * w)) - rx0)
            hole_x1 = max(0, int(min(width, x + 1.2 * w)) - rx0)
            ring[hole_y:, hole_x0:hole_x1] = 0
            around = cv2.goodFeaturesToTrack(gray[ry0:ry1, rx0:rx1], 40, 0.01, 4, mask=ring)
        if face is None:
            face = empty
        else:
            face = (face + np.array([ix0, iy0], np.float32)).astype(np.float32)
        if around is None:
            around = empty
        else:
            around = (around + np.array([rx0, ry0], np.float32)).astype(np.float32)
        return face, around

    @staticmethod
    def _track(a: Gray, b: Gray, pts: Points
               ) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
        if len(pts) == 0:
            return pts.reshape(-1, 2), pts.reshape(-1, 2)
        # (OpenCV's stubs lack the documented ``nextPts=None``)
        fwd, status, _ = cv2.calcOpticalFlowPyrLK(  # type: ignore[call-overload]
            a, b, pts, None, winSize=_LK_WINDOW, maxLevel=_LK_LEVELS, criteria=_LK_STOP)
        back, status_b, _ = cv2.calcOpticalFlowPyrLK(  # type: ignore[call-overload]
            b, a, fwd, None, winSize=_LK_WINDOW, maxLevel=_LK_LEVELS, criteria=_LK_STOP)
        good = (status[:, 0] == 1) & (status_b[:, 0] == 1) \
            & (np.linalg.norm(back - pts, axis=2)[:, 0] < 0.5)
        return pts[good, 0], fwd[good, 0]

    def _compare(self, ref: _Reference, now: Gray, rigid: Points,
                 box: tuple[float, ...]) -> MotionSample | None:
        edge_locked = self._edge_lock(ref, now, rigid, box)
        a, b = self._track(ref.gray, now, ref.face_pts)
        if len(a) < 8:
            return MotionSample(0.0, None, edge_locked)
        motion = float(np.median(np.linalg.norm(b - a, axis=1)))
        if motion < MOTION_MIN_FACE_PX:
            return MotionSample(motion, None, edge_locked)
        homography, _ = cv2.findHomography(a, b, cv2.RANSAC, 1.0)
        if homography is None:
            return MotionSample(motion, None, edge_locked)
        q, q_now = self._track(ref.gray, now, ref.ring_pts)
        if len(q) < 5:
            return MotionSample(motion, None, edge_locked)
        predicted = cv2.perspectiveTransform(q[None].astype(np.float64), homography)[0]
        moved = np.linalg.norm(q_now - q, axis=1)
        # only points where "moves with the face" and "stays put" predict different places
        telling = np.linalg.norm(predicted - q, axis=1) > 3 * MOTION_TOLERANCE_PX
        if telling.sum() < 5:
            return MotionSample(motion, None, edge_locked)
        with_face = (np.linalg.norm(predicted - q_now, axis=1) < MOTION_TOLERANCE_PX) \
            & (moved > MOTION_TOLERANCE_PX)
        return MotionSample(motion, float(with_face[telling].mean()), edge_locked)

    @staticmethod
    def _edge_lock(ref: _Reference, now: Gray, rigid: Points,
                   box: tuple[float, ...]) -> bool | None:
        if not ref.edges:
            return None
        similarity, _ = cv2.estimateAffinePartial2D(ref.rigid, rigid)
        if similarity is None:
            return None
        edges = None
        tested = False
        for a, b in ref.edges:
            a2 = similarity[:, :2] @ a + similarity[:, 2]
            b2 = similarity[:, :2] @ b + similarity[:, 2]
            if min(np.hypot(*(a2 - a)), np.hypot(*(b2 - b))) < EDGE_MIN_SHIFT_PX:
                continue
            if edges is None:
                edges = cv2.dilate(cv2.Canny(now, *_CANNY), np.ones((3, 3), np.uint8))
            tested = True
            if _support(edges, a2, b2) >= EDGE_LOCKED_SUPPORT \
                    and _support(edges, a, b) <= EDGE_STATIC_SUPPORT:
                return True
        return False if tested else None


def _long_edges(gray: Gray, box: tuple[float, ...]
                ) -> list[tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]]:
    """Long straight edges around (not on) the face, in tracking pixels."""
    x, y, w, h = box
    height, width = gray.shape
    # beside and above the head, down to the chin: below are the shoulders, whose outline
    # moves with a live person too
    x0, x1 = int(max(0, x - 1.5 * w)), int(min(width, x + 2.5 * w))
    y0, y1 = int(max(0, y - 0.6 * h)), int(min(height, y + 1.2 * h))
    if x1 - x0 < 8 or y1 - y0 < 8:
        return []
    canny = cv2.Canny(gray[y0:y1, x0:x1], *_CANNY)
    found = cv2.HoughLinesP(canny, 1, np.pi / 90, threshold=max(8, int(0.4 * h)),
                            minLineLength=max(8, int(EDGE_MIN_LENGTH * h)), maxLineGap=4)
    if found is None:
        return []

    def on_face(p: npt.NDArray[np.float64]) -> bool:
        return bool(x - 0.1 * w < p[0] < x + 1.1 * w and y - 0.1 * h < p[1] < y + 1.1 * h)

    edges = []
    for seg in found.reshape(-1, 4).astype(np.float64)[:12]:
        a = seg[:2] + (x0, y0)
        b = seg[2:] + (x0, y0)
        if not (on_face(a) or on_face(b) or on_face((a + b) / 2)):
            edges.append((a, b))
    return edges


def _support(edges: Gray, a: npt.NDArray[np.float64],
             b: npt.NDArray[np.float64]) -> float:
    """Share of the points along segment ``a-b`` (inside the image) that lie on an edge."""
    n = int(np.hypot(*(b - a)))
    if n < 5:
        return 0.0
    ts = np.linspace(0.0, 1.0, n)[:, None]
    pts = np.rint(a + ts * (b - a)).astype(int)
    height, width = edges.shape
    inside = (pts[:, 0] >= 0) & (pts[:, 0] < width) & (pts[:, 1] >= 0) & (pts[:, 1] < height)
    if inside.sum() < 5:
        return 0.0
    pts = pts[inside]
    return float((edges[pts[:, 1], pts[:, 0]] > 0).mean())


# --- head turn ------------------------------------------------------------------------------


def nose_position(points: Points) -> float:
    """Where the nose tip sits between the cheeks, 0 (subject's right) to 1 (left), measured
    along the eye line.

    This ratio is unchanged by any in-plane motion, scaling or tilting of a flat picture (an
    affine map keeps ratios along a line), but moves by 0.2-0.4 when a real head turns 20-30
    degrees, because the nose stands out of the face.
    """
    p = points.astype(np.float64)
    eye_line = p[LEFT_EYE_OUTER] - p[RIGHT_EYE_OUTER]
    axis = eye_line / max(float(np.hypot(*eye_line)), 1e-6)
    xs = p[[NOSE_TIP, RIGHT_CHEEK, LEFT_CHEEK]] @ axis
    span = xs[2] - xs[1]
    if abs(span) < 1e-6:
        return 0.5
    return float((xs[0] - xs[1]) / span)
