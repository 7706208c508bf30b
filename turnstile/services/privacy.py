"""Data protection use cases: erasing a person, exporting what is stored about them, making
sure old plain rows are encrypted, and compacting the database so erased bytes are gone.

**Erasure** (:func:`erase_employee`) deletes the person's record and face templates, erases the
snapshots of their access events and unlinks those events (they stay in the log, tied to
nobody; the chain still verifies), then compacts the database: on SQLite
``PRAGMA wal_checkpoint(TRUNCATE)``, ``VACUUM``, and a checkpoint again, so neither the
database file nor its ``-wal`` file keeps the erased bytes (``secure_delete`` already zeroes
freed space; VACUUM also shrinks the file); on PostgreSQL ``VACUUM FULL`` of the three tables,
which rewrites them (it locks them briefly: erasures are rare).

Backups that Turnstile made before a migration (``turnstile.db.bak-*``) are not touched:
they are copies from before; delete them once the new version runs well.

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
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from turnstile.errors import TurnstileError
from turnstile.storage import crypto
from turnstile.storage import repositories as repo
from turnstile.storage.db import Database
from turnstile.storage.models import AccessEvent, FaceTemplate, ProtectionState

log = logging.getLogger(__name__)

EXPORT_FILE = "personal_data.json"
EXPORT_README = "README.txt"


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
class ErasureReport:
    """What :func:`erase_employee` did.

    Attributes:
        counts: templates deleted, snapshots erased, events unlinked.
        compacted: the database files were rewritten without the erased bytes.
    """

    counts: repo.DeletionCounts
    compacted: bool


def erase_employee(db: Database, employee_id: int, *, compact: bool = True) -> ErasureReport:
    """Erase a person: record, templates, snapshots of their events; then compact.

    Raises:
        EmployeeNotFound: no such person (nothing changed).
    """
    with db.session() as s:
        counts = repo.delete_employee(s, employee_id)
    compacted = compact_database(db) if compact else False
    log.info("Employee %d erased (compacted: %s)", employee_id, compacted)
    return ErasureReport(counts, compacted)


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
            events.append({
                "event_id": e.id, "at": _iso(e.at), "door": e.door.name if e.door else None,
                "decision": e.decision, "reason": e.reason, "score": e.score,
                "threshold": e.threshold, "liveness_score": e.liveness_score,
                "model_id": e.model_id, "snapshot": None,
            })
            snapshot_ids.append(e.id)
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
