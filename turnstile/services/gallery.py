"""Keeps the in-memory galleries in step with the database."""

from __future__ import annotations

import logging
import threading
import time

import cv2
import numpy as np
import numpy.typing as npt

from turnstile.matching.gallery import Gallery
from turnstile.storage import repositories as repo
from turnstile.storage.db import Database
from turnstile.vision.confirm import ConfirmEmbedder

log = logging.getLogger(__name__)


class GalleryService:
    """Two galleries loaded from the database and updated person by person:

    * ``gallery``: templates of active employees within their validity period: the people
      the door may open for;
    * ``everyone``: every template of the model, suspended and expired people included: for
      the duplicate check at enrollment and to tell a suspended person why the door stays
      shut.

    A person with several photos is one row: the mean of their embeddings, normalised.
    Measured on LFW (747 people enrolled from two photos each, 1,861 probes of them, 2,722
    strangers; flip TTA): averaged templates give rank-1 97.4 %, FNIR 20.5 % at FPIR 1e-2 and
    46.9 % at 1e-3; keeping both and taking the best (max over templates) gives 97.0 %,
    24.2 % and 57.3 %; one photo alone 93.0 %, 40.4 %, 57.9 %.

    With a confirming embedder, a third gallery, ``confirm``, holds everyone's embeddings by
    that embedder (one fused row per person, like the others); templates that have none yet
    get it from their stored face crop when the galleries are loaded
    (:func:`fill_confirm_embeddings`).

    Args:
        db: the database.
        model_id: the embedding model in use (templates of other models are ignored).
        dim: embedding length.
        confirm: the confirming embedder (None: no ``confirm`` gallery).
    """

    def __init__(self, db: Database, model_id: str, dim: int,
                 confirm: ConfirmEmbedder | None = None) -> None:
        self.db = db
        self.model_id = model_id
        self.dim = dim
        self.confirm_embedder = confirm
        self._allowed: Gallery | None = None
        self._everyone: Gallery | None = None
        self._confirm: Gallery | None = None
        self._lock = threading.Lock()
        self.loaded_at = 0.0
        self.load_seconds = 0.0

    @property
    def gallery(self) -> Gallery:
        """Who may pass now (loaded on first use)."""
        self._ensure_loaded()
        assert self._allowed is not None
        return self._allowed

    @property
    def everyone(self) -> Gallery:
        """Everyone enrolled with this model (loaded on first use)."""
        self._ensure_loaded()
        assert self._everyone is not None
        return self._everyone

    @property
    def confirm(self) -> Gallery | None:
        """Everyone's embeddings by the confirming embedder (None without one)."""
        self._ensure_loaded()
        return self._confirm

    def reload(self) -> None:
        """Read every template again (e.g. each minute, as validity periods start and end)."""
        allowed, everyone, confirm = self._load()
        with self._lock:
            self._allowed, self._everyone, self._confirm = allowed, everyone, confirm

    def refresh_employee(self, employee_id: int) -> None:
        """Bring one person's rows up to date after any change to them (or their deletion)."""
        with self._lock:
            if self._allowed is None or self._everyone is None:
                return
            allowed, everyone, confirm = self._allowed, self._everyone, self._confirm
        with self.db.session() as s:
            rows_all = repo.load_gallery_rows(s, self.model_id, employee_id=employee_id,
                                              everyone=True)
            rows_allowed = repo.allowed_template_ids(s, self.model_id, employee_id=employee_id)
            rows_confirm = [] if confirm is None else repo.load_confirm_rows(
                s, self.confirm_embedder.model_id, employee_id=employee_id)  # type: ignore[union-attr]
        fused = _fused_rows(rows_all, self.dim)
        everyone.replace_employee(employee_id, fused)
        allowed.replace_employee(employee_id, fused if rows_allowed else [])
        if confirm is not None:
            confirm.replace_employee(employee_id, _fused_rows(rows_confirm, confirm.dim))

    def _ensure_loaded(self) -> None:
        with self._lock:
            if self._allowed is None:
                self._allowed, self._everyone, self._confirm = self._load()

    def _load(self) -> tuple[Gallery, Gallery, Gallery | None]:
        start = time.perf_counter()
        confirm: Gallery | None = None
        if self.confirm_embedder is not None:
            fill_confirm_embeddings(self.db, self.confirm_embedder, self.model_id)
        with self.db.session() as s:
            rows_all = repo.load_gallery_rows(s, self.model_id, everyone=True)
            allowed_ids = repo.allowed_template_ids(s, self.model_id)
            if self.confirm_embedder is not None:
                rows_confirm = repo.load_confirm_rows(s, self.confirm_embedder.model_id)
                confirm = _gallery_of(rows_confirm, self.confirm_embedder.dim)
        template_ids, employee_ids, embeddings = repo.gallery_arrays(rows_all)
        embeddings = embeddings.reshape(len(rows_all), self.dim)
        row_ids, people, means = _fuse_per_person(template_ids, employee_ids, embeddings)
        everyone = Gallery.from_arrays(row_ids, people, means)
        # A person is allowed or not as a whole (status and validity are per person).
        keep = np.fromiter((t in allowed_ids for t in row_ids.tolist()), bool,
                           count=len(row_ids))
        allowed = Gallery.from_arrays(row_ids[keep], people[keep], means[keep])
        self.load_seconds = time.perf_counter() - start
        self.loaded_at = time.time()
        log.info("galleries loaded: %d of %d templates may open the door (%.2f s)",
                 len(allowed), len(everyone), self.load_seconds)
        return allowed, everyone, confirm


def _fused_rows(rows: list[repo.GalleryRow], dim: int) -> list[tuple[int, npt.NDArray[np.float32]]]:
    """One person's rows as ``(row template id, fused embedding)`` pairs."""
    template_ids, employee_ids, embeddings = repo.gallery_arrays(rows)
    embeddings = embeddings.reshape(len(rows), dim)
    row_ids, _, means = _fuse_per_person(template_ids, employee_ids, embeddings)
    return list(zip(row_ids.tolist(), means))


def _gallery_of(rows: list[repo.GalleryRow], dim: int) -> Gallery:
    template_ids, employee_ids, embeddings = repo.gallery_arrays(rows)
    embeddings = embeddings.reshape(len(rows), dim)
    return Gallery.from_arrays(*_fuse_per_person(template_ids, employee_ids, embeddings))


_WARNED: set[int] = set()
"""Templates already reported as having no usable crop (reported once per process)."""


def fill_confirm_embeddings(db: Database, confirm: ConfirmEmbedder, search_model_id: str) -> int:
    """Give every template of the search model that lacks one its confirming embedding,
    computed from its stored face crop (people enrolled before the confirming embedder
    existed; ~15 ms a template, once). A template without a readable crop keeps none: its
    person is then decided by the search embedder alone (logged).

    Returns:
        How many templates got one.
    """
    with db.session() as s:
        missing = repo.templates_without_confirm(s, confirm.model_id, search_model_id)
    if not missing:
        return 0
    log.info("computing %d confirming embeddings from stored face crops", len(missing))
    done = 0
    started = time.perf_counter()
    for template_id, employee_id in missing:
        with db.session() as s:
            template = s.get(repo.FaceTemplate, template_id)
            crop = template.face_crop if template is not None else None
        image = None
        if crop:
            image = cv2.imdecode(np.frombuffer(crop, np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            if template_id not in _WARNED:
                _WARNED.add(template_id)
                log.warning("template %d (employee id %d) has no readable face crop: that "
                            "person is decided by the search embedder alone until "
                            "re-photographed", template_id, employee_id)
            continue
        embedding = confirm.embed_stored_crop(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
        with db.session() as s:
            done += repo.set_confirm_embedding(s, template_id, embedding, confirm.model_id)
    log.info("%d confirming embeddings computed in %.1f s", done,
             time.perf_counter() - started)
    return done


def _fuse_per_person(template_ids: npt.NDArray[np.int64], employee_ids: npt.NDArray[np.int64],
                     embeddings: npt.NDArray[np.float32]
                     ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64],
                                npt.NDArray[np.float32]]:
    """One row per person: the normalised mean of their embeddings, named by their newest
    template's id.

    Returns:
        ``(row template ids, employee ids, fused embeddings)``.
    """
    if len(employee_ids) == 0:
        return template_ids, employee_ids, embeddings
    order = np.lexsort((template_ids, employee_ids))
    people = employee_ids[order]
    starts = np.flatnonzero(np.r_[True, people[1:] != people[:-1]])
    ends = np.r_[starts[1:], len(people)]
    sums = np.add.reduceat(embeddings[order], starts, axis=0)
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    fused = (sums / np.maximum(norms, 1e-12)).astype(np.float32)
    return template_ids[order][ends - 1], people[starts], fused
