"""The audit trail: who did what, when, to what, and whether it worked.

Every change an operator makes (enroll, edit, suspend, delete, import, export, settings,
accounts) and every login, failed login and refused action becomes one
:class:`~turnstile.storage.accounts.AuditEntry`. The actor is an account's username,
``"system"`` for what the app does on its own, or ``"os:<login>"`` for a command run by the
owner of the data folder before any account exists (see :mod:`turnstile.services.auth`).

What goes in: ids, employee numbers, option and setting names, file names. What never goes
in: passwords, embeddings, images, and the *values* of a person's details (a name typed in
an edit is not copied here, so erasing a person erases their name; the audit keeps only that
employee E123 was edited, by whom and when).

Entries are only ever added; nothing in Turnstile edits or deletes them.
"""

from __future__ import annotations

import csv
import logging
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from turnstile.errors import TurnstileError
from turnstile.storage.accounts import (
    ACTION_MAX_CHARS,
    ACTOR_MAX_CHARS,
    TARGET_MAX_CHARS,
    AuditEntry,
)
from turnstile.storage.db import Database
from turnstile.storage.models import utcnow

log = logging.getLogger(__name__)

SYSTEM_ACTOR = "system"
"""The actor of what the app does on its own (start-up, retention)."""
DETAIL_MAX_CHARS = 2000
"""A detail longer than this is cut: the trail is for people to read, not a data dump."""

# The actions the app records (extension commands may add their own words).
LOGIN = "login"
LOGIN_FAILED = "login_failed"
LOGOUT = "logout"
PERMISSION_DENIED = "permission_denied"
ENROLL = "enroll"
EDIT = "edit"
SUSPEND = "suspend"
ACTIVATE = "activate"
DELETE = "delete"
ADD_PHOTO = "add_photo"
IMPORT = "import"
EXPORT = "export"
SETTINGS_CHANGE = "settings_change"
ACCOUNT_ADD = "account_add"
ACCOUNT_PASSWORD = "account_password"
ACCOUNT_DISABLE = "account_disable"
ACCOUNT_ENABLE = "account_enable"
ACCOUNT_ROLE = "account_role"
AUDIT_EXPORT = "audit_export"
SPOOF_LOCKOUT = "spoof_lockout"
"""A door locked an identity out after repeated spoofs (actor: the system)."""

ACTIONS: tuple[str, ...] = (
    LOGIN, LOGIN_FAILED, LOGOUT, PERMISSION_DENIED, ENROLL, EDIT, SUSPEND, ACTIVATE, DELETE,
    ADD_PHOTO, IMPORT, EXPORT, SETTINGS_CHANGE, ACCOUNT_ADD, ACCOUNT_PASSWORD,
    ACCOUNT_DISABLE, ACCOUNT_ENABLE, ACCOUNT_ROLE, AUDIT_EXPORT, SPOOF_LOCKOUT,
)
"""The words of the built-in actions, for filters."""

CSV_COLUMNS = ("entry_id", "time_utc", "actor", "action", "target", "success", "detail")
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


class AuditExportError(TurnstileError):
    """The audit CSV cannot be written (a previous file, if any, is unchanged)."""


@dataclass(frozen=True)
class AuditRecord:
    """One audit entry as plain values (safe to hand to another thread)."""

    id: int
    at: datetime
    actor: str
    action: str
    target: str | None
    detail: str | None
    success: bool

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditRecord:
        return cls(entry.id, entry.at, entry.actor, entry.action, entry.target, entry.detail,
                   bool(entry.success))


@dataclass(frozen=True)
class AuditFilter:
    """Which entries to show. Every field is optional; they combine with AND.

    Attributes:
        start: from this moment (inclusive, aware UTC).
        end: before this moment (exclusive).
        actor: exactly this actor.
        actions: any of these actions.
        text: this text anywhere in the actor, action, target or detail (case-insensitive;
            a plain substring, ``%`` and ``_`` are not wildcards).
        success: only successes (True) or failures (False).
    """

    start: datetime | None = None
    end: datetime | None = None
    actor: str | None = None
    actions: tuple[str, ...] | None = None
    text: str | None = None
    success: bool | None = None


def _cut(value: str | None, limit: int) -> str | None:
    if value is None:
        return None
    value = str(value)
    return value if len(value) <= limit else value[: limit - 1] + "…"


def add_entry(session: Session, *, actor: str, action: str, target: str | None = None,
              detail: str | None = None, success: bool = True,
              at: datetime | None = None) -> AuditEntry:
    """Add one entry in the caller's unit of work (so it commits, or not, with the change it
    describes)."""
    entry = AuditEntry(at=at or utcnow(), actor=_cut(actor or SYSTEM_ACTOR, ACTOR_MAX_CHARS),
                       action=_cut(action, ACTION_MAX_CHARS),
                       target=_cut(target, TARGET_MAX_CHARS),
                       detail=_cut(detail, DETAIL_MAX_CHARS), success=bool(success))
    session.add(entry)
    session.flush()
    return entry


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _filtered(stmt: Select, flt: AuditFilter) -> Select:
    if flt.start is not None:
        stmt = stmt.where(AuditEntry.at >= flt.start)
    if flt.end is not None:
        stmt = stmt.where(AuditEntry.at < flt.end)
    if flt.actor:
        stmt = stmt.where(AuditEntry.actor == flt.actor)
    if flt.actions:
        stmt = stmt.where(AuditEntry.action.in_(flt.actions))
    if flt.success is not None:
        stmt = stmt.where(AuditEntry.success.is_(flt.success))
    if flt.text and flt.text.strip():
        pattern = f"%{_escape_like(flt.text.strip().lower())}%"
        stmt = stmt.where(or_(*(func.lower(column).like(pattern, escape="\\") for column in (
            AuditEntry.actor, AuditEntry.action, AuditEntry.target, AuditEntry.detail))))
    return stmt


class AuditService:
    """Records and reads the audit trail.

    Args:
        db: the database.
    """

    def __init__(self, db: Database) -> None:
        self.db = db

    def record(self, actor: str, action: str, target: str | None = None,
               detail: str | None = None, success: bool = True) -> AuditRecord:
        """Add one entry in its own transaction and return it.

        Raises:
            DatabaseError: the entry could not be written.
        """
        with self.db.session() as s:
            entry = add_entry(s, actor=actor, action=action, target=target, detail=detail,
                              success=success)
            record = AuditRecord.of(entry)
        log.info("Audit entry %d: %s (%s)", record.id, record.action,
                 "ok" if success else "failed")
        return record

    def query(self, flt: AuditFilter | None = None, limit: int | None = 500,
              offset: int = 0, newest_first: bool = True) -> list[AuditRecord]:
        """Entries matching ``flt``, newest first by default."""
        order = (AuditEntry.at.desc(), AuditEntry.id.desc()) if newest_first else (
            AuditEntry.at, AuditEntry.id)
        stmt = _filtered(select(AuditEntry), flt or AuditFilter()).order_by(*order)
        if limit is not None:
            stmt = stmt.limit(limit)
        if offset:
            stmt = stmt.offset(offset)
        with self.db.session() as s:
            return [AuditRecord.of(e) for e in s.scalars(stmt)]

    def count(self, flt: AuditFilter | None = None) -> int:
        """How many entries match ``flt``."""
        stmt = _filtered(select(func.count(AuditEntry.id)), flt or AuditFilter())
        with self.db.session() as s:
            return int(s.execute(stmt).scalar_one())

    def actors(self) -> list[str]:
        """Every actor that appears in the trail, sorted."""
        with self.db.session() as s:
            return sorted(s.scalars(select(AuditEntry.actor).distinct()))

    def iter_entries(self, flt: AuditFilter | None = None, chunk: int = 1000
                     ) -> Iterator[AuditRecord]:
        """Every matching entry, oldest first, read in chunks (for exports)."""
        last_id = 0
        while True:
            stmt = (_filtered(select(AuditEntry), flt or AuditFilter())
                    .where(AuditEntry.id > last_id).order_by(AuditEntry.id).limit(chunk))
            with self.db.session() as s:
                rows = [AuditRecord.of(e) for e in s.scalars(stmt)]
            if not rows:
                return
            yield from rows
            last_id = rows[-1].id

    def export_csv(self, path: Path | str, flt: AuditFilter | None = None) -> int:
        """Write the matching entries to a CSV file (UTF-8 with BOM, oldest first, UTC).

        The file is written under a temporary name and renamed when complete. Cells that a
        spreadsheet would run as a formula are prefixed with an apostrophe.

        Returns:
            The number of entries written.

        Raises:
            AuditExportError: the file cannot be written.
        """
        target = Path(path)
        folder = target.parent if str(target.parent) else Path(".")
        if not folder.is_dir():
            raise AuditExportError(f"The folder {folder} does not exist.")
        rows = 0
        try:
            fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp",
                                            dir=folder)
        except OSError as exc:
            raise AuditExportError(f"Cannot write in {folder}: {exc.strerror or exc}") from exc
        try:
            with os.fdopen(fd, "w", encoding="utf-8-sig", newline="") as out:
                writer = csv.writer(out)
                writer.writerow(CSV_COLUMNS)
                for r in self.iter_entries(flt):
                    writer.writerow([r.id, r.at.astimezone(UTC).isoformat(), _cell(r.actor),
                                     _cell(r.action), _cell(r.target),
                                     "yes" if r.success else "no", _cell(r.detail)])
                    rows += 1
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp_name, target)
        except OSError as exc:
            Path(tmp_name).unlink(missing_ok=True)
            raise AuditExportError(f"Cannot write {target}: {exc.strerror or exc}") from exc
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        log.info("Audit trail exported: %d entries", rows)
        return rows


def _cell(value: str | None) -> str:
    if not value:
        return ""
    return "'" + value if value.startswith(_FORMULA_PREFIXES) else value
