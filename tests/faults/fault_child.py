"""Child processes for the fault tests, run as ``python fault_child.py MODE ...``.

They are separate programs so that the parent can kill them for real (SIGKILL leaves no
chance to clean up, exactly like a power cut of the process or the OOM killer).

Modes:

* ``enroll DB_URL PHOTO NUMBER KILL_AT``: load the models, then enroll one person; the
  process SIGKILLs itself when SQLite is about to run the KILL_AT-th SQL statement of the
  enrollment (0: never). Each statement is printed (``sql <n> <first word>``) before it runs.
* ``events DB_URL COUNT KILL_AT``: write COUNT access events with snapshots through the
  real :class:`EventWriter`, printing ``written <id> <n>`` for each committed one; SIGKILLs
  itself at the KILL_AT-th SQL statement (0: never; then it also waits for the writer).
"""

from __future__ import annotations

import os
import signal
import sys
import threading


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


class StatementTrap:
    """Counts the SQL statements SQLite starts on every connection of an engine and kills the
    process at the chosen one (the trace callback runs as a statement begins executing)."""

    def __init__(self, engine, kill_at: int) -> None:
        from sqlalchemy import event

        self.kill_at = kill_at
        self.count = 0
        self.armed = False
        self.lock = threading.Lock()
        event.listen(engine, "connect", self._connected)
        engine.dispose()  # pooled connections are reopened with the trace in place

    def _connected(self, dbapi_connection, record) -> None:
        dbapi_connection.set_trace_callback(self._statement)

    def _statement(self, sql: str) -> None:
        if not self.armed:
            return
        with self.lock:
            self.count += 1
            n = self.count
        _say(f"sql {n} {sql.split(None, 1)[0].upper() if sql.strip() else '?'}")
        if n == self.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)


def enroll(url: str, photo: str, number: str, kill_at: int) -> None:
    from turnstile.app import AppContext

    ctx = AppContext(database_url=url)
    service = ctx.enrollment  # models loaded, database opened and migrated
    service.check_photo(photo)  # warm up: the statements counted are the enrollment's own
    trap = StatementTrap(ctx.db.engine, kill_at)
    trap.armed = True
    result = service.enroll(photo, employee_number=number, name=f"Person {number}",
                            consent=True, force=True)
    trap.armed = False
    _say(f"enrolled {result.employee_id} {result.template_id}")
    ctx.close()


def events(url: str, count: int, kill_at: int) -> None:
    import numpy as np

    from turnstile.services.access_log import EventRecord, EventWriter
    from turnstile.storage.db import open_database
    from turnstile.storage.models import utcnow

    db = open_database(url)
    trap = StatementTrap(db.engine, kill_at)
    writer = EventWriter(db, "Fault door", "all",
                         on_written=lambda event_id, r: _say(f"written {event_id} "
                                                             f"{r.reason}"))
    rng = np.random.default_rng(1)
    frame = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
    trap.armed = True
    writer.start()
    for n in range(count):
        writer.submit(EventRecord("unknown", utcnow(), reason=f"n{n}", score=0.5,
                                  model_id="fault"), frame.copy())
    if not writer.flush(60):
        _say("flush timed out")
    writer.close()
    trap.armed = False
    _say("done")


if __name__ == "__main__":
    mode, *rest = sys.argv[1:]
    if mode == "enroll":
        enroll(rest[0], rest[1], rest[2], int(rest[3]))
    elif mode == "events":
        events(rest[0], int(rest[1]), int(rest[2]))
    else:
        raise SystemExit(f"unknown mode {mode}")
