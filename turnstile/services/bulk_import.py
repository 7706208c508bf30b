"""Bulk import: enroll many people from a CSV file and a folder of photos.

The CSV has a header row with the columns ``employee_number``, ``name``, ``photo`` and,
optionally, ``department`` and ``consent`` (``yes``/``no``); other columns are ignored and
listed in the report. ``photo`` is a path relative to the photo folder. The file may be UTF-8
(with or without the byte-order mark Excel writes), UTF-16 with a BOM, or, failing both,
Windows-1252 (noted in the report); the delimiter (comma, semicolon or tab) is read from the
header line; blank lines are skipped.

Each row is enrolled in its own transaction (:meth:`EnrollmentService.enroll`), so a bad
row never leaves anything behind and never stops the other rows. A row whose employee number
is already in the database is *skipped*, which makes re-running an import harmless: only the
rows that failed before are tried again.

Nothing here prints; the caller gets a progress callback, may cancel between rows, and
receives an :class:`ImportReport`. Row numbers are line numbers of the file (the header is
row 1), as a spreadsheet shows them. Log lines carry row numbers and ids, never names.
"""

from __future__ import annotations

import csv
import io
import logging
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from turnstile.errors import ImageError, MultipleFacesError, NoFaceError, TurnstileError
from turnstile.services.enrollment import (
    ConsentRequiredError,
    DuplicateFaceError,
    EnrollmentService,
    PoorQualityError,
)
from turnstile.storage import repositories as repo
from turnstile.storage.errors import (
    DatabaseError,
    DuplicateEmployeeNumber,
    EmployeeNotFound,
    ValidationError,
)

log = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("employee_number", "name", "photo")
OPTIONAL_COLUMNS = ("department", "consent")
COLUMN_ALIASES = {
    "number": "employee_number",
    "employee_no": "employee_number",
    "employee_id": "employee_number",
    "full_name": "name",
    "photo_file": "photo",
    "photo_path": "photo",
    "dept": "department",
}
"""Other spellings of the column names, after lower-casing and turning spaces and hyphens
into underscores (``"Employee Number"`` is ``employee_number`` already)."""

DELIMITERS = (",", ";", "\t")
"""Delimiters recognised in the header line (Excel writes ``;`` where ``,`` is the decimal
separator)."""

MAX_CSV_BYTES = 64 * 1024 * 1024
"""Largest CSV file accepted (about 500,000 rows)."""

CONSENT_YES = frozenset({"yes", "y", "true", "1", "x", "oui", "ja", "si", "sí"})
CONSENT_NO = frozenset({"no", "n", "false", "0", "non", "nein"})

RowStatus = Literal["imported", "skipped", "rejected"]

RejectCode = Literal[
    "bad_row",            # the CSV row itself is malformed (wrong number of values...)
    "no_consent",         # no consent column saying yes and no --consent-given
    "bad_details",        # empty / too long name or number, bad department...
    "duplicate_in_file",  # the employee number appears on an earlier row of the file
    "missing_photo",      # photo cell empty, or file not found
    "bad_photo",          # the file is not a readable image
    "no_face",
    "several_faces",
    "poor_quality",
    "duplicate_face",     # the face looks like someone already enrolled (without force)
    "database",           # the database failed; the import stopped
    "error",              # anything unexpected (details in the log)
]


class CancelFlag(Protocol):
    """Anything with ``is_set()``, e.g. a :class:`threading.Event` the window sets."""

    def is_set(self) -> bool: ...


class ImportFileError(TurnstileError):
    """The CSV file or the photo folder cannot be used at all (nothing was imported)."""


@dataclass(frozen=True)
class ImportRow:
    """One data row of the CSV, as read (texts not yet validated).

    Attributes:
        row: line number in the file (the header is row 1).
        problem: why the row cannot be used as it is (a malformed row), or None.
    """

    row: int
    employee_number: str
    name: str
    department: str | None
    photo: str
    consent: bool | None
    problem: str | None = None


@dataclass(frozen=True)
class RowResult:
    """What happened to one row.

    Attributes:
        row: line number in the file.
        employee_number: as written in the file ('' when the row was unreadable).
        status: ``imported``, ``skipped`` (already in the database) or ``rejected``.
        code: a stable code for the reason (``already_enrolled`` for skipped rows, a
            :data:`RejectCode` for rejected ones, None for imported ones).
        reason: the plain-language reason (None for imported rows).
        employee_id: the employee created (imported) or found (skipped).
        template_id: the face template created (imported rows).
        quality: the face quality score of an imported photo.
        warnings: notes on an imported row (e.g. enrolled despite a likely duplicate).
    """

    row: int
    employee_number: str
    status: RowStatus
    code: str | None = None
    reason: str | None = None
    employee_id: int | None = None
    template_id: int | None = None
    quality: float | None = None
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "row": self.row, "employee_number": self.employee_number, "status": self.status,
            "code": self.code, "reason": self.reason, "employee_id": self.employee_id,
            "template_id": self.template_id, "quality": self.quality,
            "warnings": list(self.warnings),
        }


@dataclass
class ImportFile:
    """A CSV file read and split into rows.

    Attributes:
        rows: the data rows, in file order.
        encoding: the text encoding used to read the file.
        delimiter: the delimiter found in the header line.
        notes: remarks for the report (ignored columns, a non-UTF-8 file...).
    """

    rows: list[ImportRow]
    encoding: str
    delimiter: str
    notes: list[str] = field(default_factory=list)


@dataclass
class ImportReport:
    """The outcome of an import, row by row.

    Attributes:
        csv_path: the file imported.
        total: data rows in the file.
        results: one per row processed, in file order.
        notes: remarks about the file.
        cancelled: the caller cancelled; the remaining rows were not processed.
        aborted: why the import stopped early (the database failed), or None.
    """

    csv_path: str
    total: int
    results: list[RowResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    cancelled: bool = False
    aborted: str | None = None

    def _with(self, status: RowStatus) -> list[RowResult]:
        return [r for r in self.results if r.status == status]

    @property
    def imported(self) -> list[RowResult]:
        return self._with("imported")

    @property
    def skipped(self) -> list[RowResult]:
        return self._with("skipped")

    @property
    def rejected(self) -> list[RowResult]:
        return self._with("rejected")

    @property
    def not_processed(self) -> int:
        """Rows left untouched because the import was cancelled or stopped."""
        return self.total - len(self.results)

    @property
    def ok(self) -> bool:
        """Every row is now in the database (imported now or before)."""
        return not self.rejected and self.not_processed == 0 and self.aborted is None

    def summary(self) -> str:
        text = (f"{len(self.imported)} imported, {len(self.skipped)} skipped (already "
                f"enrolled), {len(self.rejected)} rejected, of {self.total} row"
                f"{'' if self.total == 1 else 's'}")
        if self.not_processed:
            text += f"; {self.not_processed} not processed"
        return text + "."

    def to_text(self) -> str:
        """The report as plain text, for a terminal or a text box."""
        lines = [f"Import of {self.csv_path}: {self.summary()}"]
        if self.aborted:
            lines.append(f"The import stopped: {self.aborted}")
        if self.cancelled:
            lines.append("The import was cancelled; run it again to process the other rows.")
        lines += [f"Note: {note}" for note in self.notes]
        for title, rows in (("Rejected rows", self.rejected), ("Skipped rows", self.skipped)):
            if rows:
                lines.append(f"{title}:")
                lines += [f"  row {r.row}{_number_label(r)}: {r.reason}" for r in rows]
        warned = [r for r in self.imported if r.warnings]
        if warned:
            lines.append("Warnings:")
            lines += [f"  row {r.row}{_number_label(r)}: {w}" for r in warned for w in r.warnings]
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "csv": self.csv_path, "total": self.total, "imported": len(self.imported),
            "skipped": len(self.skipped), "rejected": len(self.rejected),
            "not_processed": self.not_processed, "cancelled": self.cancelled,
            "aborted": self.aborted, "notes": list(self.notes),
            "rows": [r.to_json() for r in self.results],
        }


def _number_label(result: RowResult) -> str:
    return f" ({result.employee_number})" if result.employee_number else ""


# --- reading the CSV ----------------------------------------------------------------------


def _decode(data: bytes) -> tuple[str, str, str | None]:
    """Return ``(text, encoding, note)``."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), "utf-16", None
        except UnicodeDecodeError as exc:
            raise ImportFileError(f"The file starts like UTF-16 text but is not ({exc}).") from None
    try:
        return data.decode("utf-8-sig"), "utf-8", None
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        raise ImportFileError(
            "The file is not text in a known encoding; save it from the spreadsheet as "
            "\"CSV UTF-8\".") from None
    return text, "cp1252", ("the file is not UTF-8; it was read as Windows-1252. If accented "
                            "names look wrong, save it as \"CSV UTF-8\" and import again.")


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip(" \t,;"):
            return line
    return ""


def _count_outside_quotes(line: str, char: str) -> int:
    count, quoted = 0, False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        elif ch == char and not quoted:
            count += 1
    return count


def _sniff_delimiter(header_line: str) -> str:
    # The header decides: column names hold no delimiters, data cells (names with commas,
    # departments with semicolons) might, so csv.Sniffer over data rows guesses worse.
    counts = {d: _count_outside_quotes(header_line, d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def _column_key(title: str) -> str:
    key = unicodedata.normalize("NFKC", title).strip().strip('"').strip().lower()
    key = key.replace(" ", "_").replace("-", "_")
    return COLUMN_ALIASES.get(key, key)


def _parse_consent(text: str) -> bool | None:
    """True, False, or None for an empty cell. Raises ValueError for anything else."""
    value = text.strip().lower()
    if not value:
        return None
    if value in CONSENT_YES:
        return True
    if value in CONSENT_NO:
        return False
    raise ValueError(value)


def read_import_csv(path: str | Path) -> ImportFile:
    """Read an import CSV into rows; malformed rows come back with a ``problem``.

    Raises:
        ImportFileError: the file cannot be read, is empty, has no header with the
            required columns, or is not CSV at all.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_CSV_BYTES:
            raise ImportFileError(f"{path} is too large ({size // 1_000_000} MB); the limit is "
                                  f"{MAX_CSV_BYTES // 1_000_000} MB. Split it into parts.")
        data = path.read_bytes()
    except FileNotFoundError:
        raise ImportFileError(f"The file {path} does not exist.") from None
    except IsADirectoryError:
        raise ImportFileError(f"{path} is a folder, not a CSV file.") from None
    except OSError as exc:
        raise ImportFileError(f"The file {path} cannot be read ({exc.strerror or exc}).") from None
    if b"\x00" in data and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ImportFileError(f"{path} is not a CSV text file (it holds binary data; a "
                              f"spreadsheet must be saved as CSV first).")
    text, encoding, note = _decode(data)
    header_line = _first_line(text)
    if not header_line:
        raise ImportFileError(f"{path} is empty: it needs a header row ("
                              f"{', '.join(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)}) and one row "
                              f"per person.")
    delimiter = _sniff_delimiter(header_line)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    notes = [note] if note else []

    header: list[str] | None = None
    header_row = 0
    rows: list[ImportRow] = []
    try:
        while True:
            start = reader.line_num + 1
            try:
                record = next(reader)
            except StopIteration:
                break
            if not any(cell.strip() for cell in record):
                continue  # blank line, or a spreadsheet's row of empty cells
            if header is None:
                header, header_row = [_column_key(c) for c in record], start
                _check_header(header, path, delimiter, notes)
                continue
            rows.append(_make_row(start, record, header))
    except csv.Error as exc:
        raise ImportFileError(f"{path} is not valid CSV near line {reader.line_num}: {exc}."
                              ) from None
    log.info("import file read: %d data rows after header row %d (%s, %r)",
             len(rows), header_row, encoding, delimiter)
    return ImportFile(rows, encoding, delimiter, notes)


def _check_header(header: list[str], path: Path, delimiter: str, notes: list[str]) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        shown = ", ".join(h for h in header if h) or "(none)"
        raise ImportFileError(
            f"{path} lacks the column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(missing)}. The first row must name the columns: "
            f"{', '.join(REQUIRED_COLUMNS)} (and optionally {', '.join(OPTIONAL_COLUMNS)}); "
            f"found: {shown} (separated by {_delimiter_name(delimiter)}).")
    repeated = sorted({h for h in header if h and header.count(h) > 1})
    if repeated:
        raise ImportFileError(f"{path} has the column {', '.join(repeated)} more than once.")
    ignored = [h for h in header if h and h not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if ignored:
        notes.append(f"columns ignored: {', '.join(ignored)}")


def _delimiter_name(delimiter: str) -> str:
    return {",": "commas", ";": "semicolons", "\t": "tabs"}[delimiter]


def _make_row(row: int, record: list[str], header: list[str]) -> ImportRow:
    problem = None
    if len(record) > len(header):
        extra = record[len(header):]
        if any(cell.strip() for cell in extra):
            problem = (f"the row has {len(record)} values but the header has {len(header)} "
                       f"columns (a name or department with a comma that is not in quotes?)")
        record = record[: len(header)]
    elif len(record) < len(header):
        problem = (f"the row has {len(record)} values but the header has {len(header)} "
                   f"columns (a missing delimiter?)")
        record = record + [""] * (len(header) - len(record))
    cells = dict(zip(header, record))
    consent: bool | None = None
    try:
        consent = _parse_consent(cells.get("consent", ""))
    except ValueError:
        problem = problem or (f"the consent column says {cells['consent'].strip()!r}; "
                              f"write yes or no")
    department = cells.get("department", "").strip() or None
    return ImportRow(row, cells["employee_number"].strip(), cells["name"], department,
                     cells["photo"].strip(), consent, problem)


# --- importing ----------------------------------------------------------------------------


ProgressCallback = Callable[[int, int, RowResult], None]
"""``progress(done, total, result)``: called after each row, on the importing thread."""


def run_import(
    enrollment: EnrollmentService,
    csv_path: str | Path,
    photos_dir: str | Path,
    *,
    consent_given: bool = False,
    force: bool = False,
    progress: ProgressCallback | None = None,
    cancel: CancelFlag | None = None,
) -> ImportReport:
    """Enroll everyone listed in a CSV file, one transaction per row.

    Args:
        enrollment: the enrollment service (its database is the one imported into).
        csv_path: the CSV file (see the module docstring for its columns).
        photos_dir: the folder the ``photo`` paths are relative to.
        consent_given: consent was collected (e.g. on paper) for every row whose
            ``consent`` cell is empty or absent. A ``no`` in the file always wins.
        force: enroll faces that look like someone already enrolled (otherwise rejected).
        progress: called after each row.
        cancel: checked before each row; when set, the import stops and the report says
            how many rows were not processed (run it again to continue).

    Returns:
        The report. Rows are never lost silently: each is imported, skipped or rejected
        with a reason, or counted as not processed.

    Raises:
        ImportFileError: the CSV file or the photo folder cannot be used (nothing imported).
    """
    photos = Path(photos_dir)
    if not photos.is_dir():
        raise ImportFileError(f"The photo folder {photos} does not exist or is not a folder.")
    parsed = read_import_csv(csv_path)
    report = ImportReport(str(csv_path), len(parsed.rows), notes=list(parsed.notes))
    first_row_of: dict[str, int] = {}
    for index, row in enumerate(parsed.rows):
        if cancel is not None and cancel.is_set():
            report.cancelled = True
            log.info("import cancelled before row %d", row.row)
            break
        result = _import_row(enrollment, row, photos, consent_given=consent_given,
                             force=force, first_row_of=first_row_of)
        report.results.append(result)
        log.info("import row %d: %s%s", row.row, result.status,
                 f" ({result.code})" if result.code else "")
        if progress is not None:
            progress(index + 1, report.total, result)
        if result.code == "database":
            report.aborted = result.reason
            break
    return report


def _rejected(row: ImportRow, code: RejectCode, reason: str) -> RowResult:
    return RowResult(row.row, row.employee_number, "rejected", code, reason)


def _import_row(enrollment: EnrollmentService, row: ImportRow, photos: Path, *,
                consent_given: bool, force: bool, first_row_of: dict[str, int]) -> RowResult:
    if row.problem is not None:
        return _rejected(row, "bad_row", f"The row cannot be read: {row.problem}.")
    if row.consent is False:
        return _rejected(row, "no_consent", "The consent column says no: the person has not "
                                            "agreed to have their face stored.")
    if row.consent is None and not consent_given:
        return _rejected(row, "no_consent",
                         "No consent recorded: the consent column is missing or empty. Write "
                         "yes in it, or state that consent was collected on paper "
                         "(--consent-given).")
    try:
        number = repo.validate_employee_number(row.employee_number)
        repo.validate_employee_name(row.name)
    except ValidationError as exc:
        return _rejected(row, "bad_details", str(exc))

    earlier = first_row_of.setdefault(number, row.row)
    if earlier != row.row:
        return _rejected(row, "duplicate_in_file",
                         f"Employee number {number!r} is already on row {earlier} of this file.")
    try:
        with enrollment.db.session() as s:
            existing = repo.get_employee_by_number(s, number).id
    except EmployeeNotFound:
        existing = None
    except DatabaseError as exc:
        return _rejected(row, "database", str(exc))
    if existing is not None:
        return _skipped(row, existing)

    if not row.photo:
        return _rejected(row, "missing_photo", "The photo column is empty.")
    photo = _resolve_photo(photos, row.photo)
    if photo is None:
        return _rejected(row, "missing_photo", f"The photo {photos / row.photo} was not found.")

    try:
        result = enrollment.enroll(
            photo, employee_number=number, name=row.name, department=row.department,
            consent=True, force=force, source="import", source_name=photo.name)
    except DuplicateEmployeeNumber:
        # Another process or window enrolled this number between our check and our insert.
        with enrollment.db.session() as s:
            return _skipped(row, repo.get_employee_by_number(s, number).id)
    except ValidationError as exc:
        return _rejected(row, "bad_details", str(exc))
    except NoFaceError as exc:
        return _rejected(row, "no_face", str(exc))
    except MultipleFacesError as exc:
        return _rejected(row, "several_faces",
                         f"The photo shows {exc.count} faces; use a photo of this person alone.")
    except PoorQualityError as exc:
        return _rejected(row, "poor_quality", str(exc))
    except DuplicateFaceError as exc:
        return _rejected(row, "duplicate_face", str(exc))
    except ImageError as exc:
        return _rejected(row, "bad_photo", str(exc))
    except DatabaseError as exc:
        return _rejected(row, "database", str(exc))
    except ConsentRequiredError as exc:  # not expected: consent was checked above
        return _rejected(row, "no_consent", str(exc))
    except TurnstileError as exc:
        return _rejected(row, "error", str(exc))
    except Exception as exc:  # noqa: BLE001 - one odd photo must not stop a 500-row import
        log.exception("import row %d failed unexpectedly", row.row)
        return _rejected(row, "error", f"Unexpected error ({type(exc).__name__}); see the log.")
    return RowResult(row.row, result.employee_number, "imported", employee_id=result.employee_id,
                     template_id=result.template_id, quality=result.quality.score,
                     warnings=tuple(result.warnings))


def _skipped(row: ImportRow, employee_id: int) -> RowResult:
    return RowResult(row.row, row.employee_number, "skipped", "already_enrolled",
                     "Already enrolled with this employee number (left unchanged).",
                     employee_id=employee_id)


def _resolve_photo(photos: Path, text: str) -> Path | None:
    candidates = [photos / text]
    if "\\" in text:  # a path written on Windows, read here
        candidates.append(photos / text.replace("\\", "/"))
    return next((p for p in candidates if p.is_file()), None)
