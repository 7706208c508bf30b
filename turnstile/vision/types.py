"""Shared types of the vision pipeline, documented once.

Conventions used everywhere in Turnstile:

* **Frame**: ``numpy.ndarray`` of ``uint8``, shape ``(H, W, 3)``, **BGR** channel order
  (what OpenCV decodes and captures).
* **Box**: ``(x, y, w, h)`` in frame pixels, floats; ``x, y`` is the top-left corner.
* **Landmarks**: ``float32`` array of shape ``(6, 2)``, ``(x, y)`` in frame pixels, rows in
  the order of :class:`Landmark` (the six keypoints BlazeFace gives).
* **Embedding**: ``float32`` array of shape ``(D,)``, L2-normalised (unit length), so that
  the cosine similarity of two embeddings is their dot product.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Frame = npt.NDArray[np.uint8]
Embedding = npt.NDArray[np.float32]
Box = tuple[float, float, float, float]


class Landmark(enum.IntEnum):
    """Row index of each point in a landmarks array (the subject's right eye is on the
    left of the image)."""

    RIGHT_EYE = 0
    LEFT_EYE = 1
    NOSE_TIP = 2
    MOUTH_CENTER = 3
    RIGHT_EAR = 4
    LEFT_EAR = 5


@dataclass
class Face:
    """One detected face. Detection fills ``box``, ``landmarks`` and ``score``; later
    pipeline stages fill in the rest.

    Attributes:
        box: ``(x, y, w, h)`` in frame pixels.
        landmarks: ``float32 (6, 2)`` in frame pixels, rows ordered as :class:`Landmark`.
        score: detector confidence in ``[0, 1]``.
        quality: filled by the quality stage (None until then).
        liveness: filled by the liveness stage (None until then).
        embedding: filled by the embedder (None until then).
        chip: the aligned RGB crop the embedding was computed from (None until then).
    """

    box: Box
    landmarks: npt.NDArray[np.float32]
    score: float
    quality: object | None = None
    liveness: object | None = None
    embedding: Embedding | None = None
    chip: Frame | None = None

    @property
    def width(self) -> float:
        return self.box[2]

    @property
    def eye_distance_px(self) -> float:
        """Distance between the two eye centres, in frame pixels."""
        d = self.landmarks[Landmark.LEFT_EYE] - self.landmarks[Landmark.RIGHT_EYE]
        return float(np.hypot(d[0], d[1]))

    @property
    def area(self) -> float:
        return float(self.box[2] * self.box[3])
