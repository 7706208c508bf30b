"""The confirming embedder: SFace on a 112x112 ArcFace chip aligned on five Face Mesh points.

The door searches everyone with the fast embedder (dlib's ResNet, ~1.5 ms a face, every
frame); the person it finds is then confirmed or refused with this stronger, slower one
(~10 ms, once per decision; ``assets/MODELS.md`` has the measurements). SFace was trained on
chips aligned by five points (eye centres, nose tip, mouth corners): Face Mesh gives those
precisely (BlazeFace has no mouth corners).
"""

from __future__ import annotations

import threading

import cv2
import numpy as np
import numpy.typing as npt

from turnstile.vision.align import ARCFACE_KEYPOINTS_112, CHIP_KEYPOINTS_150, warp_to_template
from turnstile.vision.embedder import FaceEmbedder
from turnstile.vision.landmarks import MIN_PRESENCE, FaceMesh
from turnstile.vision.types import Embedding, Face, Frame, Landmark

MESH_RIGHT_EYE = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)
"""Face Mesh contour of the subject's right eye (left in the image); its mean is the eye
centre."""
MESH_LEFT_EYE = (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388,
                 466)
MESH_NOSE_TIP = 1
MESH_MOUTH_RIGHT = 61
MESH_MOUTH_LEFT = 291


def arcface_points(mesh: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """The five ArcFace points (rows as :data:`ARCFACE_KEYPOINTS_112`) from 468 mesh points."""
    return np.array([
        mesh[list(MESH_RIGHT_EYE)].mean(0), mesh[list(MESH_LEFT_EYE)].mean(0),
        mesh[MESH_NOSE_TIP], mesh[MESH_MOUTH_RIGHT], mesh[MESH_MOUTH_LEFT],
    ], np.float32)


_KEYPOINT_TEMPLATE = np.vstack([
    ARCFACE_KEYPOINTS_112[:3], ARCFACE_KEYPOINTS_112[3:5].mean(0, keepdims=True)])
"""Where BlazeFace's eyes, nose tip and mouth centre go on the ArcFace chip (the mouth centre
between the two corners): the alignment when the mesh finds no face."""

STORED_CROP_ARCFACE_POINTS_150 = np.array([
    [47.506, 46.427],
    [99.586, 45.835],
    [74.069, 79.515],
    [51.506, 101.789],
    [97.598, 101.319],
], np.float32)
"""Where the five ArcFace points lie on average on the search embedder's 150 x 150 chip
(Face Mesh points of 7,693 LFW faces mapped through each one's alignment): the alignment of
a stored crop on which the mesh finds no face."""

_KEYPOINTS = [Landmark.RIGHT_EYE, Landmark.LEFT_EYE, Landmark.NOSE_TIP, Landmark.MOUTH_CENTER]


class ConfirmEmbedder:
    """Face Mesh + ArcFace alignment + SFace. Thread-safe (calls take turns).

    Args:
        mesh: the face-mesh model (its own instance: interpreters are not shared).
        embedder: the SFace model.
        model_id: names the embedding space (see :func:`turnstile.resources.confirm_model_id`).
    """

    def __init__(self, mesh: FaceMesh, embedder: FaceEmbedder, model_id: str) -> None:
        self.mesh = mesh
        self.embedder = embedder
        self.model_id = model_id
        self.dim = embedder.dim
        self._lock = threading.Lock()

    def chip(self, frame: Frame, face: Face) -> npt.NDArray[np.uint8]:
        """The aligned ``112 x 112`` RGB chip of a detected face."""
        points, presence = self.mesh.landmarks(frame, face)
        size = self.embedder.chip_px
        if presence >= MIN_PRESENCE:
            src, dst = arcface_points(points), ARCFACE_KEYPOINTS_112
        else:
            src, dst = face.landmarks[_KEYPOINTS], _KEYPOINT_TEMPLATE
        chip = warp_to_template(frame, src, dst * (size / 112.0), size)
        return cv2.cvtColor(chip, cv2.COLOR_BGR2RGB)

    def embed(self, frame: Frame, face: Face, one_thread: bool = False) -> Embedding:
        """The unit-length embedding of one detected face."""
        with self._lock:
            return self.embedder.embed(self.chip(frame, face), one_thread)

    def embed_stored_crop(self, crop_rgb: npt.NDArray[np.uint8]) -> Embedding:
        """The embedding of a face known only by its stored crop: the 150 x 150 chip of the
        search embedder (BlazeFace keypoints at :data:`CHIP_KEYPOINTS_150`), as kept for
        people enrolled before this embedder existed.

        The mesh finds the five points on the crop. The crop is narrower than SFace's chip
        (it lacks the forehead band: about a quarter of the chip); the missing part is left
        black, which measured far better than repeating the border (LFW open set, templates
        from crops, probes from photos: FNIR 6.6 % against 10.0 % at FPIR 1e-2; templates
        from the photos themselves: 4.6 %). Such templates are second best: a new photo of
        the person makes a full one.
        """
        height, width = crop_rgb.shape[:2]
        scale = np.float32([width / 150.0, height / 150.0])
        landmarks = (CHIP_KEYPOINTS_150 * scale).astype(np.float32)
        eyes_mid = landmarks[[Landmark.RIGHT_EYE, Landmark.LEFT_EYE]].mean(0)
        side = 0.8 * min(width, height)
        box = (float(eyes_mid[0] - side / 2), float(eyes_mid[1] - side * 0.4), side, side)
        face = Face(box=box, landmarks=landmarks, score=1.0)
        frame = cv2.cvtColor(np.ascontiguousarray(crop_rgb), cv2.COLOR_RGB2BGR)
        size = self.embedder.chip_px
        with self._lock:
            points, presence = self.mesh.landmarks(frame, face)
            src = arcface_points(points) if presence >= MIN_PRESENCE \
                else STORED_CROP_ARCFACE_POINTS_150 * scale
            chip = warp_to_template(frame, src, ARCFACE_KEYPOINTS_112 * (size / 112.0), size,
                                    border=cv2.BORDER_CONSTANT)
            return self.embedder.embed(cv2.cvtColor(chip, cv2.COLOR_BGR2RGB))
