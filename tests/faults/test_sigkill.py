"""SIGKILL (the OOM killer, a power cut of the process, ``kill -9``) at every SQL statement of
an enrollment and of the event writer's work: afterwards the database opens cleanly, a person
is either fully there (employee and face template) or absent, and every access event the
writer had reported as written is there, whole."""

from __future__ import annotations

import shutil

import pytest
from fault_support import integrity_ok, run_child, sqlite_rows, statements

from turnstile.services.gallery import GalleryService
from turnstile.storage import repositories as repo
from turnstile.storage.db import open_database

SIGKILLED = -9


@pytest.fixture(scope="module")
def photo(shared_data):
    return shared_data / "people" / "Barack_Obama" / "obama.jpg"


@pytest.fixture
def seeded(tmp_path, photo):
    """A database that already holds someone (so "absent" is not "empty file"), and the SQL
    statements one more enrollment into it runs, from an undisturbed run on a copy."""
    # Function-scoped: the children must share this test's TURNSTILE_HOME (where a database's
    # key lives when its biometric columns are encrypted).
    folder = tmp_path / "seeded"
    folder.mkdir()
    seed = folder / "seed.db"
    done = run_child("enroll", f"sqlite:///{seed}", photo, "SEED", 0)
    assert done.returncode == 0, done.stderr[-3000:]
    shutil.copyfile(seed, folder / "count.db")
    done = run_child("enroll", f"sqlite:///{folder / 'count.db'}", photo, "E1", 0)
    assert done.returncode == 0, done.stderr[-3000:]
    found = statements(done.stdout)
    assert "COMMIT" in found and found.count("INSERT") >= 2, found
    return seed, found


def test_enrollment_killed_at_every_statement_is_all_or_nothing(tmp_path, photo, seeded):
    seed, enrollment_statements = seeded
    outcomes = []
    for kill_at in range(1, len(enrollment_statements) + 1):
        db_file = tmp_path / f"kill{kill_at}.db"
        url = f"sqlite:///{db_file}"
        shutil.copyfile(seed, db_file)
        killed = run_child("enroll", url, photo, "E1", kill_at)
        assert killed.returncode == SIGKILLED, (kill_at, killed.returncode,
                                                killed.stderr[-2000:])
        ran = statements(killed.stdout)
        assert len(ran) == kill_at
        assert integrity_ok(db_file)
        people = sqlite_rows(db_file, "SELECT id, employee_number FROM employees")
        numbers = {number for _, number in people}
        templates = dict(sqlite_rows(
            db_file, "SELECT employee_id, COUNT(*) FROM face_templates GROUP BY employee_id"))
        assert all(templates.get(pid) == 1 for pid, _ in people), (kill_at, people, templates)
        assert set(templates) <= {pid for pid, _ in people}
        present = "E1" in numbers
        outcomes.append((kill_at, ran[-1], present))
        # Killed before its COMMIT started: absent. After: there, face and all.
        assert present == ("COMMIT" in ran[:-1]), outcomes
        # Turnstile opens it (no repair needed) and loads every face into the gallery.
        db = open_database(url)
        try:
            with db.session() as s:
                assert repo.count_employees(s) == len(people)
            galleries = GalleryService(db, _model_id(), 128)
            galleries.reload()
            assert len(galleries.everyone) == len(people)
        finally:
            db.dispose()
        if sum(p == present for _, _, p in outcomes) == 1:
            # The absent person can simply be enrolled again; the present one is not doubled.
            again = run_child("enroll", url, photo, "E1", 0)
            if present:
                assert again.returncode != 0 and "already in use" in again.stderr
            else:
                assert again.returncode == 0, again.stderr[-2000:]
    assert {p for _, _, p in outcomes} == {True, False}, outcomes  # both sides of the commit


def _model_id() -> str:
    from turnstile.resources import embedder_model_id

    return embedder_model_id()


@pytest.fixture
def event_statements(tmp_path):
    folder = tmp_path / "count_events"
    folder.mkdir()
    done = run_child("events", f"sqlite:///{folder / 'c.db'}", 2, 0)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("written ") == 2
    return statements(done.stdout)


def test_event_writer_killed_at_every_statement_keeps_what_it_committed(tmp_path,
                                                                       event_statements):
    for kill_at in range(1, len(event_statements) + 1):
        db_file = tmp_path / f"events{kill_at}.db"
        killed = run_child("events", f"sqlite:///{db_file}", 2, kill_at)
        assert killed.returncode == SIGKILLED, (kill_at, killed.stderr[-2000:])
        reported = [int(line.split()[1]) for line in killed.stdout.splitlines()
                    if line.startswith("written ")]
        commits_run = event_statements[:kill_at - 1].count("COMMIT")
        assert integrity_ok(db_file), kill_at
        rows = sqlite_rows(db_file, "SELECT id, decision, reason FROM access_events "
                                    "ORDER BY id")
        ids = [r[0] for r in rows]
        assert set(reported) <= set(ids), (kill_at, reported, ids)  # nothing reported is lost
        assert len(rows) == commits_run, (kill_at, rows)  # and nothing half-written appears
        assert [r[2] for r in rows] == [f"n{i}" for i in range(len(rows))]  # in order
        db = open_database(f"sqlite:///{db_file}")
        try:
            with db.session() as s:
                for event_id in ids:
                    snapshot = repo.get_event_snapshot(s, event_id)
                    assert snapshot is not None and snapshot[:2] == b"\xff\xd8"  # a JPEG
        finally:
            db.dispose()
