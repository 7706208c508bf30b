"""Face detection with MediaPipe BlazeFace run by OpenCV's dnn module."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from turnstile.errors import ImageError, ModelFileError
from turnstile.vision.types import Face, Frame

log = logging.getLogger(__name__)

SHORT_RANGE_MIN_SCORE = 0.75
"""Detection threshold of the short-range model; higher is stricter (fewer false faces, more
missed faces). At 0.5 (MediaPipe's default) it sees a face in a printed emblem behind a
speaker; at 0.75 it still finds the face in each of 600 random LFW images."""

FULL_RANGE_MIN_SCORE = 0.5
"""Detection threshold of the full-range model (at 0.6 it starts to miss LFW faces)."""

NMS_IOU = 0.3
"""Boxes overlapping more than this are merged into one face (weighted by score)."""


@dataclass(frozen=True)
class BlazeFaceSpec:
    """The fixed anchor layout of one BlazeFace variant (MediaPipe SsdAnchorsCalculator)."""

    input_px: int
    strides: tuple[int, ...]
    anchors_per_cell: tuple[int, ...]

    def anchors(self) -> npt.NDArray[np.float32]:
        """Anchor centres ``(A, 2)`` in normalised input coordinates."""
        rows = []
        for stride, per_cell in zip(self.strides, self.anchors_per_cell):
            cells = self.input_px // stride
            ys, xs = np.mgrid[0:cells, 0:cells]
            centres = np.stack([(xs + 0.5) / cells, (ys + 0.5) / cells], -1).reshape(-1, 2)
            rows.append(np.repeat(centres, per_cell, axis=0))
        return np.concatenate(rows).astype(np.float32)


SHORT_RANGE = BlazeFaceSpec(input_px=128, strides=(8, 16), anchors_per_cell=(2, 6))
"""Faces within ~2 m of the camera: 896 anchors; the door's case."""

FULL_RANGE = BlazeFaceSpec(input_px=192, strides=(4,), anchors_per_cell=(1,))
"""Faces up to ~5 m: 2304 anchors, ~4x the cost of the short-range model."""


class BlazeFace:
    """One BlazeFace model run by ``cv2.dnn`` (classic engine).

    Tensor contract of the model: input float32 NCHW ``[1, 3, S, S]``, RGB scaled to
    ``[-1, 1]`` (S = 128 short range, 192 full range). Outputs ``regressors [1, A, 16]``
    (box centre offset, width, height, then six keypoints, in input pixels relative to each
    anchor) and ``classificators [1, A, 1]`` (logits). The frame is letterboxed (scaled to fit,
    padded at the right/bottom) so faces keep their shape at any frame size.

    Args:
        model_path: the BlazeFace ``.tflite`` file.
        spec: the anchor layout matching the file (:data:`SHORT_RANGE` or :data:`FULL_RANGE`).
        min_score: detection threshold.

    Raises:
        ModelFileError: the file cannot be loaded or its outputs do not match ``spec``.
    """

    def __init__(
        self,
        model_path: str | Path,
        spec: BlazeFaceSpec = SHORT_RANGE,
        *,
        min_score: float = SHORT_RANGE_MIN_SCORE,
    ) -> None:
        self.spec = spec
        self.min_score = min_score
        self._anchors = spec.anchors()
        try:
            # OpenCV 5's new engine drops the score output of this model; the classic keeps it.
            engine = getattr(cv2.dnn, "ENGINE_CLASSIC", None)
            if engine is None:
                self._net = cv2.dnn.readNetFromTFLite(str(model_path))
            else:
                self._net = cv2.dnn.readNetFromTFLite(str(model_path), engine=engine)
            self._out_names = list(self._net.getUnconnectedOutLayersNames())
            scores, boxes = self._forward(np.zeros((spec.input_px, spec.input_px, 3), np.uint8))
        except cv2.error as exc:
            raise ModelFileError(
                f"Face detector model {model_path} cannot be loaded: {exc}") from None
        if boxes.shape != (len(self._anchors), 16):
            raise ModelFileError(
                f"Face detector model {model_path} gives {boxes.shape} boxes, expected "
                f"{(len(self._anchors), 16)}: not the BlazeFace variant configured."
            )

    def _forward(self, rgb_square: Frame
                 ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        blob = cv2.dnn.blobFromImage(rgb_square, scalefactor=1 / 127.5, mean=(127.5, 127.5, 127.5))
        self._net.setInput(blob)
        outs = self._net.forward(self._out_names)
        by_width = {o.shape[-1]: o.reshape(-1, o.shape[-1]) for o in outs}
        return by_width[1][:, 0], by_width[16]

    def candidates(self, frame: Frame) -> tuple[npt.NDArray[np.float32], ...]:
        """Raw detections before merging.

        Returns:
            ``boxes (N, 4)`` as ``(x, y, w, h)``, ``points (N, 6, 2)``, both in frame pixels,
            and ``scores (N,)``.
        """
        size = self.spec.input_px
        height, width = frame.shape[:2]
        scale = size / max(height, width)
        new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        square = np.zeros((size, size, 3), np.uint8)
        square[:new_h, :new_w] = cv2.resize(frame, (new_w, new_h), interpolation=interp)
        square = cv2.cvtColor(square, cv2.COLOR_BGR2RGB)

        logits, raw = self._forward(square)
        probs = 1.0 / (1.0 + np.exp(-np.clip(logits, -80.0, 80.0)))
        keep = np.flatnonzero(probs >= self.min_score)
        raw = raw[keep] / size
        anchors = self._anchors[keep]
        centres = raw[:, 0:2] + anchors
        sizes = raw[:, 2:4]
        points = raw[:, 4:16].reshape(-1, 6, 2) + anchors[:, None, :]
        to_frame = size / scale
        boxes = np.concatenate([centres - sizes / 2, sizes], axis=1) * to_frame
        return boxes.astype(np.float32), (points * to_frame).astype(np.float32), probs[keep]


TILE_FRACTION = 0.6
"""Each of the four tiles spans this share of the frame's width and height, so neighbouring
tiles overlap by 20 % of the frame: a small face lies whole inside at least one tile."""

TILE_MAX_FACE_FRACTION = 0.3
"""Tile detections wider than this share of the tile are dropped: the whole-frame pass sees
such faces better, and a large face cut by a tile's edge would otherwise count twice."""


class FaceDetector:
    """Finds faces in frames of any size with one or more BlazeFace models.

    The short-range model alone (the door: faces wider than about 1/8 of the frame's long
    side, 80 px in 640 x 480, ~2 ms a frame), or with the full-range model run on the whole
    frame and on four overlapping tiles (photos: faces from about 1/16 of the long side,
    40 px in 640 x 480, up to filling the frame; ~70 ms). Detections are merged.

    Args:
        models: the BlazeFace models run on the whole frame.
        tile_model: a model also run on a 2 x 2 grid of overlapping tiles, for small faces.
        min_face_px: faces narrower than this (in frame pixels) are dropped.
    """

    def __init__(self, models: list[BlazeFace], *, tile_model: BlazeFace | None = None,
                 min_face_px: float = 0.0) -> None:
        if not models:
            raise ValueError("FaceDetector needs at least one model")
        self.models = models
        self.tile_model = tile_model
        self.min_face_px = min_face_px

    def detect(self, frame: Frame) -> list[Face]:
        """Find faces in a BGR frame.

        Args:
            frame: ``uint8 (H, W, 3)`` BGR, any size.

        Returns:
            Faces sorted largest first; an empty list when there is none.

        Raises:
            ImageError: the frame is not a ``uint8`` HxWx3 array.
        """
        if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 \
                or frame.shape[2] != 3 or frame.shape[0] < 1 or frame.shape[1] < 1:
            raise ImageError("A frame must be a uint8 array of shape (H, W, 3) in BGR order.")
        found = [model.candidates(frame) for model in self.models]
        if self.tile_model is not None:
            found.extend(self._tile_candidates(frame, self.tile_model))
        boxes = np.concatenate([f[0] for f in found])
        if len(boxes) == 0:
            return []
        points = np.concatenate([f[1] for f in found])
        scores = np.concatenate([f[2] for f in found])
        height, width = frame.shape[:2]
        faces = []
        for box, pts, score in _weighted_nms(boxes, points, scores):
            x, y = max(0.0, float(box[0])), max(0.0, float(box[1]))
            w = min(float(width), float(box[0] + box[2])) - x
            h = min(float(height), float(box[1] + box[3])) - y
            if w <= 0 or h <= 0 or box[2] < self.min_face_px:
                continue
            faces.append(Face(box=(x, y, w, h), landmarks=pts.astype(np.float32), score=score))
        faces.sort(key=lambda f: f.area, reverse=True)
        return faces

    def _tile_candidates(self, frame: Frame, model: BlazeFace
                         ) -> list[tuple[npt.NDArray[np.float32], ...]]:
        height, width = frame.shape[:2]
        tile_w, tile_h = int(width * TILE_FRACTION), int(height * TILE_FRACTION)
        if min(tile_w, tile_h) < model.spec.input_px:
            return []  # the frame is small enough for the whole-frame pass
        found = []
        for y0 in (0, height - tile_h):
            for x0 in (0, width - tile_w):
                boxes, points, scores = model.candidates(frame[y0:y0 + tile_h, x0:x0 + tile_w])
                margin = 2.0
                inside = (
                    (boxes[:, 2] <= TILE_MAX_FACE_FRACTION * max(tile_w, tile_h))
                    & ((boxes[:, 0] > margin) | (x0 == 0))
                    & ((boxes[:, 1] > margin) | (y0 == 0))
                    & ((boxes[:, 0] + boxes[:, 2] < tile_w - margin) | (x0 + tile_w >= width))
                    & ((boxes[:, 1] + boxes[:, 3] < tile_h - margin) | (y0 + tile_h >= height))
                )
                offset = np.array([x0, y0], np.float32)
                boxes = boxes[inside].copy()
                boxes[:, :2] += offset
                found.append((boxes, points[inside] + offset, scores[inside]))
        return found


def _iou(box: npt.NDArray[np.float32], others: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    x1 = np.maximum(box[0], others[:, 0])
    y1 = np.maximum(box[1], others[:, 1])
    x2 = np.minimum(box[0] + box[2], others[:, 0] + others[:, 2])
    y2 = np.minimum(box[1] + box[3], others[:, 1] + others[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    union = box[2] * box[3] + others[:, 2] * others[:, 3] - inter
    return inter / np.maximum(union, 1e-9)


def _weighted_nms(
    boxes: npt.NDArray[np.float32], points: npt.NDArray[np.float32], scores: npt.NDArray[np.float32]
) -> list[tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], float]]:
    """MediaPipe's weighted non-maximum suppression: overlapping detections are averaged,
    weighted by score, which steadies the box and keypoints from frame to frame."""
    order = np.argsort(-scores)
    boxes, points, scores = boxes[order], points[order], scores[order]
    alive = np.ones(len(scores), bool)
    merged = []
    for i in range(len(scores)):
        if not alive[i]:
            continue
        group = alive & (_iou(boxes[i], boxes) > NMS_IOU)
        group[i] = True
        alive &= ~group
        weights = scores[group][:, None]
        box = (boxes[group] * weights).sum(0) / weights.sum()
        pts = (points[group] * weights[:, :, None]).sum(0) / weights.sum()
        merged.append((box, pts, float(scores[i])))
    return merged
