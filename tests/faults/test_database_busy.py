"""Another program holds the SQLite write lock longer than the busy timeout (a backup tool,
a second station on a network share, a stuck admin shell): enrollment says so plainly and
saves nothing; the door keeps deciding from its in-memory staff list, never opens for a
stranger, keeps the events, and writes them once the lock is gone."""

from __future__ import annotations

import sqlite3
import threading

import numpy as np
import pytest
from door_support import Portrait, empty_frames, passage_frames

from turnstile.capture.base import CapturedFrame
from turnstile.door.station import DoorStation, load_snapshot
from turnstile.matching.door_policy import DoorPolicy
from turnstile.services.access_log import EventWriter
from turnstile.storage import db as db_module
from turnstile.storage import repositories as repo
from turnstile.storage.errors import DatabaseLockedError

BUSY_TIMEOUT_MS = 300
"""The busy timeout in these tests (the shipped one is 10 s; the behaviour is the same)."""


@pytest.fixture
def short_busy_timeout(monkeypatch):
    monkeypatch.setattr(db_module, "BUSY_TIMEOUT_MS", BUSY_TIMEOUT_MS)


class WriteLock:
    """Another program's connection holding the database's write lock."""

    def __init__(self, db_file) -> None:
        self.connection = sqlite3.connect(db_file, isolation_level=None, timeout=5)
        self.connection.execute("BEGIN IMMEDIATE")

    def release(self) -> None:
        self.connection.execute("ROLLBACK")
        self.connection.close()


def test_enrollment_on_a_locked_database_fails_clearly_and_saves_nothing(
        tmp_path, short_busy_timeout, make_ctx, people):
    db_file = tmp_path / "t.db"
    ctx = make_ctx(f"sqlite:///{db_file}")
    first = ctx.enrollment.enroll(people / "Joe_Biden" / "biden.jpg", employee_number="E0",
                                  name="Joe Biden", consent=True)
    lock = WriteLock(db_file)
    try:
        with pytest.raises(DatabaseLockedError) as info:
            ctx.enrollment.enroll(people / "Barack_Obama" / "obama.jpg", employee_number="E1",
                                  name="Barack Obama", consent=True)
        message = str(info.value)
        assert "busy" in message and "another program" in message and "try again" in message
        assert str(db_file) in message
        # Reading still works while another program writes (WAL).
        with ctx.db.session() as s:
            assert [e.employee_number for e in repo.list_employees(s)] == ["E0"]
    finally:
        lock.release()
    with ctx.db.session() as s:
        assert repo.count_employees(s) == 1
        assert len(repo.list_templates(s, first.employee_id)) == 1
    assert len(ctx.galleries.everyone) == 1  # the door's gallery did not get a ghost
    # Once the lock is gone the same enrollment goes through.
    again = ctx.enrollment.enroll(people / "Barack_Obama" / "obama.jpg", employee_number="E1",
                                  name="Barack Obama", consent=True)
    with ctx.db.session() as s:
        assert repo.get_employee_by_number(s, "E1").id == again.employee_id
        assert len(repo.list_templates(s, again.employee_id)) == 1


def _frames(images, t0: float = 1000.0):
    return [CapturedFrame(np.ascontiguousarray(img), i, t0 + i / 30.0)
            for i, img in enumerate(images)]


def test_door_on_a_locked_database_denies_keeps_the_events_and_recovers(
        tmp_path, short_busy_timeout, make_ctx, pipeline, people, door):
    backend, commander = door
    db_file = tmp_path / "t.db"
    ctx = make_ctx(f"sqlite:///{db_file}")
    ctx.enrollment.enroll(people / "Barack_Obama" / "obama.jpg", employee_number="E1",
                          name="Barack Obama", consent=True)
    snapshot = load_snapshot(ctx.db, pipeline.model_id, pipeline.embedder.dim,
                             ctx.thresholds())
    errors: list[str] = []
    reported = threading.Event()
    events = EventWriter(ctx.db, "Main entrance", "all", spool_path=tmp_path / "spool.jsonl",
                         on_error=lambda m: (errors.append(m), reported.set()),
                         retry_delays_s=(0.1,))
    events.start()
    station = DoorStation(pipeline, DoorPolicy(3, cooldown_s=5.0), door=commander,
                          events=events, snapshot=snapshot)
    stranger = Portrait(people / "Joe_Biden" / "biden2.jpg")
    lock = WriteLock(db_file)
    try:
        decisions = []
        for seq, frame in enumerate(_frames(passage_frames(stranger, 30) + empty_frames(5)), 1):
            _, decision = station.process(frame, seq)
            if decision is not None:
                decisions.append(decision)
        assert [d.verdict for d in decisions] == ["unknown"]
        assert reported.wait(10), "the writer never said the log cannot be written"
        assert "cannot be written" in errors[0] and "kept" in errors[0]
        assert events.pending >= 1  # kept in memory, in order
        assert backend.count("open") == 0 and commander.state.value == "closed"
    finally:
        lock.release()
    assert events.flush(10), "the event was not written after the lock went away"
    events.close()
    with ctx.db.session() as s:
        logged = repo.query_events(s, None, newest_first=False)
        assert [(e.decision, e.reason) for e in logged] == [("unknown",
                                                            "not an enrolled person")]
        assert repo.get_event_snapshot(s, logged[0].id) is not None
    assert len(errors) == 1  # one report per outage, not one per retry
    assert not (tmp_path / "spool.jsonl").exists()
    assert backend.count("open") == 0
