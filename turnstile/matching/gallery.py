"""The gallery: every enrolled template as one contiguous float32 matrix.

Scores are cosine similarities (dot products of unit vectors): higher means more alike.
A person with several templates is scored by the best of them (max over templates).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from turnstile.vision.types import Embedding

_CANDIDATES = 32
"""Top template scores examined to find the best and the second-best *person*."""


@dataclass(frozen=True)
class Match:
    """The outcome of comparing one embedding with the gallery.

    Attributes:
        employee_id: the best-scoring person (None when the gallery is empty).
        template_id: the best-scoring template of that person.
        score: cosine similarity with that template (-1 when the gallery is empty).
        second_score: best score of any *other* person (-1 when there is none).
    """

    employee_id: int | None
    template_id: int | None
    score: float
    second_score: float

    @property
    def margin(self) -> float:
        """How far the best person is ahead of the runner-up."""
        return self.score - self.second_score


NO_MATCH = Match(None, None, -1.0, -1.0)


class Gallery:
    """Templates of the people allowed in, as an ``(N, D)`` float32 matrix.

    Updated incrementally (add, remove, replace a person's templates) in amortised
    O(D) per template; removal swaps the last row into the hole, so rows stay contiguous.
    Reads (``identify``/``verify``) and writes may come from different threads: a lock
    guards every change, and reads see either the old or the new state.

    Args:
        dim: embedding length D.
    """

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._lock = threading.RLock()
        self._matrix = np.zeros((64, dim), np.float32)
        self._employee = np.zeros(64, np.int64)
        self._template = np.zeros(64, np.int64)
        self._rows: dict[int, int] = {}  # template id -> row
        self._size = 0

    # -- building -------------------------------------------------------------------------
    @classmethod
    def from_arrays(cls, template_ids: npt.ArrayLike, employee_ids: npt.ArrayLike,
                    embeddings: npt.NDArray[np.float32]) -> Gallery:
        """Build a gallery in one go (loading from the database)."""
        embeddings = np.asarray(embeddings, np.float32)
        if embeddings.ndim != 2:
            raise ValueError("embeddings must be an (N, D) array")
        n, dim = embeddings.shape
        gallery = cls(dim)
        gallery._grow(n)
        gallery._matrix[:n] = embeddings
        gallery._employee[:n] = np.asarray(employee_ids, np.int64)
        gallery._template[:n] = np.asarray(template_ids, np.int64)
        gallery._rows = {int(t): i for i, t in enumerate(gallery._template[:n])}
        gallery._size = n
        return gallery

    def __len__(self) -> int:
        return self._size

    @property
    def people(self) -> int:
        """Number of distinct people in the gallery."""
        with self._lock:
            return int(np.unique(self._employee[: self._size]).size)

    def add(self, template_id: int, employee_id: int, embedding: Embedding) -> None:
        """Add (or overwrite) one template."""
        vector = self._check(embedding)
        with self._lock:
            row = self._rows.get(template_id)
            if row is None:
                self._grow(self._size + 1)
                row = self._size
                self._size += 1
                self._rows[template_id] = row
            self._matrix[row] = vector
            self._employee[row] = employee_id
            self._template[row] = template_id

    def remove_template(self, template_id: int) -> bool:
        """Remove one template; returns False when it was not there."""
        with self._lock:
            row = self._rows.pop(template_id, None)
            if row is None:
                return False
            last = self._size - 1
            if row != last:
                self._matrix[row] = self._matrix[last]
                self._employee[row] = self._employee[last]
                self._template[row] = self._template[last]
                self._rows[int(self._template[row])] = row
            self._size -= 1
            return True

    def remove_employee(self, employee_id: int) -> int:
        """Remove every template of a person; returns how many were removed."""
        with self._lock:
            ids = self._template[: self._size][self._employee[: self._size] == employee_id]
            for template_id in ids.tolist():
                self.remove_template(int(template_id))
            return len(ids)

    def replace_employee(self, employee_id: int,
                         templates: list[tuple[int, Embedding]]) -> None:
        """Swap a person's templates for new ones in one step."""
        with self._lock:
            self.remove_employee(employee_id)
            for template_id, embedding in templates:
                self.add(template_id, employee_id, embedding)

    def employee_ids(self) -> set[int]:
        with self._lock:
            return set(self._employee[: self._size].tolist())

    # -- matching -------------------------------------------------------------------------
    def scores(self, embedding: Embedding) -> npt.NDArray[np.float32]:
        """Cosine similarity with every template, in row order (one vectorised call)."""
        with self._lock:
            return self._matrix[: self._size] @ self._check(embedding)

    def identify(self, embedding: Embedding, *, exclude_employee: int | None = None) -> Match:
        """Who is this? The best-scoring person and the best score of anyone else.

        Whether the score is good enough is the decision policy's business
        (``matching.policy``), not the gallery's.

        Args:
            embedding: the probe.
            exclude_employee: leave this person out (checking a new photo of someone for
                duplicates among everyone else).
        """
        vector = self._check(embedding)
        with self._lock:
            n = self._size
            if n == 0:
                return NO_MATCH
            scores = self._matrix[:n] @ vector
            employees = self._employee[:n]
            if exclude_employee is not None:
                keep = employees != exclude_employee
                if not keep.any():
                    return NO_MATCH
                if not keep.all():
                    scores, employees = scores[keep], employees[keep]
                    templates = self._template[:n][keep]
                    n = len(scores)
                else:
                    templates = self._template[:n]
            else:
                templates = self._template[:n]
            k = min(_CANDIDATES, n)
            top = np.argpartition(scores, n - k)[n - k:] if k < n else np.arange(n)
            top = top[np.argsort(scores[top])[::-1]]
            best = int(top[0])
            best_employee = employees[best]
            others = top[employees[top] != best_employee]
            if others.size:
                second = float(scores[others[0]])
            else:
                rest = scores[employees != best_employee]
                second = float(rest.max()) if rest.size else -1.0
            return Match(int(best_employee), int(templates[best]), float(scores[best]), second)

    def verify(self, employee_id: int, embedding: Embedding) -> float:
        """Is this that person? The best score over that person's templates
        (-1 when the person has none in the gallery)."""
        vector = self._check(embedding)
        with self._lock:
            mask = self._employee[: self._size] == employee_id
            if not mask.any():
                return -1.0
            return float((self._matrix[: self._size][mask] @ vector).max())

    # -- internals ------------------------------------------------------------------------
    def _check(self, embedding: Embedding) -> npt.NDArray[np.float32]:
        vector = np.asarray(embedding, np.float32).reshape(-1)
        if self.dim == 0:
            self.dim = vector.size
            self._matrix = np.zeros((64, self.dim), np.float32)
        if vector.size != self.dim:
            raise ValueError(f"embedding has {vector.size} values, the gallery holds {self.dim}")
        return vector

    def _grow(self, needed: int) -> None:
        capacity = len(self._matrix)
        if needed <= capacity:
            return
        new_capacity = max(needed, capacity * 2)
        for name in ("_matrix", "_employee", "_template"):
            old = getattr(self, name)
            new = np.zeros((new_capacity, *old.shape[1:]), old.dtype)
            new[: self._size] = old[: self._size]
            setattr(self, name, new)
