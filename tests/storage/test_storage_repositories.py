"""Repositories on a real SQLite file: employees, templates, gallery rows, doors, events,
thresholds, and what deleting a person erases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import text

from turnstile.storage import repositories as repo
from turnstile.storage.db import Database
from turnstile.storage.errors import (
    DuplicateEmployeeNumber,
    EmployeeNotFound,
    ValidationError,
)

MODEL = "test_model@0001"
NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def _unit(dim: int = 128, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return v / np.linalg.norm(v)


# --- employees (e) ------------------------------------------------------------------------


def test_employee_crud(db: Database) -> None:
    with db.session() as s:
        created = repo.create_employee(s, employee_number=" E-001 ", name="  Ada Lovelace ",
                                       department="Engineering")
    assert created.id is not None and created.employee_number == "E-001"
    assert created.name == "Ada Lovelace" and created.status == "active"
    assert created.created_at.tzinfo is UTC

    with db.session() as s:
        assert repo.get_employee(s, created.id).name == "Ada Lovelace"
        assert repo.get_employee_by_number(s, "E-001").id == created.id
        updated = repo.update_employee(s, created.id, name="Ada King", department=None)
        assert updated.department is None and updated.updated_at >= created.updated_at
        repo.set_employee_status(s, created.id, "suspended")

    with db.session() as s:
        again = repo.get_employee(s, created.id)
        assert (again.name, again.department, again.status) == ("Ada King", None, "suspended")
        assert repo.list_employees(s, status="active") == []
        assert [e.id for e in repo.list_employees(s, status="suspended")] == [created.id]
        counts = repo.delete_employee(s, created.id)
        assert counts == repo.DeletionCounts(templates=0, snapshots=0, events_unlinked=0)

    with db.session() as s, pytest.raises(EmployeeNotFound):
        repo.get_employee(s, created.id)
    with db.session() as s, pytest.raises(EmployeeNotFound):
        repo.get_employee_by_number(s, "E-001")


def test_duplicate_employee_number(db: Database) -> None:
    with db.session() as s:
        first = repo.create_employee(s, employee_number="E1", name="First")
        second = repo.create_employee(s, employee_number="E2", name="Second")
    with pytest.raises(DuplicateEmployeeNumber, match="E1"), db.session() as s:
        repo.create_employee(s, employee_number="E1", name="Someone else")
    with pytest.raises(DuplicateEmployeeNumber), db.session() as s:
        repo.update_employee(s, second.id, employee_number="E1")
    with db.session() as s:
        assert repo.count_employees(s) == 2
        assert repo.get_employee(s, first.id).name == "First"


def test_duplicate_caught_by_unique_constraint_too(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pre-check can lose a race with another process; the constraint still answers."""
    with db.session() as s:
        repo.create_employee(s, employee_number="E1", name="First")
    real_scalar = repo.Session.scalar
    monkeypatch.setattr(repo.Session, "scalar", lambda self, stmt, *a, **k: None)
    with pytest.raises(DuplicateEmployeeNumber), db.session() as s:
        repo.create_employee(s, employee_number="E1", name="Racer")
    monkeypatch.setattr(repo.Session, "scalar", real_scalar)
    with db.session() as s:
        assert repo.count_employees(s) == 1


@pytest.mark.parametrize("name", [
    "Zoë Ørsted-Łukasiewicz",
    "李小龍",
    "محمد بن سلمان",
    "O'Brien",
    "'; DROP TABLE employees; --",
    "Robert\u200d👩‍💻 Tables",
    "x" * 200,
])
def test_any_unicode_and_sql_text_is_just_a_name(db: Database, name: str) -> None:
    with db.session() as s:
        employee = repo.create_employee(s, employee_number="N-1", name=name)
    with db.session() as s:
        assert repo.get_employee(s, employee.id).name == name
        assert [e.id for e in repo.list_employees(s, search=name[:10])] == [employee.id]
        assert s.execute(text("SELECT count(*) FROM employees")).scalar() == 1


@pytest.mark.parametrize(("field", "kwargs"), [
    ("name", {"name": ""}),
    ("name", {"name": "   \t "}),
    ("name", {"name": "x" * 201}),
    ("name", {"name": "Bad\x00Name"}),
    ("employee_number", {"employee_number": ""}),
    ("employee_number", {"employee_number": "9" * 65}),
    ("employee_number", {"employee_number": "E\n1"}),
    ("employee_number", {"employee_number": "E\x1b[31m"}),
    ("status", {"status": "fired"}),
    ("valid_from", {"valid_from": datetime(2024, 1, 1)}),
    ("valid_until", {"valid_from": NOW, "valid_until": NOW - timedelta(days=1)}),
])
def test_invalid_employee_values_rejected(db: Database, field: str, kwargs: dict) -> None:
    values = {"employee_number": "E1", "name": "Valid Name"} | kwargs
    with pytest.raises(ValidationError) as info, db.session() as s:
        repo.create_employee(s, **values)
    assert info.value.field == field
    assert isinstance(info.value, ValueError)
    with db.session() as s:
        assert repo.count_employees(s) == 0


def test_search_treats_wildcards_literally(db: Database) -> None:
    with db.session() as s:
        repo.create_employee(s, employee_number="A1", name="100% Cotton")
        repo.create_employee(s, employee_number="A2", name="Plain")
        repo.create_employee(s, employee_number="A3", name="Under_score", department="Ops")
        assert [e.employee_number for e in repo.list_employees(s, search="%")] == ["A1"]
        assert [e.employee_number for e in repo.list_employees(s, search="_")] == ["A3"]
        assert [e.employee_number for e in repo.list_employees(s, search="ops")] == ["A3"]
        assert repo.count_employees(s, search="PLAIN") == 1  # case-insensitive
        assert repo.count_employees(s, search="a") == 3  # every number starts with "A"
        page = repo.list_employees(s, limit=2, offset=1)
        assert [e.name for e in page] == ["Plain", "Under_score"]


def test_times_are_aware_utc(db: Database) -> None:
    paris = timezone(timedelta(hours=2))
    with db.session() as s:
        employee = repo.create_employee(s, employee_number="T1", name="Tz",
                                        valid_from=datetime(2024, 6, 1, 14, 0, tzinfo=paris))
    with db.session() as s:
        stored = repo.get_employee(s, employee.id).valid_from
        assert stored == datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
        assert stored is not None and stored.utcoffset() == timedelta(0)
        raw = s.execute(text("SELECT valid_from FROM employees")).scalar_one()
        assert raw.startswith("2024-06-01 12:00:00")  # stored as naive UTC text on SQLite


# --- deletion (f) -------------------------------------------------------------------------


def test_delete_erases_templates_and_snapshots_keeps_events(db: Database) -> None:
    with db.session() as s:
        door = repo.get_or_create_door(s, "Main entrance")
        leaving = repo.create_employee(s, employee_number="L1", name="Leaving")
        staying = repo.create_employee(s, employee_number="S1", name="Staying")
        for seed in (1, 2):
            repo.add_template(s, leaving.id, embedding=_unit(seed=seed), model_id=MODEL,
                              source="photo", face_crop=b"\xff\xd8crop")
        repo.add_template(s, staying.id, embedding=_unit(seed=3), model_id=MODEL, source="camera")
        repo.add_event(s, door_id=door.id, decision="granted", employee_id=leaving.id,
                       snapshot=b"\xff\xd8one")
        repo.add_event(s, door_id=door.id, decision="denied", employee_id=leaving.id,
                       snapshot=b"\xff\xd8two")
        repo.add_event(s, door_id=door.id, decision="granted", employee_id=leaving.id)
        kept = repo.add_event(s, door_id=door.id, decision="granted", employee_id=staying.id,
                              snapshot=b"\xff\xd8kept")

    with db.session() as s:
        counts = repo.delete_employee(s, leaving.id)
    assert counts == repo.DeletionCounts(templates=2, snapshots=2, events_unlinked=3)

    with db.session() as s:
        assert s.execute(text("SELECT count(*) FROM face_templates WHERE employee_id = :e"),
                         {"e": leaving.id}).scalar() == 0
        rows = s.execute(text("SELECT employee_id, snapshot FROM access_events ORDER BY id")).all()
        assert rows[:3] == [(None, None)] * 3
        assert rows[3][0] == staying.id and rows[3][1] is not None
        assert repo.get_event_snapshot(s, kept.id) == b"\xff\xd8kept"
        assert len(repo.list_templates(s, staying.id)) == 1


def test_database_itself_cascades_and_sets_null(db: Database) -> None:
    """ON DELETE CASCADE / SET NULL hold even for a delete that bypasses the repositories."""
    with db.session() as s:
        door = repo.get_or_create_door(s, "Side door")
        employee = repo.create_employee(s, employee_number="X1", name="Raw")
        repo.add_template(s, employee.id, embedding=_unit(), model_id=MODEL, source="photo")
        repo.add_event(s, door_id=door.id, decision="granted", employee_id=employee.id)
    with db.session() as s:
        s.execute(text("DELETE FROM employees"))
    with db.session() as s:
        assert s.execute(text("SELECT count(*) FROM face_templates")).scalar() == 0
        assert s.execute(text("SELECT employee_id FROM access_events")).all() == [(None,)]


def test_erase_snapshots_alone(db: Database) -> None:
    with db.session() as s:
        door = repo.get_or_create_door(s, "D")
        employee = repo.create_employee(s, employee_number="C1", name="Withdrew consent")
        event = repo.add_event(s, door_id=door.id, decision="granted", employee_id=employee.id,
                               snapshot=b"img")
    with db.session() as s:
        assert repo.erase_employee_snapshots(s, employee.id) == 1
    with db.session() as s:
        assert repo.get_event_snapshot(s, event.id) is None
        assert repo.get_employee(s, employee.id).name == "Withdrew consent"


# --- templates and the gallery (h) --------------------------------------------------------


def test_templates_round_trip_and_keep_only_the_file_name(db: Database) -> None:
    vector = _unit(seed=7)
    with db.session() as s:
        employee = repo.create_employee(s, employee_number="P1", name="Photo")
        a = repo.add_template(s, employee.id, embedding=vector, model_id=MODEL, source="photo",
                              source_name=r"\\fileserver\hr\photos\ada.jpg", quality=0.9)
        b = repo.add_template(s, employee.id, embedding=vector.astype(np.float64),
                              model_id="other@1", source="import", source_name="/srv/x/y.png")
    assert (a.source_name, b.source_name) == ("ada.jpg", "y.png")
    assert a.dim == 128 and len(a.embedding) == 128 * 4
    with db.session() as s:
        (only,) = repo.list_templates(s, employee.id, model_id=MODEL)
        np.testing.assert_array_equal(repo.embedding_from_bytes(only.embedding), vector)
        assert len(repo.list_templates(s, employee.id)) == 2
        assert repo.delete_template(s, b.id) and not repo.delete_template(s, b.id)


@pytest.mark.parametrize("bad", [np.zeros((2, 2), np.float32), np.array([], np.float32),
                                 np.array([1.0, np.nan], np.float32), np.array([1, 2])])
def test_bad_embeddings_rejected(db: Database, bad: np.ndarray) -> None:
    with pytest.raises(ValidationError, match="mbedding"), db.session() as s:
        employee = repo.create_employee(s, employee_number="B1", name="Bad")
        repo.add_template(s, employee.id, embedding=bad, model_id=MODEL, source="photo")


def test_template_for_missing_employee(db: Database) -> None:
    with pytest.raises(EmployeeNotFound), db.session() as s:
        repo.add_template(s, 12345, embedding=_unit(), model_id=MODEL, source="photo")


def test_gallery_excludes_suspended_expired_and_future(db: Database) -> None:
    day = timedelta(days=1)
    people: dict[str, dict[str, Any]] = {
        "active": {},
        "suspended": {"status": "suspended"},
        "expired": {"valid_until": NOW - day},
        "not_yet": {"valid_from": NOW + day},
        "in_window": {"valid_from": NOW - day, "valid_until": NOW + day},
        "until_now": {"valid_until": NOW},  # bounds are inclusive
    }
    ids: dict[str, int] = {}
    with db.session() as s:
        for i, (label, kwargs) in enumerate(people.items()):
            employee = repo.create_employee(s, employee_number=f"G{i}", name=label, **kwargs)
            ids[label] = employee.id
            repo.add_template(s, employee.id, embedding=_unit(seed=i), model_id=MODEL,
                              source="photo")
            repo.add_template(s, employee.id, embedding=_unit(64, seed=i), model_id="other@2",
                              source="photo")
    with db.session() as s:
        rows = repo.load_gallery_rows(s, MODEL, now=NOW)
    assert {employee_id for _, employee_id, _ in rows} == {
        ids["active"], ids["in_window"], ids["until_now"]}
    template_ids, employee_ids, matrix = repo.gallery_arrays(rows)
    assert matrix.shape == (3, 128) and matrix.dtype == np.float32
    assert employee_ids.tolist() == [r[1] for r in rows] and len(set(template_ids)) == 3
    active_row = employee_ids.tolist().index(ids["active"])
    np.testing.assert_array_equal(matrix[active_row], _unit(seed=0))

    with db.session() as s:  # default "now" is the real clock: every 2024 window has closed
        assert {r[1] for r in repo.load_gallery_rows(s, MODEL)} == {ids["active"], ids["not_yet"]}
        repo.set_employee_status(s, ids["active"], "suspended")
        assert {r[1] for r in repo.load_gallery_rows(s, MODEL)} == {ids["not_yet"]}
    assert repo.gallery_arrays([])[2].shape == (0, 0)


def test_gallery_of_100k_templates_loads_whole(db: Database) -> None:
    n_people, per_person, dim = 25_000, 4, 128
    with db.session() as s:  # set-up generated inside SQLite (seconds faster than executemany)
        s.execute(text(
            "WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < :n) "
            "INSERT INTO employees (employee_number, name, status, created_at, updated_at) "
            "SELECT 'E' || i, 'Person ' || i, 'active', :t, :t FROM seq"),
            {"n": n_people, "t": "2024-01-01 00:00:00.000000"})
        s.execute(text(
            "WITH RECURSIVE k(j) AS (SELECT 1 UNION ALL SELECT j + 1 FROM k WHERE j < :per) "
            "INSERT INTO face_templates (employee_id, embedding, dim, model_id, source, "
            "created_at) SELECT e.id, :blob, :dim, :model, 'import', :t FROM employees e, k"),
            {"per": per_person, "blob": _unit(dim).tobytes(), "dim": dim, "model": MODEL,
             "t": "2024-01-01 00:00:00.000000"})
    # How fast is for tests/bench/bench_matching.py to say (a figure, not a pass/fail).
    with db.session() as s:
        rows = repo.load_gallery_rows(s, MODEL)
        _, _, matrix = repo.gallery_arrays(rows)
    assert matrix.shape == (n_people * per_person, dim)
    np.testing.assert_array_equal(matrix[-1], _unit(dim))


# --- doors, events, thresholds ------------------------------------------------------------


def test_get_or_create_door_is_idempotent(db: Database) -> None:
    with db.session() as s:
        first = repo.get_or_create_door(s, " Main entrance ")
        again = repo.get_or_create_door(s, "Main entrance")
        other = repo.get_or_create_door(s, "Loading bay")
        assert first.id == again.id != other.id
        assert [d.name for d in repo.list_doors(s)] == ["Loading bay", "Main entrance"]


def test_event_queries_filters_paging_and_export(db: Database) -> None:
    with db.session() as s:
        main = repo.get_or_create_door(s, "Main")
        side = repo.get_or_create_door(s, "Side")
        ada = repo.create_employee(s, employee_number="E1", name="Ada")
        decisions: list[repo.Decision] = ["granted", "denied", "unknown", "spoof", "error"]
        for i in range(50):
            repo.add_event(
                s, door_id=(main if i % 2 else side).id, decision=decisions[i % 5],
                at=NOW + timedelta(minutes=i // 2),  # pairs share a timestamp
                employee_id=ada.id if i % 5 in (0, 1) else None,
                score=0.5 + i / 100, threshold=0.6, model_id=MODEL,
                snapshot=b"jpeg" if i % 5 else None, reason="x" * 300 if i == 0 else None)

    with db.session() as s:
        assert repo.count_events(s) == 50
        page = repo.query_events(s, limit=10)
        assert [e.at for e in page] == sorted((e.at for e in page), reverse=True)
        assert page[0].at == NOW + timedelta(minutes=24) and page[0].id > page[1].id
        assert repo.query_events(s, limit=10, offset=45)[-1].id == 1
        ada_granted = repo.EventFilter(employee_id=ada.id, decisions=["granted"])
        assert repo.count_events(s, ada_granted) == 10
        window = repo.EventFilter(start=NOW + timedelta(minutes=5), end=NOW + timedelta(minutes=10))
        assert repo.count_events(s, window) == 10  # minutes 5..9, two events each
        at_main = repo.EventFilter(door_id=main.id, decisions=["spoof", "error"])
        assert {e.decision for e in repo.query_events(s, at_main, limit=100)} == {"spoof", "error"}
        first = repo.query_events(s, limit=1, newest_first=False)[0]
        assert first.reason is not None and len(first.reason) == 200
        assert first.reason.endswith("…")

    with db.session() as s:
        exported = list(repo.iter_events(s, chunk_rows=7))
        everything = repo.query_events(s, limit=1000)
        assert [e.id for e in exported] == [e.id for e in everything]
        oldest_first = list(repo.iter_events(s, window, chunk_rows=3, newest_first=False))
        assert [e.id for e in oldest_first] == sorted(e.id for e in oldest_first)
    # Employee and door were loaded with the events: readable after the session closed.
    assert {e.door.name for e in exported} == {"Main", "Side"}
    assert {e.employee.name for e in exported if e.employee} == {"Ada"}


def test_event_validation(db: Database) -> None:
    with db.session() as s:
        door = repo.get_or_create_door(s, "D")
        with pytest.raises(ValidationError):
            repo.add_event(s, door_id=door.id, decision="maybe")  # type: ignore[arg-type]
        with pytest.raises(ValidationError):
            repo.add_event(s, door_id=door.id, decision="granted", at=datetime(2024, 1, 1))
        with pytest.raises(ValidationError):
            repo.add_event(s, door_id=door.id, decision="granted", score=float("nan"))


def test_thresholds_per_model(db: Database) -> None:
    with db.session() as s:
        assert repo.get_thresholds(s, MODEL) == {}
        repo.set_threshold(s, MODEL, "accept", 0.62, target_far=1e-4, source="LFW pairs")
        repo.set_threshold(s, MODEL, "reject", 0.40)
        repo.set_threshold(s, "other@2", "accept", 0.9)
    with db.session() as s:
        repo.set_threshold(s, MODEL, "accept", 0.65, target_far=1e-5, source="recalibrated")
    with db.session() as s:
        assert repo.get_thresholds(s, MODEL) == {"accept": 0.65, "reject": 0.40}
        row = repo.get_threshold(s, MODEL, "accept")
        assert row is not None and (row.target_far, row.source) == (1e-5, "recalibrated")
        assert repo.get_threshold(s, MODEL, "missing") is None
        with pytest.raises(ValidationError):
            repo.set_threshold(s, MODEL, "accept", float("inf"))


def test_deleted_face_data_is_not_left_in_the_file(db: Database, db_path: Path) -> None:
    """secure_delete: after deleting a person and checkpointing, their bytes are gone."""
    marker = b"FACE-CROP-MARKER-" * 64
    with db.session() as s:
        door = repo.get_or_create_door(s, "D")
        employee = repo.create_employee(s, employee_number="Z1", name="Erase me")
        repo.add_template(s, employee.id, embedding=_unit(), model_id=MODEL, source="photo",
                          face_crop=marker)
        repo.add_event(s, door_id=door.id, decision="granted", employee_id=employee.id,
                       snapshot=marker)
    with db.engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        # Stored encrypted: what is in the file is the ciphertext, which must go too.
        stored = [row[0] for row in connection.exec_driver_sql(
            "SELECT face_crop FROM face_templates UNION ALL SELECT snapshot FROM access_events")]
    assert marker[:32] not in db_path.read_bytes()
    assert all(blob[:32] in db_path.read_bytes() for blob in stored)
    with db.session() as s:
        repo.delete_employee(s, employee.id)
    with db.engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    assert marker[:32] not in db_path.read_bytes()
    assert not any(blob[:32] in db_path.read_bytes() for blob in stored)
