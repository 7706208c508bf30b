"""The access-log writer on a real SQLite file: events with snapshots per policy, a locked
database retried without blocking the caller, nothing lost at exit."""

from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager
from datetime import UTC, datetime

import cv2
import numpy as np
import pytest

from turnstile.services.access_log import EventRecord, EventWriter, error_record, keeps_snapshot
from turnstile.storage import repositories as repo
from turnstile.storage.db import open_database
from turnstile.storage.errors import DatabaseLockedError


@pytest.fixture
def db(tmp_path):
    database = open_database("sqlite:///" + str(tmp_path / "t.db"))
    yield database
    database.dispose()


@pytest.fixture
def frame():
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)


def events(db):
    with db.session() as s:
        rows = repo.query_events(s, None, limit=100, newest_first=False)
        return [(e.decision, e.employee_id, e.reason, repo.get_event_snapshot(s, e.id))
                for e in rows]


def when() -> datetime:
    return datetime(2026, 3, 2, 8, 30, tzinfo=UTC)


@pytest.mark.parametrize(("policy", "granted_snap", "denied_snap"), [
    ("all", True, True), ("denied", False, True), ("none", False, False)])
def test_snapshot_policy(db, frame, policy, granted_snap, denied_snap):
    with db.session() as s:
        ada = repo.create_employee(s, employee_number="E1", name="Ada").id
    writer = EventWriter(db, "Main entrance", policy)
    writer.start()
    writer.submit(EventRecord("granted", when(), ada, score=0.97, threshold=0.954), frame)
    writer.submit(EventRecord("unknown", when(), None, "not an enrolled person", 0.5), frame)
    assert writer.flush(10)
    writer.close()
    (g, u) = events(db)
    assert g[:2] == ("granted", ada) and u[:3] == ("unknown", None, "not an enrolled person")
    assert (g[3] is not None) == granted_snap and (u[3] is not None) == denied_snap
    snap = g[3] or u[3]
    if snap is not None:
        image = cv2.imdecode(np.frombuffer(snap, np.uint8), cv2.IMREAD_COLOR)
        assert max(image.shape[:2]) <= 400 and len(snap) < 120_000  # small
    with db.session() as s:
        (door,) = repo.list_doors(s)
        assert door.name == "Main entrance"


def test_keeps_snapshot_rules():
    assert keeps_snapshot("denied", "denied") and keeps_snapshot("error", "denied")
    assert not keeps_snapshot("granted", "denied") and not keeps_snapshot("unknown", "none")


def test_locked_database_does_not_block_submit_and_the_event_arrives(db, tmp_path):
    writer = EventWriter(db, "Main entrance", "none")
    writer.start()
    blocker = sqlite3.connect(str(tmp_path / "t.db"), timeout=1)
    blocker.execute("BEGIN EXCLUSIVE")
    done = threading.Event()

    def submit() -> None:
        writer.submit(error_record("camera lost", when()))
        done.set()

    threading.Thread(target=submit).start()
    assert done.wait(1.0), "submit() waited for the database"
    assert not writer.flush(0.3)  # still waiting for the lock
    blocker.rollback()
    blocker.close()
    assert writer.flush(15)
    writer.close()
    assert events(db) == [("error", None, "camera lost", None)]


class FlakyDatabase:
    """The real database, but the first ``failures`` sessions fail as if it were locked."""

    def __init__(self, db, failures: int) -> None:
        self.db, self.failures = db, failures

    @contextmanager
    def session(self):
        if self.failures > 0:
            self.failures -= 1
            raise DatabaseLockedError("The database is busy.")
        with self.db.session() as s:
            yield s


def test_busy_database_is_retried_and_reported_once_in_order(db):
    flaky = FlakyDatabase(db, failures=3)
    errors: list[str] = []
    writer = EventWriter(lambda: flaky, "Main entrance", "none", on_error=errors.append,
                         retry_delays_s=(0.01, 0.02))
    writer.start()
    for reason in ("first", "second", "third"):
        writer.submit(EventRecord("unknown", when(), reason=reason))
    assert writer.flush(10)
    writer.close()
    assert [e[2] for e in events(db)] == ["first", "second", "third"]
    assert writer.failed_attempts == 3 and len(errors) == 1
    assert "cannot be written" in errors[0]


def test_events_left_at_exit_are_spooled_and_written_at_the_next_start(db, tmp_path, frame):
    spool = tmp_path / "spool.jsonl"
    down = FlakyDatabase(db, failures=10**6)
    writer = EventWriter(lambda: down, "Main entrance", "all", spool_path=spool,
                         retry_delays_s=(0.01,))
    writer.start()
    writer.submit(EventRecord("unknown", when(), reason="not an enrolled person", score=0.4),
                  frame)
    writer.submit(error_record("camera lost", when()))
    writer.close(timeout_s=0.2)
    assert spool.is_file() and len(spool.read_text().splitlines()) == 2
    assert events(db) == []

    again = EventWriter(db, "Main entrance", "all", spool_path=spool)
    again.start()
    assert again.flush(10)
    again.close()
    written = events(db)
    assert [(d, r) for d, _, r, _ in written] == [("unknown", "not an enrolled person"),
                                                  ("error", "camera lost")]
    assert written[0][3] is not None  # the snapshot survived the spool
    assert not spool.exists()


def test_spooled_snapshots_are_sealed_and_their_key_forgotten_once_written(db, tmp_path,
                                                                           frame):
    """The spool file never holds a face picture in the clear: it is sealed with a key of
    its own, opened at the next start, and that key is deleted once the event is stored."""
    import json

    from turnstile.storage import crypto

    spool = tmp_path / "spool.jsonl"
    down = FlakyDatabase(db, failures=10**6)
    writer = EventWriter(lambda: down, "Main entrance", "all", spool_path=spool,
                         retry_delays_s=(0.01,))
    writer.start()
    writer.submit(EventRecord("denied", when(), employee_id=None, reason="suspended"), frame)
    writer.close(timeout_s=0.2)
    text = spool.read_text()
    line = json.loads(text)
    assert line["snapshot"] is None and line["snapshot_sealed"] and line["key_id"]
    assert "/9j/" not in text  # no JPEG (base64 of its FF D8 FF start) in the clear
    assert crypto.keys().has(line["key_id"])

    tampered = tmp_path / "other.jsonl"  # the sealed picture only opens on its own event
    tampered.write_text(text.replace('"decision": "denied"', '"decision": "granted"'))
    other = EventWriter(db, "Main entrance", "all", spool_path=tampered)
    assert other._load_spool()[0].snapshot is None

    again = EventWriter(db, "Main entrance", "all", spool_path=spool)
    again.start()
    assert again.flush(10)
    again.close()
    written = events(db)
    assert [(d, r) for d, _, r, _ in written] == [("denied", "suspended")]
    assert written[0][3] is not None  # the picture was opened and stored (encrypted)
    assert not spool.exists()
    assert not crypto.keys().has(line["key_id"])


def test_unreadable_spool_lines_are_set_aside_not_lost(db, tmp_path):
    spool = tmp_path / "spool.jsonl"
    good = ('{"decision": "error", "at": "2026-03-02T08:30:00+00:00", "employee_id": null, '
            '"reason": "camera lost", "score": null, "threshold": null, "model_id": null, '
            '"liveness_score": null, "door": "Main entrance", "snapshot": null}')
    spool.write_text(good + "\n{not json\n")
    writer = EventWriter(db, "Main entrance", "none", spool_path=spool)
    writer.start()
    assert writer.flush(10)
    writer.close()
    assert events(db) == [("error", None, "camera lost", None)]
    assert (tmp_path / "spool.unreadable.jsonl").read_text().strip() == "{not json"


def test_naive_time_is_refused_at_submit(db):
    writer = EventWriter(db, "Main entrance")
    with pytest.raises(ValueError):
        writer.submit(EventRecord("granted", datetime(2026, 1, 1)))
