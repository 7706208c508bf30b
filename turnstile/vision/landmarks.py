"""Dense face landmarks (MediaPipe Face Mesh, 468 points) for precise alignment."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from turnstile.errors import ModelFileError
from turnstile.vision.types import Face, Frame, Landmark

log = logging.getLogger(__name__)

ROI_SCALE = 1.5
"""The mesh model sees a square around the detected face this many times its box's width,
rotated so the eyes are level (MediaPipe's face-landmark graph uses the same)."""

MIN_PRESENCE = 0.5
"""Below this face-presence probability the mesh is discarded (the detector's keypoints are
used instead). Higher is stricter."""


class FaceMesh:
    """MediaPipe Face Mesh (face_landmark.tflite) run with LiteRT.

    Tensor contract: input float32 ``[1, S, S, 3]`` RGB scaled to ``[0, 1]`` (S = 192), a crop
    of the face rotated upright; outputs ``[1, 1, 1, 1404]`` = 468 points ``(x, y, z)`` in
    input pixels, and ``[1, 1, 1, 1]`` face-presence logit. ``S`` is read from the model.

    Args:
        model_path: the ``.tflite`` file.
        num_threads: CPU threads (1 is fastest for this small model).

    Raises:
        ModelFileError: the file cannot be loaded or is not a face-mesh model.
    """

    def __init__(self, model_path: str | Path, num_threads: int = 1) -> None:
        from ai_edge_litert.interpreter import Interpreter

        try:
            self._interpreter = Interpreter(model_path=str(model_path), num_threads=num_threads)
        except (ValueError, RuntimeError) as exc:
            raise ModelFileError(
                f"Face landmark model {model_path} cannot be loaded: {exc}") from None
        inp = self._interpreter.get_input_details()[0]
        outs = self._interpreter.get_output_details()
        sizes = {int(np.prod(o["shape"])): o["index"] for o in outs}
        if len(inp["shape"]) != 4 or 1404 not in sizes or 1 not in sizes:
            raise ModelFileError(
                f"Face landmark model {model_path} has outputs "
                f"{[list(o['shape']) for o in outs]}; expected 1404 mesh values and a score.")
        self.input_px = int(inp["shape"][1])
        self._in_index = inp["index"]
        self._points_index = sizes[1404]
        self._presence_index = sizes[1]
        self._interpreter.allocate_tensors()

    def landmarks(self, frame: Frame, face: Face) -> tuple[npt.NDArray[np.float32], float]:
        """The 468 mesh points of a detected face.

        Args:
            frame: BGR ``uint8 (H, W, 3)``.
            face: a detection (its box and eye keypoints place the crop).

        Returns:
            ``(points (468, 2) float32 in frame pixels, face-presence probability)``.
        """
        size = self.input_px
        x, y, w, h = face.box
        centre = np.array([x + w / 2, y + h / 2], np.float64)
        eyes = face.landmarks[[Landmark.RIGHT_EYE, Landmark.LEFT_EYE]].astype(np.float64)
        angle = float(np.arctan2(eyes[1, 1] - eyes[0, 1], eyes[1, 0] - eyes[0, 0]))
        side = ROI_SCALE * max(w, h)
        scale = size / side
        cos, sin = np.cos(angle) * scale, np.sin(angle) * scale
        # frame -> crop: rotate by -angle about the centre, scale, move the centre to the middle
        matrix = np.array([[cos, sin, 0.0], [-sin, cos, 0.0]])
        matrix[:, 2] = size / 2 - matrix[:, :2] @ centre
        crop = cv2.warpAffine(frame, matrix, (size, size), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT)
        tensor = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB).astype(np.float32)[None] / 255.0
        self._interpreter.set_tensor(self._in_index, tensor)
        self._interpreter.invoke()
        raw = self._interpreter.get_tensor(self._points_index).reshape(-1, 3)[:, :2]
        logit = float(self._interpreter.get_tensor(self._presence_index).reshape(-1)[0])
        presence = 1.0 / (1.0 + np.exp(-np.clip(logit, -80.0, 80.0)))
        inverse = cv2.invertAffineTransform(matrix)
        points = raw.astype(np.float64) @ inverse[:, :2].T + inverse[:, 2]
        return points.astype(np.float32), float(presence)
