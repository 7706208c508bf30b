"""The tamper-evident access log: every kind of tampering is found, at the right event."""

from __future__ import annotations

import sqlite3
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from privacy_support import add_events, add_person, key_files

from turnstile.config import Settings
from turnstile.services import log_chain
from turnstile.services.privacy import erase_employee
from turnstile.services.retention import run_retention
from turnstile.storage import repositories as repo
from turnstile.storage.db import Database, open_database
from turnstile.storage.models import utcnow


def _sql(db_path: Path, *statements: str) -> None:
    """Change the file behind Turnstile's back, as someone with a database editor would."""
    connection = sqlite3.connect(db_path)
    try:
        for statement in statements:
            connection.execute(statement)
        connection.commit()
    finally:
        connection.close()


def test_an_untouched_log_verifies(db: Database, face_jpeg: bytes, snapshot_jpeg: bytes) -> None:
    add_person(db, "E1", "Ada Lovelace", seed=1, crop=face_jpeg, events=3,
               snapshot=snapshot_jpeg)
    add_events(db, 5)
    report = log_chain.verify(db)
    assert report.ok and report.events == 8 and report.first_bad is None and not report.reason


def test_an_empty_log_verifies(db: Database) -> None:
    assert log_chain.verify(db).ok


def test_an_edited_column_is_found_at_that_event(db: Database, db_path: Path) -> None:
    ids = add_events(db, 6)
    _sql(db_path, f"UPDATE access_events SET decision = 'granted' WHERE id = {ids[3]}")
    report = log_chain.verify(db)
    assert not report.ok and report.first_bad == ids[3]
    assert "changed" in report.reason


@pytest.mark.parametrize("column, value", [("reason", "'nothing to see'"), ("score", "0.99"),
                                           ("at", "'2020-01-01 00:00:00.000000'"),
                                           ("door_id", "door_id + 1")])
def test_every_hashed_column_is_covered(db: Database, db_path: Path, column: str,
                                        value: str) -> None:
    ids = add_events(db, 3)
    with db.session() as s:
        repo.get_or_create_door(s, "Other door")
    _sql(db_path, f"UPDATE access_events SET {column} = {value} WHERE id = {ids[1]}")
    assert log_chain.verify(db).first_bad == ids[1]


def test_a_deleted_middle_row_is_found_at_the_next_event(db: Database, db_path: Path) -> None:
    ids = add_events(db, 6)
    _sql(db_path, f"DELETE FROM access_events WHERE id = {ids[2]}")
    report = log_chain.verify(db)
    assert not report.ok and report.first_bad == ids[3]
    assert "deleted or the order was changed" in report.reason


def test_two_swapped_rows_are_found_at_the_first(db: Database, db_path: Path) -> None:
    ids = add_events(db, 6)
    a, b = ids[1], ids[4]
    _sql(db_path, f"UPDATE access_events SET id = -1 WHERE id = {a}",
         f"UPDATE access_events SET id = {a} WHERE id = {b}",
         f"UPDATE access_events SET id = {b} WHERE id = -1")
    report = log_chain.verify(db)
    assert not report.ok and report.first_bad == a


def test_deleting_the_newest_events_is_found(db: Database, db_path: Path) -> None:
    ids = add_events(db, 5)
    _sql(db_path, f"DELETE FROM access_events WHERE id >= {ids[3]}")
    report = log_chain.verify(db)
    assert not report.ok and report.first_bad == ids[4]
    assert "newest events were deleted" in report.reason


def test_a_rewritten_chain_is_caught_by_the_signed_head(db: Database, db_path: Path) -> None:
    """Someone who knows the algorithm edits an event and recomputes every later hash and
    the head's hash; without the key they cannot re-sign the head."""
    ids = add_events(db, 4)
    _sql(db_path, f"UPDATE access_events SET decision = 'granted' WHERE id = {ids[1]}")
    with db.session() as s:
        events = repo.query_events(s, None, newest_first=False)
        prev = log_chain.GENESIS
        rows = []
        for e in events:
            digest = log_chain.event_hash(log_chain._fields(e), prev)
            rows.append((e.id, prev, digest))
            prev = digest
    _sql(db_path, *[f"UPDATE access_events SET prev_hash = '{p}', hash = '{h}' WHERE id = {i}"
                    for i, p, h in rows],
         f"UPDATE protection_state SET chain_last_hash = '{prev}'")
    report = log_chain.verify(db)
    assert not report.ok and "signature" in report.reason


def test_erasing_a_person_keeps_the_log_verifiable(db: Database, face_jpeg: bytes,
                                                   snapshot_jpeg: bytes) -> None:
    gone = add_person(db, "E1", "Leaving", seed=1, crop=face_jpeg, events=3,
                      snapshot=snapshot_jpeg)
    add_person(db, "E2", "Staying", seed=2, crop=face_jpeg, events=2, snapshot=snapshot_jpeg)
    erase_employee(db, gone)
    report = log_chain.verify(db)
    assert report.ok and report.events == 5 and report.erased_people == 3


def test_unlinking_a_person_by_hand_is_found(db: Database, db_path: Path,
                                              face_jpeg: bytes) -> None:
    add_person(db, "E1", "Ada", seed=1, crop=face_jpeg, events=2)
    _sql(db_path, "UPDATE access_events SET employee_id = NULL WHERE id = 1")
    report = log_chain.verify(db)
    assert report.first_bad == 1 and "outside Turnstile's erasure" in report.reason


def test_moving_an_event_to_another_person_is_found(db: Database, db_path: Path,
                                                    face_jpeg: bytes) -> None:
    add_person(db, "E1", "Ada", seed=1, crop=face_jpeg, events=2)
    other = add_person(db, "E2", "Bob", seed=2, crop=face_jpeg)
    _sql(db_path, f"UPDATE access_events SET employee_id = {other} WHERE id = 2")
    report = log_chain.verify(db)
    assert report.first_bad == 2 and "person" in report.reason


def test_several_writers_keep_one_unbroken_chain(db_url: str, db: Database) -> None:
    """Two stations on the same file (two engines: two connections pools), writing at once."""
    add_events(db, 1)
    errors: list[BaseException] = []

    def station(name: str) -> None:
        other = open_database(db_url)
        try:
            for i in range(25):
                with other.session() as s:
                    door = repo.get_or_create_door(s, name)
                    repo.add_event(s, door_id=door.id, decision="denied", reason=f"{name} {i}")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            other.dispose()

    threads = [threading.Thread(target=station, args=(f"Door {n}",)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    report = log_chain.verify(db)
    assert report.ok and report.events == 76


def test_the_log_verifies_after_a_retention_purge(db: Database, db_path: Path) -> None:
    now = utcnow()
    old = add_events(db, 4, at=now - timedelta(days=40))
    recent = add_events(db, 3, at=now - timedelta(days=2))
    report = run_retention(db, Settings(retention_days_events=30), now=now)
    assert report.events == 4 and report.checkpoint_event_id == old[-1]
    verified = log_chain.verify(db)
    assert verified.ok and verified.events == 3 and verified.checkpoint == old[-1]
    # A second purge later on stacks a second checkpoint; still verifies.
    assert run_retention(db, Settings(retention_days_events=1), now=now).events == 3
    assert log_chain.verify(db).ok
    assert recent


def test_deleting_the_first_event_after_a_checkpoint_is_found(db: Database,
                                                              db_path: Path) -> None:
    now = utcnow()
    add_events(db, 3, at=now - timedelta(days=40))
    recent = add_events(db, 3, at=now)
    run_retention(db, Settings(retention_days_events=30), now=now)
    _sql(db_path, f"DELETE FROM access_events WHERE id = {recent[0]}")
    assert log_chain.verify(db).first_bad == recent[1]


def test_a_forged_checkpoint_is_found(db: Database, db_path: Path) -> None:
    now = utcnow()
    add_events(db, 3, at=now - timedelta(days=40))
    recent = add_events(db, 3, at=now)
    run_retention(db, Settings(retention_days_events=30), now=now)
    # Hide the first kept event too, moving the checkpoint to it (no key to sign it).
    with db.session() as s:
        first = s.get(repo.AccessEvent, recent[0])
        assert first is not None
        digest = first.hash
    _sql(db_path, f"DELETE FROM access_events WHERE id = {recent[0]}",
         f"UPDATE log_checkpoints SET last_event_id = {recent[0]}, last_hash = '{digest}'")
    report = log_chain.verify(db)
    assert not report.ok and "checkpoint" in report.reason


def test_events_written_while_the_key_is_missing_are_chained(db: Database,
                                                             snapshot_jpeg: bytes) -> None:
    """The decision is never lost; its snapshot is not stored; the head is signed again by
    the next event written with the key."""
    add_events(db, 1)
    (key,) = key_files()
    saved = key.read_bytes()
    key.unlink()
    from turnstile.storage import crypto

    crypto.set_backend(crypto.FileKeyBackend(key.parent))  # a fresh cache: key not in memory
    try:
        add_events(db, 2)
        report = log_chain.verify(db)
        assert not report.ok and "not signed" in report.reason
        key.write_bytes(saved)
        key.chmod(0o600)
        add_events(db, 1)
        assert log_chain.verify(db).ok
    finally:
        crypto.set_backend(None)
