"""The composition root: builds the services once and hands them to the GUI or the CLI."""

from __future__ import annotations

import threading
from typing import Literal

from turnstile import resources
from turnstile.config import Settings, load_settings
from turnstile.matching.policy import Thresholds
from turnstile.resources import embedder_model_id
from turnstile.services.enrollment import EnrollmentService
from turnstile.services.gallery import GalleryService
from turnstile.services.recognition import RecognitionService, load_thresholds
from turnstile.storage.db import Database, open_database
from turnstile.vision.detector import (
    FULL_RANGE,
    FULL_RANGE_MIN_SCORE,
    SHORT_RANGE,
    SHORT_RANGE_MIN_SCORE,
    BlazeFace,
    FaceDetector,
)
from turnstile.vision.embedder import FaceEmbedder
from turnstile.vision.pipeline import FacePipeline

DetectorMode = Literal["door", "photo"]


def build_detector(mode: DetectorMode = "door") -> FaceDetector:
    """Build the face detector.

    Args:
        mode: ``"door"`` runs the short-range model only (a person in front of the camera;
            ~2 ms a frame); ``"photo"`` adds the full-range model on the whole frame and on
            four tiles, which finds faces down to ~40 px in a 640 px frame (group photos,
            enrollment photos) at ~35x the cost.

    Raises:
        ModelFileError: a model file is missing or corrupt.
    """
    models = [BlazeFace(resources.model_path(resources.DETECTOR_SHORT_RANGE), SHORT_RANGE,
                        min_score=SHORT_RANGE_MIN_SCORE)]
    if mode == "photo":
        full = BlazeFace(resources.model_path(resources.DETECTOR_FULL_RANGE), FULL_RANGE,
                         min_score=FULL_RANGE_MIN_SCORE)
        return FaceDetector([*models, full], tile_model=full)
    return FaceDetector(models)


def build_embedder(num_threads: int = 2) -> FaceEmbedder:
    """Load the shipped face-embedding model.

    Raises:
        ModelFileError: the model file is missing or corrupt.
    """
    return FaceEmbedder(resources.model_path(resources.EMBEDDER), num_threads=num_threads)


def build_pipeline(detector_mode: DetectorMode = "door", *, flip_tta: bool = True,
                   num_threads: int = 2) -> FacePipeline:
    """Build the whole vision pipeline from the shipped models.

    Args:
        detector_mode: see :func:`build_detector`.
        flip_tta: average the embeddings of the chip and its mirror image.
        num_threads: threads of the embedding interpreter.
    """
    return FacePipeline(build_detector(detector_mode), build_embedder(num_threads),
                        resources.embedder_model_id(), flip_tta=flip_tta)


class AppContext:
    """One object that carries the services, built once per process; nothing needs a global.

    Heavy parts (models, galleries) are built on first use, so a CLI verb that only lists
    employees never loads a model. Building is guarded by a lock: background jobs of the
    window may ask for a service at the same moment and must get the same one.

    Args:
        settings: the settings in force (loaded from the user config folder by default).
        database_url: overrides the settings' database (``--db``).
    """

    def __init__(self, settings: Settings | None = None, database_url: str | None = None) -> None:
        self.settings = settings if settings is not None else load_settings()
        self.database_url = database_url or self.settings.effective_database_url()
        self._lock = threading.RLock()
        self._db: Database | None = None
        self._photo_pipeline: FacePipeline | None = None
        self._galleries: GalleryService | None = None
        self._enrollment: EnrollmentService | None = None
        self._recognition: RecognitionService | None = None

    @property
    def db(self) -> Database:
        """The database, opened (backed up and migrated if needed) on first use."""
        with self._lock:
            if self._db is None:
                self._db = open_database(self.database_url)
            return self._db

    @property
    def photo_pipeline(self) -> FacePipeline:
        """The pipeline for photos (finds small faces too); thread-safe (calls take turns)."""
        with self._lock:
            if self._photo_pipeline is None:
                self._photo_pipeline = build_pipeline("photo")
            return self._photo_pipeline

    @property
    def galleries(self) -> GalleryService:
        with self._lock:
            if self._galleries is None:
                self._galleries = GalleryService(self.db, embedder_model_id(),
                                                 self.photo_pipeline.embedder.dim)
            return self._galleries

    def thresholds(self) -> Thresholds:
        """The thresholds in force for the shipped model at this station."""
        return load_thresholds(self.db, embedder_model_id(), {
            "accept": self.settings.accept_threshold,
            "reject": self.settings.reject_threshold,
        })

    @property
    def enrollment(self) -> EnrollmentService:
        with self._lock:
            if self._enrollment is None:
                self._enrollment = EnrollmentService(self.db, self.photo_pipeline,
                                                     self.galleries)
            return self._enrollment

    @property
    def recognition(self) -> RecognitionService:
        with self._lock:
            if self._recognition is None:
                self._recognition = RecognitionService(self.db, self.photo_pipeline,
                                                       self.galleries, self.thresholds())
            return self._recognition

    def apply_settings(self, settings: Settings) -> None:
        """Put new settings in force without a restart (the thresholds at once; the door
        page applies its own part when it is told)."""
        with self._lock:
            self.settings = settings
            if self._recognition is not None:
                self._recognition.thresholds = self.thresholds()

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.dispose()
                self._db = None
