"""Verification (1:1, "is this Dana?") and identification (1:N, "who is this, or nobody?")."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime

from turnstile.errors import MultipleFacesError, NoFaceError
from turnstile.matching.cascade import (
    SHORTLIST,
    best_confirmed,
    confirm_decision,
    confirm_score,
)
from turnstile.matching.gallery import Gallery
from turnstile.matching.policy import (
    Identification,
    Outcome,
    Thresholds,
    decide,
    default_thresholds,
)
from turnstile.services.gallery import GalleryService
from turnstile.storage import repositories as repo
from turnstile.storage.db import Database
from turnstile.storage.models import Employee, utcnow
from turnstile.vision.imageio import read_image
from turnstile.vision.pipeline import FacePipeline
from turnstile.vision.types import Embedding

log = logging.getLogger(__name__)

THRESHOLD_NAMES = ("accept", "reject", "min_margin", "verify")


@dataclass(frozen=True)
class PersonInfo:
    """What the door and the desk show about a person (no biometric data)."""

    id: int
    employee_number: str
    name: str
    department: str | None
    status: str
    valid_from: datetime | None
    valid_until: datetime | None

    @classmethod
    def of(cls, e: Employee) -> PersonInfo:
        return cls(e.id, e.employee_number, e.name, e.department, e.status, e.valid_from,
                   e.valid_until)

    def refusal(self, now: datetime | None = None) -> str | None:
        """Why this person may not pass now (None when they may)."""
        now = now or utcnow()
        if self.status != "active":
            return "suspended"
        if self.valid_from is not None and now < self.valid_from:
            return f"not valid before {self.valid_from:%Y-%m-%d}"
        if self.valid_until is not None and now > self.valid_until:
            return f"expired on {self.valid_until:%Y-%m-%d}"
        return None


@dataclass(frozen=True)
class VerifyResult:
    person: PersonInfo
    score: float
    threshold: float
    accepted: bool
    refusal: str | None = None
    confirmed: bool = False
    """The confirming model's score decided."""


@dataclass(frozen=True)
class IdentifyResult:
    """The decision plus who it is about. ``refusal`` is set when an enrolled person was
    recognised who may not pass now (suspended, expired, not yet valid)."""

    identification: Identification
    person: PersonInfo | None
    refusal: str | None = None
    thresholds: Thresholds | None = None
    """The thresholds the score was judged against."""
    confirmed: bool = False
    """The confirming model decided (the score is its score; no runner-up margin)."""

    @property
    def granted(self) -> bool:
        return self.identification.outcome is Outcome.MATCH and self.refusal is None


def load_thresholds(db: Database, model_id: str, overrides: dict[str, float | None] | None = None
                    ) -> Thresholds:
    """Thresholds for a model: the calibrated defaults, then values stored in the database
    for this model version, then this station's own overrides (None = no override)."""
    defaults = default_thresholds(model_id)
    values = {name: getattr(defaults, name) for name in THRESHOLD_NAMES}
    with db.session() as s:
        values.update({k: v for k, v in repo.get_thresholds(s, model_id).items()
                       if k in THRESHOLD_NAMES})
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return Thresholds(**values)


class RecognitionService:
    """1:1 and 1:N answers over the galleries.

    Args:
        db: the database.
        pipeline: the vision pipeline.
        galleries: the in-memory galleries.
        thresholds: the search model's thresholds in force.
        confirm_thresholds: the confirming model's (None: the search model decides alone).

    With a confirming embedder in the pipeline, a ``confirm`` gallery and its thresholds,
    answers are the door's cascade (``turnstile.matching.cascade``): the search model names
    the candidate, the confirming model's score decides; 1:1 checks use the confirming
    model's score. People without a confirming template are decided by the search model.
    """

    def __init__(self, db: Database, pipeline: FacePipeline, galleries: GalleryService,
                 thresholds: Thresholds, confirm_thresholds: Thresholds | None = None) -> None:
        self.db = db
        self.pipeline = pipeline
        self.galleries = galleries
        self.thresholds = thresholds
        self.confirm_thresholds = confirm_thresholds
        self._people: dict[int, PersonInfo] = {}

    def person(self, employee_id: int) -> PersonInfo:
        """Cached details of a person (call :meth:`forget` after they change)."""
        info = self._people.get(employee_id)
        if info is None:
            with self.db.session() as s:
                info = PersonInfo.of(repo.get_employee(s, employee_id))
            self._people[employee_id] = info
        return info

    def forget(self, employee_id: int) -> None:
        self._people.pop(employee_id, None)

    def embed_photo(self, photo: str | bytes) -> Embedding:
        """The (search model's) embedding of the one face in a photo.

        Raises:
            ImageError, NoFaceError, MultipleFacesError.
        """
        return self._embed_photo(photo, confirm=False)[0]

    def _embed_photo(self, photo: str | bytes, confirm: bool = True
                     ) -> tuple[Embedding, Embedding | None]:
        frame = read_image(photo)
        faces = self.pipeline.detect(frame)
        if not faces:
            raise NoFaceError("No face was found in the photo.")
        if len(faces) > 1:
            raise MultipleFacesError(f"The photo shows {len(faces)} faces; use a photo of one "
                                     f"person.", len(faces))
        face = self.pipeline.embed(frame, faces)[0]
        assert face.embedding is not None
        return face.embedding, self.pipeline.confirm_embed(frame, face) if confirm else None

    def _confirm_gallery(self) -> Gallery | None:
        return self.galleries.confirm if self.confirm_thresholds is not None else None

    def verify(self, employee_number: str, photo: str | bytes) -> VerifyResult:
        """Is the person in the photo this employee?

        Raises:
            EmployeeNotFound: no such employee number.
            ImageError, NoFaceError, MultipleFacesError: the photo is not usable.
        """
        with self.db.session() as s:
            person = PersonInfo.of(repo.get_employee_by_number(s, employee_number))
        embedding, confirm_embedding = self._embed_photo(photo)
        score = confirm_score(self._confirm_gallery(), person.id, confirm_embedding)
        confirmed = score is not None and self.confirm_thresholds is not None
        if confirmed and score is not None and self.confirm_thresholds is not None:
            threshold = self.confirm_thresholds.verify
        else:
            score = self.galleries.everyone.verify(person.id, embedding)
            threshold = self.thresholds.verify
        accepted = score >= threshold
        return VerifyResult(person, score, threshold, accepted,
                            person.refusal() if accepted else None, confirmed)

    def identify(self, photo: str | bytes) -> IdentifyResult:
        """Who is the person in the photo, or nobody we know?"""
        return self.identify_embedding(*self._embed_photo(photo))

    def identify_embedding(self, embedding: Embedding,
                           confirm_embedding: Embedding | None = None) -> IdentifyResult:
        """Identify among the people allowed in now; when that finds nobody, look among
        everyone enrolled so a suspended or expired person is told why. With
        ``confirm_embedding``, by the cascade when the candidate has a confirming template."""
        confirm = self._confirm_gallery()
        if confirm_embedding is not None and self.confirm_thresholds is not None \
                and confirm is not None:
            candidates = self.galleries.everyone.shortlist(embedding, SHORTLIST)
            best = best_confirmed(confirm, candidates, confirm_embedding) \
                if candidates and confirm.has_employee(candidates[0][0]) else None
            if best is not None:
                found = confirm_decision(best[0], best[1], self.confirm_thresholds)
                th = self.confirm_thresholds
                if found.outcome is not Outcome.MATCH or found.employee_id is None:
                    person = self.person(found.employee_id) if found.employee_id else None
                    return IdentifyResult(found, person, None, th, True)
                person = self.person(found.employee_id)
                refusal = person.refusal()
                if refusal is None and not self.galleries.gallery.has_employee(person.id):
                    refusal = "not allowed at this time"
                return IdentifyResult(found, person, refusal, th, True)
        th = self.thresholds
        decision = decide(self.galleries.gallery.identify(embedding), th)
        if decision.outcome is Outcome.MATCH:
            assert decision.employee_id is not None
            person = self.person(decision.employee_id)
            return IdentifyResult(decision, person, person.refusal(), th)
        others = decide(self.galleries.everyone.identify(embedding), th)
        if others.outcome is Outcome.MATCH and others.employee_id is not None:
            person = self.person(others.employee_id)
            refusal = person.refusal() or "not allowed at this time"
            return IdentifyResult(others, person, refusal, th)
        if decision.employee_id is not None:
            return IdentifyResult(decision, self.person(decision.employee_id), None, th)
        return IdentifyResult(replace(decision), None, None, th)
