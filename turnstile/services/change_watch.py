"""Noticing that the staff list changed, cheaply, so every door station reloads it within
about half a second of an enrollment, suspension, edit or deletion made anywhere (the front desk,
another station, the command line) without a restart.

A station asks :meth:`ChangeWatcher.check` twice a second (:data:`WATCH_INTERVAL_S`).
That is one small query (:func:`staff_version`): counts, largest ids and aggregates of the
update times of ``employees``, ``face_templates`` and ``model_thresholds``. It works the same
on SQLite and PostgreSQL, needs no trigger, no schema change and no cooperation from the
program that made the change. Why each part is there:

* an enrollment adds rows: the template count and largest template id grow (ids are never
  reused: ``AUTOINCREMENT`` on SQLite, sequences on PostgreSQL);
* a deletion removes rows: a count falls (a deletion and an enrollment together still move the
  largest id);
* a suspension or an edit rewrites ``updated_at`` (the models' ``onupdate``): the count of
  active people or the largest update time changes; the *sum* of the update times is there
  for an edit made after the wall clock was set back, which would not raise the largest;
* a new calibrated threshold changes ``model_thresholds`` the same way.

Validity periods that start or end with the passing of time change nothing in the database:
stations also reload on a timer for those (the door page every 30 s).

PostgreSQL's LISTEN/NOTIFY was considered: it would need every writer, including older
stations and scripts, to send the notification (or a trigger, i.e. a migration), and a
station would still need this poll after a reconnect to catch what it missed. At two small queries a
second per station the poll is cheap enough on its own (``tests/bench/bench_multi_door.py``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, case, func, select

from turnstile.storage.db import Database
from turnstile.storage.models import Employee, FaceTemplate, ModelThreshold

log = logging.getLogger(__name__)

WATCH_INTERVAL_S = 0.5
"""How often a station asks whether the staff list changed. A change then reaches the door
within this plus the time to reload the list (tens of ms for a few people; ~0.3 s for 100k
templates), well inside the 2 s promised even on a busy machine; the check itself costs
~2-3 ms of one database connection."""


@dataclass(frozen=True)
class StaffVersion:
    """A fingerprint of the staff list: equal fingerprints mean nothing a door uses changed.

    Attributes:
        values: the aggregates, in a fixed order (see :func:`staff_version`).
    """

    values: tuple[Any, ...]


def _time_sum(column: Any, dialect: str) -> ColumnElement[Any]:
    """The sum of a timestamp column, as a number (changes with any single update time)."""
    if dialect == "postgresql":
        return func.sum(func.extract("epoch", column))
    if dialect == "sqlite":
        # Stored as UTC text; julianday() reads it (fractional days).
        return func.total(func.julianday(column))
    return func.max(column)  # elsewhere: the largest update time only


def staff_version(db: Database) -> StaffVersion:
    """Read the fingerprint of the staff list in one query.

    Raises:
        DatabaseError: the database cannot be read (locked, unreachable...).
    """
    with db.session() as s:
        dialect = s.get_bind().dialect.name

        def scalar(*columns: Any, table: Any) -> list[Any]:
            return [select(c).select_from(table).scalar_subquery() for c in columns]

        active = func.sum(case((Employee.status == "active", 1), else_=0))
        parts = [
            *scalar(func.count(), func.max(Employee.id), func.max(Employee.updated_at),
                    _time_sum(Employee.updated_at, dialect), active, table=Employee),
            *scalar(func.count(), func.max(FaceTemplate.id), table=FaceTemplate),
            *scalar(func.count(), func.max(ModelThreshold.updated_at),
                    _time_sum(ModelThreshold.updated_at, dialect),
                    func.sum(ModelThreshold.value), table=ModelThreshold),
        ]
        row = s.execute(select(*parts)).one()
    return StaffVersion(tuple(row))


class ChangeWatcher:
    """Tells whether the staff list changed since it last looked.

    The first :meth:`check` answers True (nothing was seen yet), so a caller can load the
    list whenever it answers True: take the fingerprint *before* reading the list, and a
    change made while the list is being read is caught by the next check. Thread-safe.

    Args:
        db: the database, or a function returning it (called at each check).
    """

    def __init__(self, db: Database | Callable[[], Database]) -> None:
        self._db_source = db
        self._lock = threading.Lock()
        self._seen: StaffVersion | None = None
        self.checks = 0
        """Checks made (for figures and tests)."""

    def check(self) -> bool:
        """Whether the staff list changed since the last check (True the first time, and
        after :meth:`reset`).

        Raises:
            DatabaseError: the database cannot be read; the next successful check then
                answers True (a change may have been missed while it was away).
        """
        source = self._db_source
        try:
            version = staff_version(source if isinstance(source, Database) else source())
        except Exception:
            self.reset()
            raise
        with self._lock:
            self.checks += 1
            changed = version != self._seen
            self._seen = version
        if changed:
            log.debug("staff list changed (check %d)", self.checks)
        return changed

    def reset(self) -> None:
        """Forget what was seen: the next check answers True (e.g. after a failed reload)."""
        with self._lock:
            self._seen = None
