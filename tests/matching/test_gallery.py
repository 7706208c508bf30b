"""The gallery finds the right person, says who came second, and stays right as people
are added, replaced and removed."""

from __future__ import annotations

import numpy as np
import pytest

from turnstile.matching.gallery import Gallery


def _unit(rng: np.random.Generator, n: int, dim: int = 128) -> np.ndarray:
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _near(vector: np.ndarray, rng: np.random.Generator, noise: float = 0.05) -> np.ndarray:
    v = vector + noise * rng.standard_normal(vector.shape).astype(np.float32)
    return (v / np.linalg.norm(v)).astype(np.float32)


def test_empty_gallery_knows_nobody():
    match = Gallery(128).identify(np.ones(128, np.float32) / np.sqrt(128))
    assert match.employee_id is None and match.score == -1.0


def test_identify_finds_the_person_and_the_runner_up():
    rng = np.random.default_rng(1)
    people = _unit(rng, 500)
    gallery = Gallery.from_arrays(np.arange(500) + 1000, np.arange(500), people)
    probe = _near(people[123], rng)
    match = gallery.identify(probe)
    assert match.employee_id == 123 and match.template_id == 1123
    assert match.score > 0.8
    others = np.delete(people, 123, axis=0) @ probe
    assert match.second_score == pytest.approx(float(others.max()), abs=1e-5)
    assert match.margin == pytest.approx(match.score - match.second_score)


def test_runner_up_is_another_person_even_with_many_templates_each():
    rng = np.random.default_rng(2)
    base = _unit(rng, 2)
    gallery = Gallery(128)
    t = 0
    for employee in (0, 1):
        for _ in range(40):  # more templates than the candidate window
            gallery.add(t, employee, _near(base[employee], rng, 0.01))
            t += 1
    match = gallery.identify(base[0])
    assert match.employee_id == 0
    assert match.second_score == pytest.approx(float(base[1] @ base[0]), abs=0.05)


def test_incremental_changes_match_a_fresh_build():
    rng = np.random.default_rng(3)
    people = _unit(rng, 300)
    gallery = Gallery(128)
    for i, v in enumerate(people):
        gallery.add(i, i, v)
    assert gallery.remove_employee(10) == 1
    gallery.remove_template(20)
    gallery.replace_employee(30, [(1000, people[31])])
    assert len(gallery) == 298
    assert 10 not in gallery.employee_ids() and 20 not in gallery.employee_ids()
    assert gallery.identify(people[10]).employee_id != 10
    assert gallery.verify(30, people[31]) == pytest.approx(1.0, abs=1e-5)
    assert gallery.verify(10, people[10]) == -1.0
    # every remaining person is still found exactly
    for i in (0, 5, 150, 299):
        assert gallery.identify(people[i]).employee_id == i


def test_wrong_length_embedding_is_refused():
    gallery = Gallery(128)
    with pytest.raises(ValueError, match="128"):
        gallery.identify(np.ones(64, np.float32))


def test_shortlist_names_the_best_people_once_each_best_first():
    rng = np.random.default_rng(7)
    people = _unit(rng, 300)
    # three templates for each of the first 50 people, one for the others
    rows = np.concatenate([people, *(_near(p, rng, 0.02)[None] for p in people[:50]),
                           *(_near(p, rng, 0.02)[None] for p in people[:50])])
    owners = np.concatenate([np.arange(300), np.arange(50), np.arange(50)])
    gallery = Gallery.from_arrays(np.arange(len(rows)), owners, rows)
    probe = _near(people[10], rng, 0.05)
    best = gallery.shortlist(probe, 5)
    assert [e for e, _ in best][0] == 10
    assert len({e for e, _ in best}) == 5
    per_person = {e: float((rows[owners == e] @ probe).max()) for e in range(300)}
    expected = sorted(per_person.items(), key=lambda item: -item[1])[:5]
    assert [e for e, _ in best] == [e for e, _ in expected]
    assert [s for _, s in best] == pytest.approx([s for _, s in expected], abs=1e-5)
    assert len(gallery.shortlist(probe, 1000)) == 300  # no more than there are people
    assert Gallery(128).shortlist(probe, 5) == []


def test_a_persons_templates_stay_theirs_through_any_sequence_of_changes():
    """verify/has_employee/people answer from a per-person index: after hundreds of random
    adds, overwrites (a template moved to another person), removals and replacements, they
    agree with a plain list of (template, person, vector)."""
    rng = np.random.default_rng(11)
    gallery = Gallery(32)
    truth: dict[int, tuple[int, np.ndarray]] = {}
    next_id = 0
    for _ in range(600):
        action = rng.integers(4)
        if action == 0 or not truth:
            person, vector = int(rng.integers(40)), _unit(rng, 1, 32)[0]
            gallery.add(next_id, person, vector)
            truth[next_id] = (person, vector)
            next_id += 1
        elif action == 1:  # overwrite an existing template, possibly for someone else
            template = int(rng.choice(list(truth)))
            person, vector = int(rng.integers(40)), _unit(rng, 1, 32)[0]
            gallery.add(template, person, vector)
            truth[template] = (person, vector)
        elif action == 2:
            template = int(rng.choice(list(truth)))
            assert gallery.remove_template(template)
            del truth[template]
        else:
            person = int(rng.integers(40))
            new = [(next_id + i, _unit(rng, 1, 32)[0]) for i in range(int(rng.integers(3)))]
            next_id += len(new)
            gallery.replace_employee(person, new)
            truth = {t: pv for t, pv in truth.items() if pv[0] != person}
            truth.update({t: (person, v) for t, v in new})
    probe = _unit(rng, 1, 32)[0]
    people = {p for p, _ in truth.values()}
    assert gallery.employee_ids() == people and gallery.people == len(people)
    assert len(gallery) == len(truth)
    for person in range(40):
        assert gallery.has_employee(person) == (person in people)
        expected = max((float(v @ probe) for p, v in truth.values() if p == person),
                       default=-1.0)
        assert gallery.verify(person, probe) == pytest.approx(expected, abs=1e-5)
