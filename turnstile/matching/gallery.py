"""The gallery: every enrolled template as one contiguous float32 matrix.

Scores are cosine similarities (dot products of unit vectors): higher means more alike.
A person with several templates is scored by the best of them (max over templates).

Large galleries (:data:`INDEX_MIN_ROWS` templates or more) also keep a **pruning index**:
each template projected on the :data:`INDEX_DIMS` principal directions of the gallery, and
the length of what the projection leaves out. For a probe ``q`` and a template ``g`` split
the same way, ``g.q = proj(g).proj(q) + rest(g).rest(q)`` and, by Cauchy-Schwarz,
``|rest(g).rest(q)| <= |rest(g)| |rest(q)|``: the short projected product gives every
template's score to within a known slack. Only the templates whose upper bound reaches the
best lower bound can be the best (or the runner-up), and only those are scored in full. The
answer is the exact one, not an approximation; the search reads ~3x fewer bytes (the search
is memory-bound), and on two cores the projected product is split across both.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from turnstile.vision.types import Embedding

INDEX_MIN_ROWS = 20_000
"""Galleries at least this large get the pruning index (below it a plain pass over the matrix
takes < 0.3 ms, and the index would not pay for itself)."""

INDEX_DIMS = 48
"""Principal directions kept in the pruning index. Fewer read fewer bytes but leave more
slack, so more templates must be scored in full; 48 of 128 was the fastest measured on
embeddings distributed like LFW's (tests/bench/bench_matching.py)."""

_SLACK_EPS = 1e-5
"""Added to every bound to absorb float32 rounding, so pruning never drops the true best."""

_PRUNE_GIVE_UP = 8
"""When more than one template in this many must be scored in full, the index is not
pruning (embeddings with no structure, e.g. random vectors) and one full pass is cheaper."""

_SPLIT_MIN_ROWS = 40_000
"""The projected product is split between two threads from this many rows (numpy releases
the GIL in the product; one core alone cannot saturate the memory bus)."""

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _helper_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(1, thread_name_prefix="gallery")
        return _pool


def _matvec(matrix: npt.NDArray[np.float32], vector: npt.NDArray[np.float32]
            ) -> npt.NDArray[np.float32]:
    """``matrix @ vector``, the top half on a helper thread for large matrices."""
    n = len(matrix)
    if n < _SPLIT_MIN_ROWS:
        return matrix @ vector
    half = n // 2
    out = np.empty(n, np.float32)
    future = _helper_pool().submit(np.matmul, matrix[:half], vector, out[:half])
    np.matmul(matrix[half:], vector, out=out[half:])
    future.result()
    return out


def _fit_basis(rows: npt.NDArray[np.float32], dims: int) -> npt.NDArray[np.float32]:
    """The ``dims`` leading principal directions (of the second moment, so the mean
    direction, which carries most of the energy of face embeddings, comes first)."""
    step = max(1, len(rows) // 50_000)
    sample = rows[::step].astype(np.float64)
    _, vectors = np.linalg.eigh(sample.T @ sample)
    return np.ascontiguousarray(vectors[:, ::-1][:, :dims], dtype=np.float32)


_HEADROOM_ROWS = 1024
"""Spare rows (at least this many, or N/64) allocated when a gallery is built in one go, so
that the first enrollments after loading do not copy the whole matrix (0.1 s at 100k
templates, 1 s at 1M)."""


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
        # The pruning index (see the module docstring); None below INDEX_MIN_ROWS.
        self._basis: npt.NDArray[np.float32] | None = None
        self._coarse = np.zeros((64, 0), np.float32)
        self._rest = np.zeros(64, np.float32)

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
        gallery._grow(n + max(_HEADROOM_ROWS, n // 64))
        gallery._matrix[:n] = embeddings
        gallery._employee[:n] = np.asarray(employee_ids, np.int64)
        gallery._template[:n] = np.asarray(template_ids, np.int64)
        # tolist() gives Python ints in one call: 5x faster than int() on each numpy scalar.
        gallery._rows = dict(zip(gallery._template[:n].tolist(), range(n)))
        gallery._size = n
        if n >= INDEX_MIN_ROWS:
            gallery._build_index()
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
            if self._basis is not None:
                self._index_rows(row, row + 1)
            elif self._size >= INDEX_MIN_ROWS:
                self._build_index()

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
                if self._basis is not None:
                    self._coarse[row] = self._coarse[last]
                    self._rest[row] = self._rest[last]
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
            if self._basis is not None:
                return self._identify_pruned(vector, n, exclude_employee)
            return self._identify_full(vector, n, exclude_employee)

    def _identify_full(self, vector: npt.NDArray[np.float32], n: int,
                       exclude_employee: int | None) -> Match:
        # One pass over the matrix (N x D multiply-adds, memory-bound: 5 MB read per
        # probe at 10k templates); the rest is a few O(N) passes over the scores, with
        # no partition or sort (which added 0.1-0.3 ms at 100k).
        scores = _matvec(self._matrix[:n], vector)
        employees = self._employee[:n]
        if exclude_employee is not None:
            excluded = np.flatnonzero(employees == exclude_employee)
            if excluded.size == n:
                return NO_MATCH
            scores[excluded] = -np.inf
        best = int(np.argmax(scores))
        best_score = float(scores[best])
        best_employee = int(employees[best])
        # The runner-up is the best score of any *other* person: blank out every
        # template of the best person (scores is a fresh array) and take the maximum.
        scores[np.flatnonzero(employees == best_employee)] = -np.inf
        second = float(scores.max())
        if second == -np.inf:
            second = -1.0
        return Match(best_employee, int(self._template[best]), best_score, second)

    def _identify_pruned(self, vector: npt.NDArray[np.float32], n: int,
                         exclude_employee: int | None) -> Match:
        """:meth:`identify` through the pruning index: the same answer, fewer bytes read."""
        assert self._basis is not None
        projected = vector @ self._basis
        rest_q = float(np.sqrt(max(0.0, float(vector @ vector) - float(projected @ projected))))
        coarse = _matvec(self._coarse[:n], projected)
        slack = self._rest[:n] * rest_q
        slack += _SLACK_EPS
        upper = coarse + slack
        lower = coarse
        lower -= slack  # in place: ``coarse`` is not needed any more
        employees = self._employee[:n]
        if exclude_employee is not None:
            excluded = employees == exclude_employee
            if excluded.all():
                return NO_MATCH
            lower[excluded] = -np.inf
            upper[excluded] = -np.inf
        # The best template: any with an upper bound below the best lower bound cannot be it.
        candidates = np.flatnonzero(upper >= lower.max())
        if candidates.size * _PRUNE_GIVE_UP > n:  # nothing to gain: embeddings unlike faces
            return self._identify_full(vector, n, exclude_employee)
        exact = self._matrix[candidates] @ vector
        pick = int(np.argmax(exact))
        best_row = int(candidates[pick])
        best_score = float(exact[pick])
        best_employee = int(employees[best_row])
        # The runner-up (anyone else): the same test among the other people's templates.
        others = employees != best_employee
        lower[~others] = -np.inf
        floor = float(lower.max())
        second = -1.0
        if floor > -np.inf:
            rivals = np.flatnonzero((upper >= floor) & others)
            if rivals.size * _PRUNE_GIVE_UP > n:
                return self._identify_full(vector, n, exclude_employee)
            second = float((self._matrix[rivals] @ vector).max())
        return Match(best_employee, int(self._template[best_row]), best_score, second)

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

    def _build_index(self) -> None:
        n = self._size
        self._basis = _fit_basis(self._matrix[:n], min(INDEX_DIMS, self.dim))
        self._coarse = np.zeros((len(self._matrix), self._basis.shape[1]), np.float32)
        self._rest = np.zeros(len(self._matrix), np.float32)
        self._index_rows(0, n)

    def _index_rows(self, start: int, stop: int) -> None:
        assert self._basis is not None
        rows = self._matrix[start:stop]
        projected = rows @ self._basis
        self._coarse[start:stop] = projected
        left = np.einsum("ij,ij->i", rows, rows) - np.einsum("ij,ij->i", projected, projected)
        self._rest[start:stop] = np.sqrt(np.maximum(left, 0.0))

    def _grow(self, needed: int) -> None:
        capacity = len(self._matrix)
        if needed <= capacity:
            return
        new_capacity = max(needed, capacity * 2)
        names = ["_matrix", "_employee", "_template"]
        if self._basis is not None:
            names += ["_coarse", "_rest"]
        for name in names:
            old = getattr(self, name)
            new = np.zeros((new_capacity, *old.shape[1:]), old.dtype)
            new[: self._size] = old[: self._size]
            setattr(self, name, new)
