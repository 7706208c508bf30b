"""The retention policy: keep snapshots, access events and suspended people only as long as
the settings say (``retention_days_snapshots``, ``retention_days_events``,
``retention_days_suspended``; ``None`` keeps them).

Run automatically by the desktop app (at start and every 24 hours, off the GUI thread) and by
``turnstile retention run [--dry-run]``.

* Snapshots older than N days are erased; their events stay (the chain still verifies: it
  covers the picture's hash, not the picture).
* People suspended for more than P days (counted from ``employees.suspended_at``) are erased
  as by :func:`turnstile.services.privacy.erase_employee`.
* Events older than M days are deleted from the start of the chain: the purge removes the
  longest run of oldest events (in chain order) that are all older than the limit, so the
  remaining log is still one unbroken chain. An event written late with an old time (saved
  while the database was unreachable) waits for the events before it. The purge leaves a
  :class:`~turnstile.storage.models.LogCheckpoint` holding the hash of the last purged
  event, signed with the log key; :func:`turnstile.services.log_chain.verify` starts there.
  Purging events therefore needs the data key; snapshots and people do not.

Afterwards the database is compacted, so the purged bytes are gone from its files.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from turnstile.config import Settings
from turnstile.storage import crypto
from turnstile.storage import repositories as repo
from turnstile.storage.db import Database
from turnstile.storage.models import AccessEvent, Employee, LogCheckpoint, utcnow

log = logging.getLogger(__name__)

RETENTION_INTERVAL_S = 24 * 3600
"""How often the desktop app applies the policy."""


@dataclass(frozen=True)
class RetentionReport:
    """What :func:`run_retention` did (or, for a dry run, would do).

    Attributes:
        snapshots: snapshots erased.
        events: access events deleted.
        people: ids of the suspended people erased (refresh them in the galleries).
        checkpoint_event_id: the last purged event, recorded in the new checkpoint.
        dry_run: nothing was changed.
        problems: parts that could not run, in words (e.g. the key is missing).
    """

    snapshots: int = 0
    events: int = 0
    people: tuple[int, ...] = ()
    checkpoint_event_id: int | None = None
    dry_run: bool = False
    problems: tuple[str, ...] = field(default_factory=tuple)

    @property
    def changed(self) -> bool:
        return not self.dry_run and bool(self.snapshots or self.events or self.people)


def _cutoff(now: datetime, days: int | None) -> datetime | None:
    return None if days is None else now - timedelta(days=days)


def _purge_bounds(s: Session, cutoff: datetime) -> tuple[int, int | None]:
    """``(events to purge, id of the last one)``: the oldest events in chain order up to the
    first one that is not older than ``cutoff``."""
    first_kept = s.scalar(select(func.min(AccessEvent.id)).where(AccessEvent.at >= cutoff))
    stmt = select(func.count(AccessEvent.id), func.max(AccessEvent.id))
    if first_kept is not None:
        stmt = stmt.where(AccessEvent.id < first_kept)
    count, last = s.execute(stmt).one()
    return int(count or 0), last


def run_retention(db: Database, settings: Settings, *, now: datetime | None = None,
                  dry_run: bool = False, compact: bool = True) -> RetentionReport:
    """Apply the retention settings once.

    Args:
        db: the database.
        settings: where the retention periods come from.
        now: the moment to count from (default: now, UTC).
        dry_run: only count what would go.
        compact: compact the database afterwards when something was deleted.
    """
    from turnstile.services.privacy import compact_database

    moment = now or utcnow()
    snap_cut = _cutoff(moment, settings.retention_days_snapshots)
    event_cut = _cutoff(moment, settings.retention_days_events)
    people_cut = _cutoff(moment, settings.retention_days_suspended)
    problems: list[str] = []
    snapshots = events = 0
    people: list[int] = []
    checkpoint_id: int | None = None

    with db.session() as s:
        if snap_cut is not None:
            where = (AccessEvent.at < snap_cut, AccessEvent.snapshot_sealed.is_not(None))
            if dry_run:
                snapshots = int(s.scalar(select(func.count(AccessEvent.id)).where(*where)) or 0)
            else:
                result = s.execute(update(AccessEvent).where(*where)
                                   .values(snapshot_sealed=None, snapshot_key_id=None)
                                   .execution_options(synchronize_session=False))
                snapshots = int(getattr(result, "rowcount", 0) or 0)
        if people_cut is not None:
            people = list(s.scalars(select(Employee.id).where(
                Employee.status == "suspended", Employee.suspended_at.is_not(None),
                Employee.suspended_at < people_cut).order_by(Employee.id)))
            if not dry_run:
                for employee_id in people:
                    repo.delete_employee(s, employee_id)

    if event_cut is not None:
        try:
            with db.session() as s:
                if not dry_run:
                    crypto.lock_state(s)  # no event is appended while the start moves
                events, last = _purge_bounds(s, event_cut)
                if events and not dry_run and last is not None:
                    key_id = crypto.active_key_id(s)
                    assert key_id is not None
                    last_hash = s.scalar(select(AccessEvent.hash).where(AccessEvent.id == last))
                    if last_hash is None:
                        raise crypto.ProtectionError(
                            f"Event {last} has no chain hash; run 'turnstile logs verify'.")
                    total = events + int(s.scalar(
                        select(func.coalesce(func.sum(LogCheckpoint.events_purged), 0))) or 0)
                    s.add(LogCheckpoint(
                        last_event_id=last, last_hash=last_hash, events_purged=total,
                        purged_before=event_cut, key_id=key_id,
                        mac=crypto.chain_mac(key_id, crypto.checkpoint_message(
                            last, last_hash, total, crypto.checkpoint_moment(event_cut)))))
                    s.execute(delete(AccessEvent).where(AccessEvent.id <= last)
                              .execution_options(synchronize_session=False))
                    checkpoint_id = last
        except crypto.ProtectionError as exc:
            events = 0
            problems.append(f"Old access events were not deleted: {exc}")
            log.error("retention: access events not purged (%s)", type(exc).__name__)

    report = RetentionReport(snapshots, events, tuple(people), checkpoint_id, dry_run,
                             tuple(problems))
    if report.changed and compact:
        compact_database(db)
    log.info("retention%s: %d snapshots, %d events, %d suspended people",
             " (dry run)" if dry_run else "", snapshots, events, len(people))
    return report
