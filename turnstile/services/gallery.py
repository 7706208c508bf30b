"""Keeps the in-memory galleries in step with the database."""

from __future__ import annotations

import logging
import threading
import time

from turnstile.matching.gallery import Gallery
from turnstile.storage import repositories as repo
from turnstile.storage.db import Database

log = logging.getLogger(__name__)


class GalleryService:
    """Two galleries loaded from the database and updated person by person:

    * ``gallery``: templates of active employees within their validity period: the people
      the door may open for;
    * ``everyone``: every template of the model, suspended and expired people included: for
      the duplicate check at enrollment and to tell a suspended person why the door stays
      shut.

    Args:
        db: the database.
        model_id: the embedding model in use (templates of other models are ignored).
        dim: embedding length.
    """

    def __init__(self, db: Database, model_id: str, dim: int) -> None:
        self.db = db
        self.model_id = model_id
        self.dim = dim
        self._allowed: Gallery | None = None
        self._everyone: Gallery | None = None
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

    def reload(self) -> None:
        """Read every template again (e.g. each minute, as validity periods start and end)."""
        allowed, everyone = self._load()
        with self._lock:
            self._allowed, self._everyone = allowed, everyone

    def refresh_employee(self, employee_id: int) -> None:
        """Bring one person's rows up to date after any change to them (or their deletion)."""
        with self._lock:
            if self._allowed is None or self._everyone is None:
                return
            allowed, everyone = self._allowed, self._everyone
        with self.db.session() as s:
            rows_all = repo.load_gallery_rows(s, self.model_id, employee_id=employee_id,
                                              everyone=True)
            rows_allowed = {r[0] for r in repo.load_gallery_rows(s, self.model_id,
                                                                 employee_id=employee_id)}
        templates = [(tid, repo.embedding_from_bytes(data)) for tid, _, data in rows_all]
        everyone.replace_employee(employee_id, templates)
        allowed.replace_employee(employee_id, [t for t in templates if t[0] in rows_allowed])

    def _ensure_loaded(self) -> None:
        with self._lock:
            if self._allowed is None:
                self._allowed, self._everyone = self._load()

    def _load(self) -> tuple[Gallery, Gallery]:
        start = time.perf_counter()
        with self.db.session() as s:
            rows_all = repo.load_gallery_rows(s, self.model_id, everyone=True)
            allowed_ids = {r[0] for r in repo.load_gallery_rows(s, self.model_id)}
        template_ids, employee_ids, embeddings = repo.gallery_arrays(rows_all)
        embeddings = embeddings.reshape(len(rows_all), self.dim)
        everyone = Gallery.from_arrays(template_ids, employee_ids, embeddings)
        keep = [i for i, t in enumerate(template_ids.tolist()) if t in allowed_ids]
        allowed = Gallery.from_arrays(template_ids[keep], employee_ids[keep], embeddings[keep])
        self.load_seconds = time.perf_counter() - start
        self.loaded_at = time.time()
        log.info("galleries loaded: %d of %d templates may open the door (%.2f s)",
                 len(allowed), len(everyone), self.load_seconds)
        return allowed, everyone
