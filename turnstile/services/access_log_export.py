"""Export the access log as CSV, for HR, auditors and spreadsheets.

The file is UTF-8 with a byte-order mark (so Excel shows accented and non-Latin names right;
read it back with ``encoding="utf-8-sig"``), comma-separated, one event per row, oldest
first, times in UTC ISO 8601. Snapshots and anything biometric are never exported.

The file is written under a temporary name in the destination folder and renamed when
complete: an interrupted or failed export leaves the previous file (if any) untouched and
no half-written file behind.

Text cells that a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``,
``@``) are prefixed with an apostrophe, so a name typed as ``=HYPERLINK(...)`` stays text.
"""

from __future__ import annotations

import csv
import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Protocol, TextIO

from turnstile.errors import TurnstileError
from turnstile.storage import repositories as repo
from turnstile.storage.db import Database
from turnstile.storage.models import AccessEvent

log = logging.getLogger(__name__)

COLUMNS = (
    "event_id", "time_utc", "door", "decision", "employee_number", "name", "department",
    "reason", "score", "threshold", "liveness_score", "model_id",
)
"""The CSV header, in order."""

SCORE_DECIMALS = 4
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
"""Leading characters that make a spreadsheet treat a cell as a formula (OWASP CSV injection)."""


class ExportError(TurnstileError):
    """The export file cannot be written (the previous file, if any, is unchanged)."""


class CancelFlag(Protocol):
    def is_set(self) -> bool: ...


ProgressCallback = Callable[[int, int], None]
"""``progress(rows_written, rows_total)``, called every :data:`PROGRESS_EVERY` rows and at the
end."""
PROGRESS_EVERY = 500


@dataclass(frozen=True)
class ExportResult:
    """Attributes:
        path: the file written (None when cancelled).
        rows: events written.
        cancelled: the caller cancelled; no file was written.
    """

    path: Path | None
    rows: int
    cancelled: bool = False


def _text(value: str | None) -> str:
    if not value:
        return ""
    return "'" + value if value.startswith(FORMULA_PREFIXES) else value


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.{SCORE_DECIMALS}f}"


def event_row(event: AccessEvent) -> list[str]:
    """One CSV row for an event whose ``employee`` and ``door`` are loaded."""
    employee = event.employee
    return [
        str(event.id),
        event.at.astimezone(UTC).isoformat(timespec="seconds"),
        _text(event.door.name if event.door is not None else None),
        event.decision,
        _text(employee.employee_number if employee is not None else None),
        _text(employee.name if employee is not None else None),
        _text(employee.department if employee is not None else None),
        _text(event.reason),
        _number(event.score),
        _number(event.threshold),
        _number(event.liveness_score),
        _text(event.model_id),
    ]


def write_access_log_csv(db: Database, stream: TextIO, flt: repo.EventFilter | None = None, *,
                         newest_first: bool = False, progress: ProgressCallback | None = None,
                         cancel: CancelFlag | None = None) -> int | None:
    """Write the header and every matching event to an open text stream.

    Returns:
        The number of events written, or None when cancelled part-way.
    """
    writer = csv.writer(stream, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    rows = 0
    with db.session() as s:
        total = repo.count_events(s, flt) if progress is not None else 0
        for event in repo.iter_events(s, flt, newest_first=newest_first):
            if cancel is not None and rows % PROGRESS_EVERY == 0 and cancel.is_set():
                return None
            writer.writerow(event_row(event))
            rows += 1
            if progress is not None and rows % PROGRESS_EVERY == 0:
                progress(rows, total)
    if progress is not None:
        progress(rows, max(total, rows))
    return rows


def export_access_log_csv(db: Database, path: str | Path, flt: repo.EventFilter | None = None,
                          *, newest_first: bool = False, progress: ProgressCallback | None = None,
                          cancel: CancelFlag | None = None) -> ExportResult:
    """Export the matching access events to a CSV file, atomically.

    Args:
        db: the database.
        path: the file to write (replaced if it exists, only once the export is complete).
        flt: which events (all when None).
        newest_first: order of the rows (default: oldest first).
        progress: called as rows are written.
        cancel: checked as rows are written; when set, nothing is written.

    Raises:
        ExportError: the folder does not exist or the file cannot be written.
        DatabaseError: the database cannot be read.
    """
    target = Path(path)
    folder = target.parent
    if target.is_dir():
        raise ExportError(f"{target} is a folder; give the name of the CSV file to write.")
    if not folder.is_dir():
        raise ExportError(f"The folder {folder} does not exist.")
    try:
        handle, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial",
                                             dir=folder)
    except OSError as exc:
        raise ExportError(f"Cannot write in {folder} ({exc.strerror or exc}).") from None
    temp = Path(temp_name)
    try:
        with os.fdopen(handle, "w", encoding="utf-8-sig", newline="") as stream:
            rows = write_access_log_csv(db, stream, flt, newest_first=newest_first,
                                        progress=progress, cancel=cancel)
            if rows is None:
                stream.close()
                temp.unlink(missing_ok=True)
                log.info("access log export cancelled")
                return ExportResult(None, 0, cancelled=True)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp, target)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise ExportError(f"The file {target} could not be written ({exc.strerror or exc}); "
                          f"nothing was exported.") from None
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    log.info("access log exported: %d events", rows)
    return ExportResult(target, rows)

