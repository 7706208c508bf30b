"""The disk holding the database fills up (logs of another program, a camera recording, a
tiny SD card in a door box) while a person is enrolled or the door writes an event with its
snapshot. Two ways to fill it, both real SQLite "disk full" errors:

* ``tmpfs``: the database lives on a small tmpfs mounted for the test, filled to the last
  byte by a file (needs root, which CI has; skipped with the reason elsewhere);
* ``page_limit``: SQLite's ``max_page_count`` caps the file, which SQLite reports exactly
  like a full disk (runs everywhere).

Enrollment fails with a plain "disk is full" message and saves nothing; the door stays
closed; the event is kept (never half-written) and written, snapshot included, as soon as
there is room again; the database is intact throughout."""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import threading

import cv2
import numpy as np
import pytest
from fault_support import integrity_ok

from turnstile.services.access_log import EventRecord, EventWriter
from turnstile.storage import repositories as repo
from turnstile.storage.errors import DatabaseError
from turnstile.storage.models import utcnow

TMPFS_SIZE = "3m"


class TmpfsDisk:
    """A small tmpfs holding the database; ``fill()`` takes every free byte."""

    def __init__(self, root) -> None:
        self.root = root
        self.filler = root / "filler.bin"

    def db_url(self) -> str:
        return f"sqlite:///{self.root / 't.db'}"

    def fill(self, ctx) -> None:
        with open(self.filler, "ab") as f:
            block = b"\0" * 65536
            while True:
                try:
                    f.write(block)
                    f.flush()
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC
                    break
            # The last partial block: fill byte by byte.
            with contextlib.suppress(OSError):
                while True:
                    os.write(f.fileno(), b"\0")

    def free(self, ctx) -> None:
        self.filler.unlink()


class PageLimit:
    """The database capped by ``PRAGMA max_page_count`` at its current size."""

    def __init__(self, root) -> None:
        self.root = root
        self.limited = False
        self._listening = False

    def db_url(self) -> str:
        return f"sqlite:///{self.root / 't.db'}"

    def _limit(self, dbapi_connection, record) -> None:
        if self.limited:
            cursor = dbapi_connection.cursor()
            pages = cursor.execute("PRAGMA page_count").fetchone()[0]
            cursor.execute(f"PRAGMA max_page_count = {pages}")
            cursor.close()

    def fill(self, ctx) -> None:
        from sqlalchemy import event

        if not self._listening:
            event.listen(ctx.db.engine, "connect", self._limit)
            self._listening = True
        # Checkpoint so the file holds everything; from now on it cannot grow.
        with ctx.db.engine.connect() as c:
            c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        self.limited = True
        ctx.db.engine.dispose()

    def free(self, ctx) -> None:
        self.limited = False
        ctx.db.engine.dispose()


@pytest.fixture(params=["tmpfs", "page_limit"])
def disk(request, tmp_path):
    if request.param == "page_limit":
        yield PageLimit(tmp_path)
        return
    mount = tmp_path / "small_disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs",
                           str(mount)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({done.stderr.strip() or 'not root'}); "
                    f"the page_limit variant covers the same errors")
    try:
        yield TmpfsDisk(mount)
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_enrollment_on_a_full_disk_fails_plainly_and_saves_nothing(disk, make_ctx, people):
    ctx = make_ctx(disk.db_url())
    ctx.enrollment.enroll(people / "Joe_Biden" / "biden.jpg", employee_number="E0",
                          name="Joe Biden", consent=True)
    disk.fill(ctx)
    with pytest.raises(DatabaseError, match="(?i)full") as info:
        ctx.enrollment.enroll(people / "Barack_Obama" / "obama.jpg", employee_number="E1",
                              name="Barack Obama", consent=True)
    assert "Traceback" not in str(info.value)
    with ctx.db.session() as s:
        assert [e.employee_number for e in repo.list_employees(s)] == ["E0"]
    assert len(ctx.galleries.everyone) == 1
    disk.free(ctx)
    db_file = disk.root / "t.db"
    assert integrity_ok(db_file)
    ctx.enrollment.enroll(people / "Barack_Obama" / "obama.jpg", employee_number="E1",
                          name="Barack Obama", consent=True)
    with ctx.db.session() as s:
        assert repo.count_employees(s) == 2


def test_event_with_snapshot_on_a_full_disk_is_kept_and_written_when_room_returns(
        disk, make_ctx, door, tmp_path):
    backend, commander = door
    ctx = make_ctx(disk.db_url())
    with ctx.db.session() as s:
        repo.get_or_create_door(s, "Main entrance")
    errors: list[str] = []
    reported = threading.Event()
    events = EventWriter(ctx.db, "Main entrance", "all", spool_path=tmp_path / "spool.jsonl",
                         on_error=lambda m: (errors.append(m), reported.set()),
                         retry_delays_s=(0.1,))
    events.start()
    rng = np.random.default_rng(3)
    noisy = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)  # a large, incompressible JPEG
    disk.fill(ctx)
    # The station's reaction to a stranger: the door is told to stay closed, the event queued.
    commander.request_close("unknown face")
    events.submit(EventRecord("unknown", utcnow(), reason="not an enrolled person",
                              score=0.41, model_id="m"), noisy)
    assert reported.wait(15), "the writer never reported the full disk"
    assert "cannot be written" in errors[0] and "full" in errors[0].lower()
    assert events.pending >= 1
    assert backend.count("open") == 0 and commander.state.value == "closed"
    disk.free(ctx)
    assert events.flush(15), "the event was not written once there was room"
    events.close()
    with ctx.db.session() as s:
        logged = repo.query_events(s, None)
        assert [(e.decision, e.reason) for e in logged] == [("unknown",
                                                            "not an enrolled person")]
        snapshot = repo.get_event_snapshot(s, logged[0].id)
    image = cv2.imdecode(np.frombuffer(snapshot, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None and max(image.shape[:2]) <= 400
    assert integrity_ok(disk.root / "t.db")
    assert backend.count("open") == 0
