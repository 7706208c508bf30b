"""Data protection use cases: erasing a person, exporting what is stored about them, making
sure old plain rows are encrypted, and compacting the database so erased bytes are gone.

**Erasure** (:func:`erase_employee`) deletes the person's record and face templates, erases the
snapshots of their access events and unlinks those events (they stay in the log, tied to
nobody; the chain still verifies), then compacts the database: on SQLite
``PRAGMA wal_checkpoint(TRUNCATE)``, ``VACUUM``, and a checkpoint again, so neither the
database file nor its ``-wal`` file keeps the erased bytes (``secure_delete`` already zeroes
freed space; VACUUM also shrinks the file); on PostgreSQL ``VACUUM FULL`` of the three tables,
which rewrites them (it locks them briefly: erasures are rare).

**Backups.** Before each migration Turnstile copies an SQLite database to
``turnstile.db.bak-<revision>-<UTC stamp>`` beside it, and those copies hold everyone's face
templates and snapshots too (in plain form from revision 0002 and older). So after erasing a
person from the database, :func:`erase_employee` erases them from every such backup as well
(:func:`erase_from_backups`), the way it erased them from the database: templates deleted,
snapshots of their events erased, events unlinked (kept), record deleted, then ``VACUUM`` with
``secure_delete`` on. Each backup has the schema of its revision, so only the tables and
columns it has are touched. A backup is changed only if its person with the erased id has the
erased person's employee number (a copy of the same database always does); otherwise, or when
it cannot be opened or written (locked, not a database, read-only), it is left as it was,
named in the :class:`ErasureReport` and in a warning: the erasure from the database itself is
committed by then and stands. Copies still being written (``.partial``), backups made by other
tools and PostgreSQL dumps are not Turnstile's to find: erase from those by hand.

**Legacy rows** (:func:`protect_legacy_data`): migration 0003 cannot know the key, so rows
written before encryption are encrypted at the first start of the new version, by this
function, which the desktop app calls at start and the retention job calls each day (and
``turnstile keys rotate`` encrypts them too). It is quick when there is nothing to do.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from turnstile.errors import TurnstileError
from turnstile.matching.door_policy import FACE_NOT_CLAIMED
from turnstile.storage import crypto
from turnstile.storage import repositories as repo
from turnstile.storage.db import Database, backup_files, sqlite_file_path
from turnstile.storage.models import AccessEvent, FaceTemplate, ProtectionState

log = logging.getLogger(__name__)

SNAPSHOT_OF_SOMEONE_ELSE = ("not included: the face at the door did not match this person "
                            "(their employee number was given with another face)")
"""Why a snapshot of one of the person's events is left out of their export."""
EXPORT_FILE = "personal_data.json"
EXPORT_README = "README.txt"
BACKUP_BUSY_TIMEOUT_S = 2.0
"""How long erasing from a backup waits for a lock on it. Turnstile never writes to its
backups, so a lock means a person has one open in a tool; waiting as long as for the database
itself would only hold up the erasure."""


class ExportError(TurnstileError):
    """The export folder cannot be written."""


# --- compaction -----------------------------------------------------------------------------


def compact_database(db: Database) -> bool:
    """Rewrite the database so deleted data is gone from its files.

    Returns:
        Whether it was done completely (False: another program kept the WAL file in use, or
        the database type has no compaction here; the data is then zeroed but may linger in
        the write-ahead log until the next checkpoint).
    """
    dialect = db.engine.dialect.name
    try:
        with db.engine.connect() as connection:
            auto = connection.execution_options(isolation_level="AUTOCOMMIT")
            if dialect == "sqlite":
                auto.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
                auto.exec_driver_sql("VACUUM")
                busy = auto.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").first()
                complete = busy is None or not busy[0]
                if not complete:
                    log.warning("database compacted, but its WAL file is still in use by "
                                "another connection; it is cleared at the next checkpoint")
                return complete
            if dialect == "postgresql":
                auto.exec_driver_sql("VACUUM FULL face_templates, access_events, employees")
                return True
    except Exception as exc:  # noqa: BLE001 (compaction is a best effort after a commit)
        log.error("the database could not be compacted: %s", type(exc).__name__)
        return False
    log.warning("no compaction for %s databases; erased rows may linger in free space",
                dialect)
    return False


# --- erasure ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BackupCleanup:
    """What erasing a person did to one migration backup.

    Attributes:
        path: the backup file.
        templates: face templates deleted from it.
        snapshots: snapshots of the person's access events erased in it.
        events_unlinked: access events kept in it but no longer linked to the person.
        problem: why the backup still holds (or may still hold) the person's data; ``None``
            when it holds none of it now (cleaned, or it never held any).
    """

    path: Path
    templates: int = 0
    snapshots: int = 0
    events_unlinked: int = 0
    problem: str | None = None

    @property
    def cleaned(self) -> bool:
        """The backup holds none of the person's data now."""
        return self.problem is None


@dataclass(frozen=True)
class ErasureReport:
    """What :func:`erase_employee` did.

    ``templates``, ``snapshots`` and ``events_unlinked`` read through to ``counts``, so the
    report can stand where the :class:`~turnstile.storage.repositories.DeletionCounts` was.

    Attributes:
        counts: templates deleted, snapshots erased, events unlinked (in the database).
        compacted: the database files were rewritten without the erased bytes.
        backups: one entry per migration backup found beside an SQLite database file, in name
            order; empty when there were none (always on PostgreSQL).
    """

    counts: repo.DeletionCounts
    compacted: bool
    backups: tuple[BackupCleanup, ...] = ()

    @property
    def templates(self) -> int:
        return self.counts.templates

    @property
    def snapshots(self) -> int:
        return self.counts.snapshots

    @property
    def events_unlinked(self) -> int:
        return self.counts.events_unlinked

    @property
    def backups_cleaned(self) -> tuple[BackupCleanup, ...]:
        """The backups that hold none of the person's data now."""
        return tuple(b for b in self.backups if b.cleaned)

    @property
    def backups_failed(self) -> tuple[BackupCleanup, ...]:
        """The backups that could not be cleaned (they may still hold the person's data)."""
        return tuple(b for b in self.backups if not b.cleaned)

    def backup_summary(self) -> str:
        """One sentence for the admin about the backups, or ``""`` when there were none.

        For example ``"2 database backups cleaned; 1 could not be cleaned and may still hold
        this person's face data (delete it, or fix the problem and delete the person's data
        by hand): /data/turnstile.db.bak-0002-20250101T000000Z (database is locked)."``
        """
        if not self.backups:
            return ""
        cleaned = len(self.backups_cleaned)
        text = f"{cleaned} database backup{'' if cleaned == 1 else 's'} cleaned"
        failed = self.backups_failed
        if not failed:
            return text + "."
        them = "it" if len(failed) == 1 else "them"
        listed = "; ".join(f"{b.path} ({b.problem})" for b in failed)
        return (f"{text}; {len(failed)} could not be cleaned and may still hold this "
                f"person's face data (delete {them}, or fix the problem and delete the "
                f"person's data by hand): {listed}.")


def erase_employee(db: Database, employee_id: int, *, compact: bool = True) -> ErasureReport:
    """Erase a person: record, templates, snapshots of their events; then compact; then the
    same in every migration backup of an SQLite database (see the module docstring).

    A backup that cannot be cleaned does not fail the erasure: it is named in the report
    (``backups_failed``) and in a warning.

    Args:
        db: the database.
        employee_id: the person.
        compact: rewrite the database afterwards so the erased bytes leave its files
            (backups are always compacted).

    Returns:
        What was done, in the database and in each backup.

    Raises:
        EmployeeNotFound: no such person (nothing changed, backups included).
    """
    with db.session() as s:
        employee_number = repo.get_employee(s, employee_id).employee_number
        counts = repo.delete_employee(s, employee_id)
    compacted = compact_database(db) if compact else False
    path = sqlite_file_path(db.engine.url)
    backups = () if path is None else erase_from_backups(path, employee_id, employee_number)
    log.info("Employee %d erased (compacted: %s; backups cleaned: %d of %d)", employee_id,
             compacted, sum(b.cleaned for b in backups), len(backups))
    return ErasureReport(counts, compacted, backups)


def erase_from_backups(db_path: Path, employee_id: int,
                       employee_number: str) -> tuple[BackupCleanup, ...]:
    """Erase one person from every migration backup of the SQLite file ``db_path``.

    Never raises for a backup: each problem is logged as a warning (the backup's path and the
    person's id; no name, number, template or picture) and returned in its
    :class:`BackupCleanup`.

    Args:
        db_path: the database file the backups were made of.
        employee_id: the person's id (a backup is a copy, so the same there).
        employee_number: the person's number; a backup whose person with that id has another
            number is left unchanged.

    Returns:
        One entry per backup, in name order.
    """
    try:
        paths = backup_files(db_path)
    except OSError as exc:
        problem = f"the folder could not be searched for backups ({exc.strerror or exc})"
        log.warning("Backups of %s: %s", db_path, problem)
        return (BackupCleanup(db_path.parent, problem=problem),)
    results = []
    for path in paths:
        try:
            result = _erase_from_backup(path, employee_id, employee_number)
        except Exception as exc:  # noqa: BLE001 (the erasure itself is committed; report)
            result = BackupCleanup(path, problem=_reason(exc))
        if result.problem:
            log.warning("Employee %d could not be erased from the backup %s: %s",
                        employee_id, path, result.problem)
        elif result.templates or result.events_unlinked:
            log.info("Employee %d erased from the backup %s (%d templates, %d snapshots)",
                     employee_id, path, result.templates, result.snapshots)
        results.append(result)
    return tuple(results)


def _reason(exc: BaseException) -> str:
    """A plain reason for the admin; driver messages name no value, only tables and columns."""
    if isinstance(exc, OSError):
        return str(exc.strerror or exc)
    if isinstance(exc, sqlite3.Error):
        return str(exc) or type(exc).__name__
    return f"unexpected error ({type(exc).__name__})"


class _OtherPerson(Exception):
    """The backup's person with the erased id has another employee number."""


def _columns(connection: sqlite3.Connection, table: str) -> set[str]:
    """The columns ``table`` has at this backup's revision (none if it has no such table)."""
    return {row[1] for row in connection.execute(f"PRAGMA table_info({table})")}


def _assignments(columns: Sequence[str], present: set[str]) -> str:
    """``a = NULL, b = NULL`` for those of ``columns`` the table has (names are ours, never
    input, so they can be formatted into the statement)."""
    return ", ".join(f"{name} = NULL" for name in columns if name in present)


def _erase_from_backup(path: Path, employee_id: int, employee_number: str) -> BackupCleanup:
    """Erase the person from one backup in one transaction, then VACUUM it.

    Raises:
        sqlite3.Error: it could not be opened, read or written (nothing was changed, unless
            the error came from the VACUUM after the commit).
    """
    # mode=rw: a backup that vanished in between is an error, not a new empty file.
    connection = sqlite3.connect(f"{path.as_uri()}?mode=rw", uri=True,
                                 timeout=BACKUP_BUSY_TIMEOUT_S, isolation_level=None)
    try:
        connection.execute("PRAGMA secure_delete = ON")
        # As in the app: removing the person's row must not leave anything pointing at it;
        # a trigger or reference that forbids the changes rolls them all back.
        connection.execute("PRAGMA foreign_keys = ON")
        connection.execute("BEGIN IMMEDIATE")
        try:
            erased = _erase_rows(connection, employee_id, employee_number)
        except _OtherPerson:
            connection.execute("ROLLBACK")
            return BackupCleanup(path, problem=(
                f"its person with id {employee_id} has a different employee number, so it "
                f"was left unchanged"))
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")
        if erased is None:
            return BackupCleanup(path)  # the person is not in it
        try:
            connection.execute("VACUUM")
            busy = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        except sqlite3.Error as exc:
            return BackupCleanup(path, *erased, problem=(
                f"the person was erased from it but it could not be compacted "
                f"({_reason(exc)}), so the erased bytes may remain in the file"))
        if busy is not None and busy[0]:
            return BackupCleanup(path, *erased, problem=(
                "the person was erased from it, but another program has it open, so its "
                "-wal file may keep the erased bytes until that program closes it"))
        return BackupCleanup(path, *erased)
    finally:
        connection.close()


def _erase_rows(connection: sqlite3.Connection, employee_id: int,
                employee_number: str) -> tuple[int, int, int] | None:
    """Do in a backup what :func:`repositories.delete_employee` does in the database, with
    the tables and columns the backup's revision has.

    Returns:
        Templates deleted, snapshots erased, events unlinked; ``None`` when the backup does
        not hold the person (nothing changed).

    Raises:
        _OtherPerson: the backup's person with that id has another number (nothing changed).
    """
    if not {"id", "employee_number"} <= _columns(connection, "employees"):
        return None  # not a Turnstile database with people (e.g. a backup made at base)
    row = connection.execute("SELECT employee_number FROM employees WHERE id = ?",
                             (employee_id,)).fetchone()
    if row is None:
        return None  # backed up before the person was enrolled
    if row[0] != employee_number:
        raise _OtherPerson
    snapshots = unlinked = templates = 0
    events = _columns(connection, "access_events")
    if "employee_id" in events:
        # As in the database: the events stay (the log's chain, from 0003 on, covers the
        # snapshot's hash and the person's salted hash, not these columns).
        if "snapshot" in events:
            cleared = _assignments(("snapshot", "snapshot_key_id"), events)
            snapshots = connection.execute(
                f"UPDATE access_events SET {cleared} "
                "WHERE employee_id = ? AND snapshot IS NOT NULL", (employee_id,)).rowcount
        unlinked = connection.execute(
            f"UPDATE access_events SET {_assignments(('employee_id', 'subject_salt'), events)} "
            "WHERE employee_id = ?", (employee_id,)).rowcount
    if "employee_id" in _columns(connection, "face_templates"):
        templates = connection.execute("DELETE FROM face_templates WHERE employee_id = ?",
                                       (employee_id,)).rowcount
    connection.execute("DELETE FROM employees WHERE id = ?", (employee_id,))
    return templates, snapshots, unlinked


# --- legacy rows ----------------------------------------------------------------------------


@dataclass(frozen=True)
class LegacyReport:
    """What :func:`protect_legacy_data` encrypted (all zero when there was nothing to do)."""

    templates: int
    snapshots: int
    head_signed: bool


def protect_legacy_data(db: Database) -> LegacyReport:
    """Encrypt rows stored before encryption existed, sign an unsigned log head, compact.

    Raises:
        KeyMissingError: there are rows to protect but the key is not here.
    """
    with db.session() as s:
        plain_templates = s.scalar(select(func.count(FaceTemplate.id))
                                   .where(FaceTemplate.key_id.is_(None))) or 0
        plain_snapshots = s.scalar(select(func.count(AccessEvent.id)).where(
            AccessEvent.snapshot_sealed.is_not(None), AccessEvent.snapshot_key_id.is_(None))) or 0
        state = s.get(ProtectionState, 1)
        unsigned = state is not None and state.chain_mac is None and state.chain_events > 0
    if not (plain_templates or plain_snapshots or unsigned):
        return LegacyReport(0, 0, False)
    with db.session() as s:
        crypto.lock_state(s)
        templates, snapshots = crypto.seal_plain_rows(s)
        signer = crypto.active_key_id(s)
        crypto.sign_head(s, signer)
    if templates or snapshots:
        compact_database(db)
        log.info("Encrypted %d face templates and %d snapshots stored before encryption",
                 templates, snapshots)
    return LegacyReport(templates, snapshots, unsigned)


# --- export (GDPR Art. 15) ------------------------------------------------------------------


@dataclass(frozen=True)
class ExportReport:
    """What :func:`export_data` wrote.

    Attributes:
        folder: the new folder holding everything.
        templates: face templates described (each with its photo when there is one).
        photos: face photos written.
        events: access events listed.
        snapshots: event snapshots written.
    """

    folder: Path
    templates: int
    photos: int
    events: int
    snapshots: int


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


_README = """\
Personal data held by Turnstile about one person (right of access, GDPR Art. 15)
==============================================================================

{file}  the person's record (name, number, department, validity, consent), the
    description of each stored face template (when and how it was taken, the
    model that made it, its quality) and every access event linked to the person.
photos/     the face photo stored with each template (what the desk shows).
snapshots/  the camera pictures kept with the person's access events (if any).

A face template itself is a list of {dim} numbers computed from the photo by the
model named in it; it is used only to recognise the person at the door and is
stored encrypted. The numbers are not included here: they describe the photo
above and nothing else.

Purposes: opening the door for enrolled staff; the access log for security.
Retention: see the organisation's policy (snapshots, events and suspended
people are deleted automatically after the periods set in Turnstile).
"""


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "person"


def export_data(db: Database, employee_id: int, folder: Path | str) -> ExportReport:
    """Write everything stored about one person into a new folder inside ``folder``.

    The new folder is ``turnstile-export-<number>-<UTC time>`` (mode 0700, files 0600); it is
    written under a temporary name and renamed when complete, so a half export never looks
    whole.

    Raises:
        EmployeeNotFound: no such person.
        KeyMissingError: the photos cannot be decrypted (nothing is left behind).
        ExportError: the folder cannot be written.
    """
    base = Path(folder).expanduser()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    with db.session() as s:
        employee = repo.get_employee(s, employee_id)
        number = employee.employee_number
        record: dict[str, Any] = {
            "id": employee.id, "employee_number": employee.employee_number,
            "name": employee.name, "department": employee.department,
            "status": employee.status, "suspended_at": _iso(employee.suspended_at),
            "valid_from": _iso(employee.valid_from), "valid_until": _iso(employee.valid_until),
            "consent_at": _iso(employee.consent_at),
            "consent_text_version": employee.consent_text_version,
            "created_at": _iso(employee.created_at), "updated_at": _iso(employee.updated_at),
        }
        templates = []
        photos: dict[str, bytes] = {}
        dim = 0
        for t in repo.list_templates(s, employee_id):
            crop = t.face_crop
            name = f"photos/template-{t.id}.jpg" if crop else None
            if crop and name:
                photos[name] = crop
            dim = dim or t.dim
            templates.append({
                "template_id": t.id, "model_id": t.model_id, "dimensions": t.dim,
                "confirm_model_id": t.confirm_model_id,
                "confirm_from_stored_photo": t.confirm_from_crop if t.confirm_model_id else None,
                "source": t.source, "source_name": t.source_name, "quality": t.quality,
                "created_at": _iso(t.created_at), "photo": name,
            })
        events = []
        snapshot_ids = []
        for e in repo.iter_events(s, repo.EventFilter(employee_id=employee_id),
                                  newest_first=False):
            event: dict[str, Any] = {
                "event_id": e.id, "at": _iso(e.at), "door": e.door.name if e.door else None,
                "decision": e.decision, "reason": e.reason, "score": e.score,
                "threshold": e.threshold, "liveness_score": e.liveness_score,
                "model_id": e.model_id, "snapshot": None,
            }
            if e.reason == FACE_NOT_CLAIMED:
                # Somebody gave this person's number with another face: the picture shows
                # that somebody, not the person whose data this is.
                event["snapshot_withheld"] = SNAPSHOT_OF_SOMEONE_ELSE
            else:
                snapshot_ids.append(e.id)
            events.append(event)
        snapshots: dict[str, bytes] = {}
        by_id = {ev["event_id"]: ev for ev in events}
        for event_id in snapshot_ids:
            picture = repo.get_event_snapshot(s, event_id)
            if picture:
                name = f"snapshots/event-{event_id}.jpg"
                snapshots[name] = picture
                by_id[event_id]["snapshot"] = name
    document = {
        "exported_at": datetime.now(UTC).isoformat(),
        "exported_by": "Turnstile",
        "person": record, "face_templates": templates, "access_events": events,
    }
    target = base / f"turnstile-export-{_safe_name(number)}-{stamp}"
    partial = target.with_name(target.name + ".partial")
    try:
        base.mkdir(parents=True, exist_ok=True)
        partial.mkdir(mode=0o700)
        (partial / "photos").mkdir(mode=0o700)
        (partial / "snapshots").mkdir(mode=0o700)
        _write_private(partial / EXPORT_FILE,
                       json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8"))
        _write_private(partial / EXPORT_README,
                       _README.format(file=EXPORT_FILE, dim=dim or 128).encode("utf-8"))
        for name, data in {**photos, **snapshots}.items():
            _write_private(partial / name, data)
        os.replace(partial, target)
    except OSError as exc:
        shutil.rmtree(partial, ignore_errors=True)
        raise ExportError(f"The export could not be written to {base} "
                            f"({exc.strerror or exc}); nothing was left there.") from None
    log.info("Personal data of employee %d exported (%d templates, %d events)", employee_id,
             len(templates), len(events))
    return ExportReport(target, len(templates), len(photos), len(events), len(snapshots))
