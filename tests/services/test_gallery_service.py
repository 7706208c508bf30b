"""The galleries hold one row per person (the mean of their photos) and follow every change
made in the database."""

from __future__ import annotations

import numpy as np
import pytest

from turnstile.services.gallery import GalleryService
from turnstile.storage import repositories as repo
from turnstile.storage.db import open_database

MODEL = "test-model@1"


def _unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v)).astype(np.float32)


@pytest.fixture
def db(tmp_path):
    database = open_database(f"sqlite:///{tmp_path / 'g.db'}")
    yield database
    database.dispose()


def test_several_photos_are_averaged_into_one_row(db):
    rng = np.random.default_rng(0)
    a, b, other = (_unit(rng.standard_normal(8)) for _ in range(3))
    with db.session() as s:
        dana = repo.create_employee(s, employee_number="E1", name="Dana").id
        repo.add_template(s, dana, embedding=a, model_id=MODEL, source="photo")
        repo.add_template(s, dana, embedding=b, model_id=MODEL, source="photo")
        eve = repo.create_employee(s, employee_number="E2", name="Eve").id
        repo.add_template(s, eve, embedding=other, model_id=MODEL, source="photo")
    service = GalleryService(db, MODEL, 8)
    assert len(service.gallery) == 2 and len(service.everyone) == 2
    mean = _unit(a + b)
    match = service.gallery.identify(mean)
    assert match.employee_id == dana
    assert match.score == pytest.approx(1.0, abs=1e-5)
    assert service.gallery.verify(dana, a) == pytest.approx(float(mean @ a), abs=1e-5)


def test_refresh_follows_a_new_photo_a_suspension_and_a_deletion(db):
    rng = np.random.default_rng(1)
    a, b = (_unit(rng.standard_normal(8)) for _ in range(2))
    with db.session() as s:
        dana = repo.create_employee(s, employee_number="E1", name="Dana").id
        repo.add_template(s, dana, embedding=a, model_id=MODEL, source="photo")
    service = GalleryService(db, MODEL, 8)
    assert service.gallery.verify(dana, a) == pytest.approx(1.0, abs=1e-5)

    with db.session() as s:
        repo.add_template(s, dana, embedding=b, model_id=MODEL, source="photo")
    service.refresh_employee(dana)
    assert len(service.gallery) == 1
    assert service.gallery.verify(dana, _unit(a + b)) == pytest.approx(1.0, abs=1e-5)

    with db.session() as s:
        repo.set_employee_status(s, dana, "suspended")
    service.refresh_employee(dana)
    assert len(service.gallery) == 0 and len(service.everyone) == 1

    with db.session() as s:
        repo.delete_employee(s, dana)
    service.refresh_employee(dana)
    assert len(service.everyone) == 0
