"""The composition root: builds the services once and hands them to the GUI or the CLI."""

from __future__ import annotations

import dataclasses
import logging
import threading
from typing import TYPE_CHECKING, Literal

from turnstile import resources
from turnstile.config import Settings, load_settings
from turnstile.matching.policy import Thresholds
from turnstile.resources import confirm_model_id, embedder_model_id
from turnstile.services.audit import SETTINGS_CHANGE, SYSTEM_ACTOR, AuditRecord, AuditService
from turnstile.services.auth import AuthService, CurrentUser
from turnstile.services.enrollment import EnrollmentService
from turnstile.services.gallery import GalleryService
from turnstile.services.recognition import RecognitionService, load_thresholds
from turnstile.storage.db import Database, open_database
from turnstile.storage.errors import DatabaseError
from turnstile.vision.confirm import ConfirmEmbedder
from turnstile.vision.detector import (
    FULL_RANGE,
    FULL_RANGE_MIN_SCORE,
    SHORT_RANGE,
    SHORT_RANGE_MIN_SCORE,
    BlazeFace,
    FaceDetector,
)
from turnstile.vision.embedder import FaceEmbedder
from turnstile.vision.landmarks import FaceMesh
from turnstile.vision.pipeline import FacePipeline

if TYPE_CHECKING:
    from turnstile.matching.door_policy import GallerySnapshot

log = logging.getLogger(__name__)

DetectorMode = Literal["door", "photo"]

_SECRET_SETTINGS = frozenset({"database_url"})
"""Settings whose values may hold a secret (a database password): audited as "changed"."""


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


def build_confirm_embedder(num_threads: int = 1) -> ConfirmEmbedder:
    """Load the confirming embedder (SFace) and its own face-mesh model. One thread by
    default: a second one gains little on an idle 2-core machine (~10 ms either way) and
    costs when the other core is busy (the door's liveness check, the camera).

    Raises:
        ModelFileError: a model file is missing or corrupt.
    """
    mesh = FaceMesh(resources.model_path(resources.FACE_MESH))
    embedder = FaceEmbedder(resources.model_path(resources.CONFIRM_EMBEDDER),
                            num_threads=num_threads)
    return ConfirmEmbedder(mesh, embedder, resources.confirm_model_id())


def build_pipeline(detector_mode: DetectorMode = "door", *, flip_tta: bool = True,
                   num_threads: int = 2, confirm: bool = True) -> FacePipeline:
    """Build the whole vision pipeline from the shipped models.

    Args:
        detector_mode: see :func:`build_detector`.
        flip_tta: average the embeddings of the chip and its mirror image.
        num_threads: threads of the search embedder's interpreter.
        confirm: also load the confirming embedder (SFace, one thread).
    """
    return FacePipeline(build_detector(detector_mode), build_embedder(num_threads),
                        resources.embedder_model_id(), flip_tta=flip_tta,
                        confirm=build_confirm_embedder() if confirm else None)


class AppContext:
    """One object that carries the services, built once per process; nothing needs a global.

    Heavy parts (models, galleries) are built on first use, so a CLI verb that only lists
    employees never loads a model. Building is guarded by a lock: background jobs of the
    window may ask for a service at the same moment and must get the same one.

    Who is at the keyboard: :attr:`current_user` is the logged-in account (set by the login
    dialog or the CLI's ``--user``), ``None`` when nobody is logged in; :attr:`cli_actor` is
    ``os:<login>`` when the CLI runs for the owner of the data folder before any account
    exists. :meth:`audit` records an action under that actor.

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
        self._confirm_embedder: ConfirmEmbedder | None = None
        self._galleries: GalleryService | None = None
        self._enrollment: EnrollmentService | None = None
        self._recognition: RecognitionService | None = None
        self.current_user: CurrentUser | None = None
        self.cli_actor: str | None = None

    @property
    def db(self) -> Database:
        """The database, opened (backed up and migrated if needed) on first use."""
        with self._lock:
            if self._db is None:
                self._db = open_database(self.database_url)
                _protect_legacy_rows(self._db)
            return self._db

    @property
    def photo_pipeline(self) -> FacePipeline:
        """The pipeline for photos (finds small faces too); thread-safe (calls take turns)."""
        with self._lock:
            if self._photo_pipeline is None:
                self._photo_pipeline = FacePipeline(
                    build_detector("photo"), build_embedder(), embedder_model_id(),
                    confirm=self.confirm_embedder)
            return self._photo_pipeline

    @property
    def confirm_embedder(self) -> ConfirmEmbedder:
        """The confirming embedder for this process's background jobs (thread-safe): the
        photo pipeline's, so that a door filling in missing templates does not also load
        the photo detector (a headless door never needs it: ~70 MB)."""
        with self._lock:
            if self._photo_pipeline is not None and self._photo_pipeline.confirm is not None:
                return self._photo_pipeline.confirm
            if self._confirm_embedder is None:
                self._confirm_embedder = build_confirm_embedder()
            return self._confirm_embedder

    @property
    def galleries(self) -> GalleryService:
        with self._lock:
            if self._galleries is None:
                pipeline = self.photo_pipeline
                self._galleries = GalleryService(self.db, embedder_model_id(),
                                                 pipeline.embedder.dim, pipeline.confirm)
            return self._galleries

    def thresholds(self) -> Thresholds:
        """The search model's thresholds in force at this station (they decide for people who
        have no confirming template yet)."""
        return load_thresholds(self.db, embedder_model_id(),
                               self._overrides(embedder_model_id()))

    def confirm_thresholds(self) -> Thresholds:
        """The confirming model's thresholds in force at this station: the ones that decide
        at the door (the cascade) and in 1:1 checks."""
        return load_thresholds(self.db, confirm_model_id(), self._overrides(confirm_model_id()))

    def door_snapshot(self, model_id: str, dim: int, generation: int = 0) -> GallerySnapshot:
        """What a door matches against, read from the database (a background job): the
        search model's galleries and everyone's confirming templates, so the door decides by
        the cascade (``turnstile.matching.cascade``)."""
        from turnstile.door.station import load_snapshot

        return load_snapshot(self.db, model_id, dim, self.thresholds(), generation,
                             confirm=self.confirm_embedder,
                             confirm_thresholds=self.confirm_thresholds())

    def _overrides(self, model_id: str) -> dict[str, float | None]:
        s = self.settings
        set_for = s.thresholds_model or embedder_model_id()
        if set_for != model_id:
            return {}
        return {"accept": s.accept_threshold, "reject": s.reject_threshold}

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
                                                       self.galleries, self.thresholds(),
                                                       self.confirm_thresholds())
            return self._recognition

    # -- who is acting --------------------------------------------------------------------
    @property
    def actor(self) -> str:
        """The name the audit trail records: the logged-in account, the OS user of a CLI
        run before any account exists, or ``"system"``."""
        if self.current_user is not None:
            return self.current_user.username
        return self.cli_actor or SYSTEM_ACTOR

    @property
    def auth(self) -> AuthService:
        """Accounts and logins (lockout after ``settings.max_failed_logins`` failures)."""
        return AuthService(self.db, max_failed=self.settings.max_failed_logins)

    @property
    def audit_trail(self) -> AuditService:
        """The audit trail (record, query, export)."""
        return AuditService(self.db)

    def may(self, permission: str) -> bool:
        """Whether the one acting now has ``permission`` (see
        :data:`turnstile.services.auth.PERMISSIONS`). Nobody logged in may nothing, except
        the data folder's owner on the command line before any account exists."""
        if self.current_user is not None:
            return self.current_user.may(permission)
        return self.cli_actor is not None

    def audit(self, action: str, target: str | None = None, detail: str | None = None,
              success: bool = True) -> AuditRecord | None:
        """Record an action of :attr:`actor` in the audit trail.

        The action has already happened when this is called, so a failure to write the entry
        is logged as an error rather than raised (the caller's work is not undone).
        """
        try:
            return self.audit_trail.record(self.actor, action, target, detail, success)
        except DatabaseError:
            log.error("The audit entry for %r could not be written", action, exc_info=True)
            return None

    def apply_settings(self, settings: Settings) -> None:
        """Put new settings in force without a restart (the thresholds at once; the door
        page applies its own part when it is told). The change is audited: which settings,
        old and new values (a database URL only as "changed": it may hold a password)."""
        with self._lock:
            before = self.settings
            self.settings = settings
            if self._recognition is not None:
                self._recognition.thresholds = self.thresholds()
                self._recognition.confirm_thresholds = self.confirm_thresholds()
        changes = []
        for field in dataclasses.fields(settings):
            old, new = getattr(before, field.name), getattr(settings, field.name)
            if old != new:
                changes.append(f"{field.name} changed" if field.name in _SECRET_SETTINGS
                               else f"{field.name}: {_audited(old)} -> {_audited(new)}")
        if changes:
            self.audit(SETTINGS_CHANGE, "settings", "; ".join(changes))

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.dispose()
                self._db = None


def _audited(value: object) -> str:
    """A setting's value as the audit trail shows it (an unset one is the default)."""
    return "default" if value is None else repr(value)


def _protect_legacy_rows(db: Database) -> None:
    """Encrypt face data stored before encryption existed (an upgraded installation), so a
    command-line-only site is protected too; a no-op (three counts) once done."""
    from turnstile.services.privacy import protect_legacy_data
    from turnstile.storage.crypto import ProtectionError

    try:
        protect_legacy_data(db)
    except ProtectionError as exc:  # reported again where the data is needed
        log.warning("Face data stored before encryption could not be encrypted yet: %s", exc)
