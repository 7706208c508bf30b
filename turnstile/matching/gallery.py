"""The gallery: every enrolled template as one contiguous float32 matrix.

Scores are cosine similarities (dot products of unit vectors): higher means more alike.
A person with several templates is scored by the best of them (max over templates).

The search is one matrix-vector product, memory-bound; for large galleries it is split
between the two cores (numpy releases the GIL in the product, and one core alone cannot
saturate the memory bus). An exact pruning index (templates projected on 48 principal
directions, Cauchy-Schwarz bounds, full scores only for candidates) was measured and
dropped: on face-like embeddings at 100k templates it took 2.3-2.5 ms a probe against
1.6-1.7 ms for the split full pass (tests/bench/bench_matching.py).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from turnstile.vision.types import Embedding

_SPLIT_MIN_ROWS = 40_000
"""The product is split between two threads from this many rows (below it one thread is
done before a second one would have started)."""

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
        # Rows sorted by employee id, built when first needed after a change: a person's rows
        # by binary search (the door judges each frame against its shortlisted candidates this
        # way) for 1.6 MB at 100k rows, where a dict of sets took 33 MB.
        self._by_employee: tuple[npt.NDArray[np.intp], npt.NDArray[np.int64]] | None = None
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
        gallery._grow(n + max(_HEADROOM_ROWS, n // 64))
        gallery._matrix[:n] = embeddings
        gallery._employee[:n] = np.asarray(employee_ids, np.int64)
        gallery._template[:n] = np.asarray(template_ids, np.int64)
        # tolist() gives Python ints in one call: 5x faster than int() on each numpy scalar.
        gallery._rows = dict(zip(gallery._template[:n].tolist(), range(n)))
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
            self._by_employee = None

    def remove_template(self, template_id: int) -> bool:
        """Remove one template; returns False when it was not there."""
        with self._lock:
            row = self._rows.pop(template_id, None)
            if row is None:
                return False
            self._by_employee = None
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

    def has_employee(self, employee_id: int) -> bool:
        """Whether the person has a template here."""
        with self._lock:
            return len(self._rows_of(employee_id)) > 0

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
            # One pass over the matrix (N x D multiply-adds, memory-bound: 51 MB read per
            # probe at 100k templates); the rest is a few O(N) passes over the scores, with
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

    def shortlist(self, embedding: Embedding, k: int) -> list[tuple[int, float]]:
        """The ``k`` best-scoring people, best first: ``(employee id, best score)``."""
        vector = self._check(embedding)
        with self._lock:
            n = self._size
            if n == 0 or k < 1:
                return []
            scores = _matvec(self._matrix[:n], vector)
            employees = self._employee[:n]
            out: list[tuple[int, float]] = []
            # Rows of one person are few (usually one, fused): take the top rows in order
            # and skip repeated people until k distinct ones are found.
            take = min(n, 4 * k)
            while True:
                top = np.argpartition(-scores, take - 1)[:take] if take < n else np.arange(n)
                top = top[np.argsort(-scores[top], kind="stable")]
                seen: set[int] = set()
                out = []
                for row in top.tolist():
                    employee = int(employees[row])
                    if employee not in seen:
                        seen.add(employee)
                        out.append((employee, float(scores[row])))
                        if len(out) == k:
                            return out
                if take >= n:
                    return out
                take = min(n, take * 4)

    def verify(self, employee_id: int, embedding: Embedding) -> float:
        """Is this that person? The best score over that person's templates
        (-1 when the person has none in the gallery)."""
        vector = self._check(embedding)
        with self._lock:
            rows = self._rows_of(employee_id)
            if not len(rows):
                return -1.0
            return float((self._matrix[rows] @ vector).max())

    # -- internals ------------------------------------------------------------------------
    def _rows_of(self, employee_id: int) -> npt.NDArray[np.intp]:
        """The rows of one person (call with the lock held)."""
        if self._by_employee is None:  # a few ms at 100k rows, once after a change
            employees = self._employee[: self._size]
            order = np.argsort(employees, kind="stable")
            self._by_employee = (order, employees[order])
        order, sorted_ids = self._by_employee
        lo = int(np.searchsorted(sorted_ids, employee_id, side="left"))
        hi = int(np.searchsorted(sorted_ids, employee_id, side="right"))
        return order[lo:hi]

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
