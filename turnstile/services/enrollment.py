"""Enrollment: add a person from one photo (or add photos to a person), atomically."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np

from turnstile.errors import MultipleFacesError, NoFaceError, TurnstileError
from turnstile.matching.policy import DUPLICATE_THRESHOLD, VERIFY_THRESHOLD
from turnstile.services.gallery import GalleryService
from turnstile.storage import repositories as repo
from turnstile.storage.db import Database
from turnstile.storage.models import utcnow
from turnstile.vision.imageio import read_image
from turnstile.vision.pipeline import FacePipeline
from turnstile.vision.quality import Quality, assess
from turnstile.vision.types import Embedding, Face, Frame

log = logging.getLogger(__name__)

FACE_CROP_JPEG_QUALITY = 90
"""JPEG quality of the stored face crop shown in the window (150 x 150 px, ~6 kB)."""


class PoorQualityError(TurnstileError):
    """The face fails one or more quality gates; the message says what to fix."""

    def __init__(self, quality: Quality) -> None:
        super().__init__(quality.advice())
        self.quality = quality


class DuplicateFaceError(TurnstileError):
    """The face looks like someone already enrolled (refused unless forced)."""

    def __init__(self, employee_number: str, name: str, score: float) -> None:
        super().__init__(
            f"This face looks like {name} (employee {employee_number}) who is already enrolled "
            f"(similarity {score:.3f}). Check that this is not the same person; "
            f"enroll anyway only if it is not."
        )
        self.employee_number = employee_number
        self.name = name
        self.score = score


class NotSamePersonError(TurnstileError):
    """A photo added to a person does not look like them (refused unless forced): it would let
    whoever is in it pass as them."""

    def __init__(self, employee_number: str, name: str, score: float, threshold: float) -> None:
        super().__init__(
            f"This photo does not look like employee {employee_number} ({name}): similarity "
            f"{score:.3f}, where the same person scores at least {threshold:.3f}. Check that it "
            f"is the right photo; add it anyway only if you are sure.")
        self.score = score


class ConsentRequiredError(TurnstileError):
    """Biometric data may only be stored with the person's consent."""


@dataclass
class PhotoCheck:
    """What enrollment would do with a photo, before anything is saved."""

    face: Face
    quality: Quality
    duplicate_of: tuple[int, str, str, float] | None = None  # (id, number, name, score)
    faces_found: int = 1
    confirm_embedding: Embedding | None = None
    """The confirming embedder's embedding of the face (None without one)."""


@dataclass
class EnrollmentResult:
    employee_id: int
    employee_number: str
    template_id: int
    quality: Quality
    face_crop_jpeg: bytes
    warnings: list[str] = field(default_factory=list)


PhotoInput = str | Path | bytes | Frame


class EnrollmentService:
    """Adds people and their face templates.

    Args:
        db: the database.
        pipeline: the vision pipeline (built with the photo detector, which also finds
            small faces).
        galleries: keeps the door's gallery up to date (also used for the duplicate check).
        duplicate_threshold: see :data:`DUPLICATE_THRESHOLD`.
    """

    def __init__(self, db: Database, pipeline: FacePipeline, galleries: GalleryService,
                 duplicate_threshold: float = DUPLICATE_THRESHOLD,
                 same_person_threshold: float = VERIFY_THRESHOLD) -> None:
        self.db = db
        self.pipeline = pipeline
        self.galleries = galleries
        self.duplicate_threshold = duplicate_threshold
        self.same_person_threshold = same_person_threshold

    # -- checking a photo -----------------------------------------------------------------
    def check_photo(self, photo: PhotoInput, *, face_index: int | None = None,
                    exclude_employee: int | None = None) -> PhotoCheck:
        """Find the one face in a photo, measure its quality and search for a duplicate.

        Args:
            photo: a file path, encoded bytes or a BGR frame.
            face_index: which face to take when there are several (0 = largest).
            exclude_employee: ignore this person in the duplicate search (adding a photo to
                someone already enrolled).

        Raises:
            ImageError: the photo cannot be read.
            NoFaceError: no face found.
            MultipleFacesError: several faces and no ``face_index``.
        """
        frame = photo if isinstance(photo, np.ndarray) else read_image(photo)
        faces = self.pipeline.detect(frame)
        if not faces:
            raise NoFaceError("No face was found in the photo. Use a photo where the face is "
                              "clearly visible, facing the camera.")
        if face_index is None:
            if len(faces) > 1:
                raise MultipleFacesError(
                    f"The photo shows {len(faces)} faces; use a photo of one person, or "
                    f"choose which face to enroll (0 = the largest).", len(faces))
            face_index = 0
        if not 0 <= face_index < len(faces):
            raise NoFaceError(f"There is no face number {face_index}: the photo shows "
                              f"{len(faces)} (numbered from 0, largest first).")
        face = self.pipeline.embed(frame, [faces[face_index]])[0]
        quality = assess(face)
        face.quality = quality
        check = PhotoCheck(face=face, quality=quality, faces_found=len(faces),
                           confirm_embedding=self.pipeline.confirm_embed(frame, face))
        assert face.embedding is not None
        match = self.galleries.everyone.identify(face.embedding,
                                                 exclude_employee=exclude_employee)
        if match.employee_id is not None and match.score >= self.duplicate_threshold:
            with self.db.session() as s:
                other = repo.get_employee(s, match.employee_id)
                check.duplicate_of = (other.id, other.employee_number, other.name, match.score)
        return check

    # -- enrolling ------------------------------------------------------------------------
    def enroll(self, photo: PhotoInput, *, employee_number: str, name: str,
               department: str | None = None, valid_from: datetime | None = None,
               valid_until: datetime | None = None, consent: bool = False,
               consent_text_version: str | None = None, face_index: int | None = None,
               force: bool = False, source: repo.TemplateSource = "photo",
               source_name: str | None = None) -> EnrollmentResult:
        """Add a new person from one photo, in one transaction (all or nothing).

        Raises:
            ConsentRequiredError: ``consent`` is False.
            ImageError, NoFaceError, MultipleFacesError: see :meth:`check_photo`.
            PoorQualityError: the face fails a quality gate.
            DuplicateFaceError: the face looks like someone enrolled (unless ``force``).
            ValidationError, DuplicateEmployeeNumber: bad or taken details.
        """
        if not consent:
            raise ConsentRequiredError(
                "The person's consent to store their face is required before enrolling.")
        # Validate the details before the (slower) face work so mistakes show at once.
        repo.validate_employee_number(employee_number)
        repo.validate_employee_name(name)
        check = self.check_photo(photo, face_index=face_index)
        warnings = self._gate(check, force)
        crop = _face_crop_jpeg(check.face)
        assert check.face.embedding is not None
        with self.db.session() as s:
            employee = repo.create_employee(
                s, employee_number=employee_number, name=name, department=department,
                valid_from=valid_from, valid_until=valid_until, consent_at=utcnow(),
                consent_text_version=consent_text_version)
            template = repo.add_template(
                s, employee.id, embedding=check.face.embedding, model_id=self.pipeline.model_id,
                source=source, source_name=source_name or _name_of(photo),
                quality=check.quality.score, face_crop=crop, **self._confirm_values(check))
            result = EnrollmentResult(employee.id, employee.employee_number, template.id,
                                      check.quality, crop, warnings)
        self.galleries.refresh_employee(result.employee_id)
        log.info("employee %d enrolled (template %d)", result.employee_id, result.template_id)
        return result

    def add_photo(self, employee_id: int, photo: PhotoInput, *, face_index: int | None = None,
                  force: bool = False, replace: bool = False,
                  source: repo.TemplateSource = "photo",
                  source_name: str | None = None) -> EnrollmentResult:
        """Add another photo of an enrolled person (or, with ``replace``, re-enroll them:
        their old templates are deleted in the same transaction).

        Raises:
            NotSamePersonError: the face does not match the person's enrolled face (unless
                ``force``).
            and the errors of :meth:`enroll`.
        """
        with self.db.session() as s:
            person = repo.get_employee(s, employee_id)
        check = self.check_photo(photo, face_index=face_index, exclude_employee=employee_id)
        warnings = self._gate(check, force)
        assert check.face.embedding is not None
        score = self.galleries.everyone.verify(employee_id, check.face.embedding)
        if -1.0 < score < self.same_person_threshold:  # -1: no enrolled face to compare with
            if not force:
                raise NotSamePersonError(person.employee_number, person.name, score,
                                         self.same_person_threshold)
            warnings.append(f"added although the face does not look like the enrolled one "
                            f"(similarity {score:.3f})")
        crop = _face_crop_jpeg(check.face)
        assert check.face.embedding is not None
        with self.db.session() as s:
            employee = repo.get_employee(s, employee_id)
            if replace:
                for old in repo.list_templates(s, employee_id):
                    repo.delete_template(s, old.id)
            template = repo.add_template(
                s, employee_id, embedding=check.face.embedding, model_id=self.pipeline.model_id,
                source=source, source_name=source_name or _name_of(photo),
                quality=check.quality.score, face_crop=crop, **self._confirm_values(check))
            result = EnrollmentResult(employee_id, employee.employee_number, template.id,
                                      check.quality, crop, warnings)
        self.galleries.refresh_employee(employee_id)
        return result

    def _confirm_values(self, check: PhotoCheck) -> dict[str, object]:
        confirm = self.pipeline.confirm
        if confirm is None or check.confirm_embedding is None:
            return {}
        return {"confirm_embedding": check.confirm_embedding,
                "confirm_model_id": confirm.model_id}

    def _gate(self, check: PhotoCheck, force: bool) -> list[str]:
        if not check.quality.ok:
            raise PoorQualityError(check.quality)
        warnings = []
        if check.duplicate_of is not None:
            _, number, name, score = check.duplicate_of
            if not force:
                raise DuplicateFaceError(number, name, score)
            warnings.append(f"enrolled although the face looks like employee {number} "
                            f"(similarity {score:.3f})")
        return warnings


def _face_crop_jpeg(face: Face) -> bytes:
    assert face.chip is not None
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(face.chip, cv2.COLOR_RGB2BGR),
                            [cv2.IMWRITE_JPEG_QUALITY, FACE_CROP_JPEG_QUALITY])
    return data.tobytes() if ok else b""


def _name_of(photo: PhotoInput) -> str | None:
    return Path(photo).name if isinstance(photo, (str, Path)) else None
