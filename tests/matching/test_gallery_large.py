"""Large galleries (the product split over two threads) give exactly the answer of a plain
pass: the same person, template, score and runner-up, also after people are added and
removed, and with a person left out."""

from __future__ import annotations

import numpy as np
import pytest

from turnstile.matching.gallery import _SPLIT_MIN_ROWS, Gallery


def face_like(rng, n, dim=128):
    """Unit vectors distributed like face embeddings: a strong common direction, a few
    dominant directions, and a long tail (cosine between strangers ~0.8, as dlib's)."""
    mean = rng.standard_normal(dim)
    mean *= 4.1 / np.linalg.norm(mean)
    scales = np.geomspace(0.35, 0.03, dim)
    rows = mean + rng.standard_normal((n, dim)) * scales
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def brute_force(matrix, employees, templates, q, exclude=None):
    scores = matrix @ q
    if exclude is not None:
        scores[employees == exclude] = -np.inf
    best = int(np.argmax(scores))
    rest = scores.copy()
    rest[employees == employees[best]] = -np.inf
    second = float(rest.max()) if np.isfinite(rest.max()) else -1.0
    return int(employees[best]), int(templates[best]), float(scores[best]), second


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    n = _SPLIT_MIN_ROWS + 5_001  # odd: the two halves differ by one row
    matrix = face_like(rng, n)
    employees = np.arange(n) // 2 + 1   # two templates a person
    templates = np.arange(n) + 100
    genuine = matrix[rng.choice(n, 40)] + rng.standard_normal((40, 128)).astype(np.float32) * 0.02
    genuine /= np.linalg.norm(genuine, axis=1, keepdims=True)
    probes = np.vstack([genuine, face_like(rng, 40)])
    return matrix, employees, templates, probes


def test_large_gallery_gives_the_exact_answer(data):
    matrix, employees, templates, probes = data
    g = Gallery.from_arrays(templates, employees, matrix)
    for q in probes:
        got = g.identify(q)
        want = brute_force(matrix, employees, templates, q)
        assert (got.employee_id, got.template_id) == want[:2]
        assert got.score == pytest.approx(want[2], abs=1e-5)
        assert got.second_score == pytest.approx(want[3], abs=1e-5)


def test_large_gallery_honours_exclusion_and_follows_changes(data):
    matrix, employees, templates, probes = data
    g = Gallery.from_arrays(templates, employees, matrix)
    rng = np.random.default_rng(3)
    # Remove a few hundred people, add a few hundred new templates.
    gone = set(rng.choice(employees, 60, replace=False).tolist())
    for e in gone:
        g.remove_employee(e)
    new = face_like(rng, 400)
    for i, row in enumerate(new):
        g.add(10_000_000 + i, 9_000_000 + i // 2, row)
    keep = ~np.isin(employees, list(gone))
    m2 = np.vstack([matrix[keep], new])
    e2 = np.concatenate([employees[keep], 9_000_000 + np.arange(400) // 2])
    t2 = np.concatenate([templates[keep], 10_000_000 + np.arange(400)])
    for q in probes[::4]:
        want = brute_force(m2, e2, t2, q)
        got = g.identify(q)
        assert (got.employee_id, got.template_id) == want[:2]
        assert got.second_score == pytest.approx(want[3], abs=1e-5)
        excluded = g.identify(q, exclude_employee=want[0])
        assert excluded.employee_id != want[0]
        assert excluded.employee_id == brute_force(m2, e2, t2, q, exclude=want[0])[0]
