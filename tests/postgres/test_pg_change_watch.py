"""The staff-list fingerprint that stations poll: every change a door must know about changes
it, nothing else does, on PostgreSQL and on SQLite alike."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from turnstile.services.change_watch import ChangeWatcher
from turnstile.storage import repositories as repo
from turnstile.storage.db import Database, open_database
from turnstile.storage.models import utcnow


@pytest.fixture(params=["postgresql", "sqlite"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    url = (request.getfixturevalue("pg_url") if request.param == "postgresql"
           else "sqlite:///" + str(tmp_path / "watch.db"))
    database = open_database(url)
    yield database
    database.dispose()


def _embedding(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=128).astype(np.float32)
    return v / np.linalg.norm(v)


def test_every_staff_change_and_only_those_change_the_fingerprint(db: Database) -> None:
    watcher = ChangeWatcher(db)
    assert watcher.check()          # nothing seen yet
    assert not watcher.check()

    with db.session() as s:
        ada = repo.create_employee(s, employee_number="E1", name="Ada").id
        bob = repo.create_employee(s, employee_number="E2", name="Bob").id
    assert watcher.check()          # enrolled
    with db.session() as s:
        template = repo.add_template(s, ada, embedding=_embedding(1), model_id="m",
                                     source="photo").id
    assert watcher.check()          # a photo added
    with db.session() as s:
        repo.update_employee(s, bob, department="Stores")
    assert watcher.check()          # details edited
    with db.session() as s:
        repo.set_employee_status(s, bob, "suspended")
    assert watcher.check()          # suspended
    with db.session() as s:
        repo.set_employee_status(s, bob, "suspended")
    assert not watcher.check()      # the same status again: nothing changed

    # An edit made after the wall clock was set back an hour does not raise the largest
    # update time; the sum of the update times still moves.
    with db.session() as s:
        person = repo.get_employee(s, ada)
        person.valid_until = utcnow() + timedelta(days=30)
        person.updated_at = utcnow() - timedelta(hours=1)
    assert watcher.check()

    with db.session() as s:
        repo.set_threshold(s, "m", "accept", 0.96)
    assert watcher.check()          # a new threshold
    with db.session() as s:
        repo.delete_template(s, template)
    assert watcher.check()          # a photo removed
    with db.session() as s:
        repo.delete_employee(s, bob)
    assert watcher.check()          # deleted
    with db.session() as s:
        door = repo.get_or_create_door(s, "North door")
        repo.add_event(s, door_id=door.id, decision="unknown", at=utcnow(), score=0.4)
    assert not watcher.check()      # the access log is not the staff list


def test_a_failed_check_makes_the_next_one_answer_changed(db: Database) -> None:
    calls = {"n": 0}

    def flaky() -> Database:
        calls["n"] += 1
        if calls["n"] == 3:
            from turnstile.storage.errors import DatabaseUnreachableError

            raise DatabaseUnreachableError("server restarting")
        return db

    watcher = ChangeWatcher(flaky)
    assert watcher.check()
    assert not watcher.check()
    with pytest.raises(Exception, match="server restarting"):
        watcher.check()
    # A change may have been missed while it was away: reload to be sure.
    assert watcher.check()
    assert not watcher.check()
