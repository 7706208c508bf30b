"""The vision pipeline: frame -> faces -> aligned chips -> embeddings."""

from __future__ import annotations

import logging
import threading

import cv2
import numpy as np
import numpy.typing as npt

from turnstile.vision.align import CHIP_KEYPOINTS_150, align_face
from turnstile.vision.confirm import ConfirmEmbedder
from turnstile.vision.detector import FaceDetector
from turnstile.vision.embedder import FaceEmbedder
from turnstile.vision.types import Embedding, Face, Frame

log = logging.getLogger(__name__)

FALLBACK_CHIP_FRACTION = 0.6
"""When no face is found and a face must be scored anyway (evaluation only), the central
square covering this fraction of the image's short side is taken as the chip."""


class FacePipeline:
    """Detects faces, aligns them and computes their embeddings.

    Args:
        detector: finds faces.
        embedder: turns aligned chips into embeddings.
        model_id: identifies the embedding space (model name and file hash); templates
            made by another model are not comparable.
        flip_tta: also embed the mirrored chip and average the two (test-time
            augmentation): about +0.2 points of LFW accuracy for one more model run a face.
        confirm: the stronger embedder that confirms the person the search found (None: the
            search embedder's score decides alone).
    """

    def __init__(self, detector: FaceDetector, embedder: FaceEmbedder, model_id: str,
                 *, flip_tta: bool = True, confirm: ConfirmEmbedder | None = None) -> None:
        self.detector = detector
        self.embedder = embedder
        self.model_id = model_id
        self.flip_tta = flip_tta
        self.confirm = confirm
        # The models are not thread-safe: calls from several threads (background jobs of
        # the window) take turns. The door's vision worker owns a pipeline of its own.
        self._lock = threading.RLock()

    def detect(self, frame: Frame) -> list[Face]:
        """Detect faces, largest first (see :meth:`FaceDetector.detect`)."""
        with self._lock:
            return self.detector.detect(frame)

    def embed(self, frame: Frame, faces: list[Face], one_thread: bool = False) -> list[Face]:
        """Align each face and fill in its ``chip`` (RGB) and ``embedding``.

        Args:
            one_thread: embed on one CPU thread (the other core is busy with the door's
                liveness check meanwhile).

        Returns:
            The same faces, filled in.
        """
        if not faces:
            return faces
        with self._lock:
            return self._embed(frame, faces, one_thread)

    def _embed(self, frame: Frame, faces: list[Face], one_thread: bool = False) -> list[Face]:
        chips = np.stack([
            cv2.cvtColor(align_face(frame, f.landmarks, self.embedder.chip_px), cv2.COLOR_BGR2RGB)
            for f in faces
        ])
        embeddings = self._embed_chips(chips, one_thread)
        for face, chip, emb in zip(faces, chips, embeddings):
            face.chip = chip
            face.embedding = emb
        return faces

    def confirm_embed(self, frame: Frame, face: Face, one_thread: bool = False
                      ) -> Embedding | None:
        """The confirming embedder's embedding of one face (None when there is none)."""
        if self.confirm is None:
            return None
        return self.confirm.embed(frame, face, one_thread)

    def process(self, frame: Frame, max_faces: int | None = None) -> list[Face]:
        """Detect, align and embed the faces of a frame, largest first.

        Args:
            frame: BGR ``uint8 (H, W, 3)``.
            max_faces: embed only the largest ``max_faces`` faces (all when None).
        """
        with self._lock:
            faces = self.detect(frame)
            return self.embed(frame, faces[:max_faces] if max_faces else faces)

    def fallback_face(self, frame: Frame) -> Face:
        """A face assumed at the centre of the image, for scoring images in which no face
        was detected (evaluation protocols must score every image)."""
        height, width = frame.shape[:2]
        side = FALLBACK_CHIP_FRACTION * min(height, width)
        scale = side / 150.0
        origin = np.array([(width - side) / 2, (height - side) / 2], np.float32)
        landmarks = (CHIP_KEYPOINTS_150 * scale + origin).astype(np.float32)
        box = (float(origin[0]), float(origin[1]), float(side), float(side))
        face = Face(box=box, landmarks=landmarks, score=0.0)
        return self.embed(frame, [face])[0]

    def _embed_chips(self, chips: npt.NDArray[np.uint8], one_thread: bool = False
                     ) -> npt.NDArray[np.float32]:
        if not self.flip_tta:
            return self.embedder.embed(chips, one_thread)
        both = self.embedder.embed(np.concatenate([chips, chips[:, :, ::-1]]), one_thread)
        mean = both[: len(chips)] + both[len(chips):]
        return (mean / np.linalg.norm(mean, axis=1, keepdims=True)).astype(np.float32)

