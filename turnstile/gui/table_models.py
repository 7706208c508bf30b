"""Qt table models of the desk: the people and the access log.

Both follow the same shape (vorta's event log model): ``COL_*`` constants, rows held as
plain dataclasses, ``set_rows()`` replacing them between ``beginResetModel`` and
``endResetModel``. They hold no database session and can be tested without any widget.

:class:`AccessLogTableModel` is lazy: it holds only the pages the view has scrolled to and
asks for the next page (``canFetchMore``/``fetchMore``) in the background, continuing after
the last row it has (keyset paging), so a million-event log opens as fast as a short one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QBrush, QColor, QPixmap

from turnstile.gui.widgets_common import format_date, format_local, jpeg_to_pixmap
from turnstile.services.access_log_query import (
    DEFAULT_PAGE_ROWS,
    EventFilter,
    EventRow,
    is_no_comparison,
)
from turnstile.services.people import PersonRow

log = logging.getLogger(__name__)

AnyIndex = QModelIndex | QPersistentModelIndex
ID_ROLE = Qt.ItemDataRole.UserRole + 2
"""Role giving the row's database id."""

THUMBNAIL_PX = 44
"""Height of a row's face thumbnail on the People page."""

STATE_COLORS = {
    "Active": QColor("#1b7f3b"),
    "Suspended": QColor("#b3261e"),
    "Expired": QColor("#9a5b00"),
    "Not valid yet": QColor("#9a5b00"),
    "No photo": QColor("#9a5b00"),
}

DECISION_LABELS = {
    "granted": "Granted",
    "denied": "Denied",
    "unknown": "Unknown face",
    "spoof": "Spoof attempt",
    "error": "Error",
}
DECISION_COLORS = {
    "granted": QColor("#1b7f3b"),
    "denied": QColor("#b3261e"),
    "unknown": QColor("#b3261e"),
    "spoof": QColor("#8e24aa"),
    "error": QColor("#6b7280"),
}


class RowsTableModel(QAbstractTableModel):
    """A table of ``self._rows`` (one object a row) under the column titles ``HEADERS``: the
    row/column counts and the header every table model here shares. Subclasses give
    ``HEADERS`` and ``data()`` and fill ``self._rows`` between begin/endResetModel."""

    HEADERS: tuple[str, ...] = ()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[Any] = []

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.HEADERS[section]
        return None


class PeopleTableModel(RowsTableModel):
    """Enrolled people, one per row, with their face thumbnail and what the door does."""

    COL_PHOTO = 0
    COL_NAME = 1
    COL_NUMBER = 2
    COL_DEPARTMENT = 3
    COL_STATUS = 4
    COL_VALID_UNTIL = 5
    COL_PHOTOS = 6
    COL_ENROLLED = 7
    HEADERS = ("Photo", "Name", "Employee no.", "Department", "Status", "Access until",
               "Photos", "Enrolled")

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[PersonRow] = []
        self._thumbs: dict[int, QPixmap] = {}
        self._now: datetime | None = None

    # -- content ---------------------------------------------------------------------------
    def set_rows(self, rows: Sequence[PersonRow], now: datetime | None = None) -> None:
        """Replace every row (``now``: the moment the status is computed for)."""
        self.beginResetModel()
        self._rows = list(rows)
        self._thumbs.clear()
        self._now = now
        self.endResetModel()

    def update_row(self, row: PersonRow) -> None:
        """Replace one person's row in place (after an edit), or add it."""
        for i, old in enumerate(self._rows):
            if old.id == row.id:
                self._rows[i] = row
                self._thumbs.pop(row.id, None)
                self.dataChanged.emit(self.index(i, 0), self.index(i, self.columnCount() - 1))
                return
        self.beginInsertRows(QModelIndex(), len(self._rows), len(self._rows))
        self._rows.append(row)
        self.endInsertRows()

    def remove_id(self, employee_id: int) -> None:
        """Drop a person's row (after deleting them)."""
        for i, old in enumerate(self._rows):
            if old.id == employee_id:
                self.beginRemoveRows(QModelIndex(), i, i)
                del self._rows[i]
                self._thumbs.pop(employee_id, None)
                self.endRemoveRows()
                return

    def row_at(self, row: int) -> PersonRow:
        return self._rows[row]

    def row_of(self, employee_id: int) -> int:
        """The row number of a person, or -1."""
        return next((i for i, r in enumerate(self._rows) if r.id == employee_id), -1)

    def rows(self) -> list[PersonRow]:
        return list(self._rows)

    @property
    def now(self) -> datetime | None:
        """The moment statuses are computed for (``None``: the current time)."""
        return self._now

    # -- QAbstractTableModel ---------------------------------------------------------------



    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        person = self._rows[index.row()]
        col = index.column()
        if role == ID_ROLE:
            return person.id
        if role == Qt.ItemDataRole.DecorationRole and col == self.COL_PHOTO:
            return self._thumbnail(person)
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(person, col)
        if role == Qt.ItemDataRole.ForegroundRole and col == self.COL_STATUS:
            color = STATE_COLORS.get(person.state(self._now))
            return QBrush(color) if color is not None else None
        if role == Qt.ItemDataRole.ToolTipRole and col == self.COL_STATUS:
            return self._status_tip(person)
        if role == Qt.ItemDataRole.TextAlignmentRole and col == self.COL_PHOTOS:
            return int(Qt.AlignmentFlag.AlignCenter)
        return None

    def _text(self, person: PersonRow, col: int) -> str:
        if col == self.COL_NAME:
            return person.name
        if col == self.COL_NUMBER:
            return person.employee_number
        if col == self.COL_DEPARTMENT:
            return person.department or ""
        if col == self.COL_STATUS:
            return person.state(self._now)
        if col == self.COL_VALID_UNTIL:
            return format_date(person.valid_until)
        if col == self.COL_PHOTOS:
            return str(person.templates)
        if col == self.COL_ENROLLED:
            return format_date(person.created_at)
        return ""

    def sort_key(self, row: int, col: int) -> Any:
        """A Python value that orders the rows of column ``col`` as people expect."""
        return self._sort_key(self._rows[row], col)

    def _sort_key(self, person: PersonRow, col: int) -> Any:
        if col in (self.COL_NAME, self.COL_PHOTO):
            return (_fold(person.name), person.id)
        if col == self.COL_NUMBER:
            # "E2" before "E10": compare the digits as numbers where there are any.
            digits = "".join(ch for ch in person.employee_number if ch.isdigit())
            return (person.employee_number.rstrip("0123456789").casefold(),
                    int(digits) if digits else -1, person.employee_number)
        if col == self.COL_DEPARTMENT:
            return _fold(person.department or "")
        if col == self.COL_STATUS:
            return person.state(self._now)
        if col == self.COL_VALID_UNTIL:
            return person.valid_until.timestamp() if person.valid_until else float("inf")
        if col == self.COL_PHOTOS:
            return person.templates
        if col == self.COL_ENROLLED:
            return person.created_at.timestamp()
        return None

    def _status_tip(self, person: PersonRow) -> str:
        state = person.state(self._now)
        return {
            "Active": "The door opens for this person.",
            "Suspended": "Suspended: the door stays shut for this person until activated.",
            "Expired": f"Access expired on {format_date(person.valid_until)}.",
            "Not valid yet": f"Access starts on {format_date(person.valid_from)}.",
            "No photo": "No face photo is stored: add one so the door can recognise them.",
        }.get(state, state)

    def _thumbnail(self, person: PersonRow) -> QPixmap | None:
        if not person.face_crop:
            return None
        pixmap = self._thumbs.get(person.id)
        if pixmap is None:
            pixmap = jpeg_to_pixmap(person.face_crop, THUMBNAIL_PX)
            self._thumbs[person.id] = pixmap
        return pixmap


class PeopleFilterProxy(QSortFilterProxyModel):
    """Sorting by :meth:`PeopleTableModel.sort_key` and a search over name, number and department
    (case- and accent-insensitive for the letters people type), plus a status filter."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._terms: list[str] = []
        self._state: str | None = None

    def set_search(self, text: str) -> None:
        self._refilter(lambda: setattr(self, "_terms", [_fold(t) for t in text.split()]))

    def set_state(self, state: str | None) -> None:
        """Only people in this state (``"Active"``, ``"Suspended"``...), or all."""
        self._refilter(lambda: setattr(self, "_state", state))

    def _refilter(self, change: Callable[[], None]) -> None:
        if hasattr(self, "beginFilterChange"):  # Qt >= 6.9; invalidateFilter is deprecated
            self.beginFilterChange()
            change()
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            change()
            self.invalidateFilter()

    def lessThan(self, left: AnyIndex, right: AnyIndex) -> bool:  # noqa: N802 (Qt name)
        # Compared in Python: tuple keys (natural number order) do not survive QVariant.
        model = self.sourceModel()
        if not isinstance(model, PeopleTableModel):
            return super().lessThan(left, right)
        return bool(model.sort_key(left.row(), left.column())
                    < model.sort_key(right.row(), right.column()))

    def filterAcceptsRow(self, source_row: int, source_parent: AnyIndex) -> bool:  # noqa: N802
        model = self.sourceModel()
        if not isinstance(model, PeopleTableModel):
            return True
        person = model.row_at(source_row)
        if self._state is not None and person.state(model.now) != self._state:
            return False
        if not self._terms:
            return True
        haystack = _fold(" ".join((person.name, person.employee_number,
                                   person.department or "")))
        return all(term in haystack for term in self._terms)


def _fold(text: str) -> str:
    import unicodedata

    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


# --- the access log -----------------------------------------------------------------------


PageFetcher = Callable[[EventFilter | None, tuple[datetime, int] | None, int], list[EventRow]]
"""``fetch(filter, after_key, limit)``: one page of events, newest first (runs in the
background)."""
Runner = Callable[[Callable[[], Any], Callable[[Any], None], Callable[[BaseException], None]],
                  None]
"""How a fetch is run: ``run(fn, on_result, on_error)`` (default: the thread pool)."""


class AccessLogTableModel(RowsTableModel):
    """Access events, newest first, loaded a page at a time as the view scrolls.

    Signals:
        rows_loaded(int): a page arrived (the number of rows now held).
        load_failed(object): a page could not be read (the exception).
    """

    # What was decided comes right after when and who, so it stays in view in a narrow
    # window; the details, of any length, come last and take the room that is left.
    COL_TIME = 0
    COL_PERSON = 1
    COL_DECISION = 2
    COL_SCORE = 3
    COL_LIVENESS = 4
    COL_DOOR = 5
    COL_REASON = 6
    HEADERS = ("Time", "Person", "Decision", "Score", "Liveness", "Door", "Details")

    rows_loaded = Signal(int)
    load_failed = Signal(object)

    def __init__(self, fetch: PageFetcher, runner: Runner | None = None,
                 page_rows: int = DEFAULT_PAGE_ROWS, parent: Any = None) -> None:
        super().__init__(parent)
        if runner is None:
            from turnstile.gui.tasks import run_task

            runner = run_task
        self._fetch = fetch
        self._run = runner
        self.page_rows = page_rows
        self._rows: list[EventRow] = []
        self._filter: EventFilter | None = None
        self._generation = 0
        self._loading = False
        self._exhausted = True

    # -- content ---------------------------------------------------------------------------
    def set_rows(self, rows: Sequence[EventRow]) -> None:
        """Replace every row (no further pages are fetched)."""
        self._generation += 1
        self.beginResetModel()
        self._rows = list(rows)
        self._loading = False
        self._exhausted = True
        self.endResetModel()

    def set_filter(self, flt: EventFilter | None) -> None:
        """Show the events matching ``flt``: clears the rows and loads the first page."""
        self._generation += 1
        self.beginResetModel()
        self._rows = []
        self._filter = flt
        self._loading = False
        self._exhausted = True  # views asking from inside the reset get nothing yet
        self.endResetModel()
        self._exhausted = False
        self._request()

    def reload(self) -> None:
        """Read the first page again (new events arrive at the top)."""
        self.set_filter(self._filter)

    @property
    def filter(self) -> EventFilter | None:
        return self._filter

    @property
    def loading(self) -> bool:
        return self._loading

    @property
    def exhausted(self) -> bool:
        """Every matching event is loaded."""
        return self._exhausted

    def row_at(self, row: int) -> EventRow:
        return self._rows[row]

    def _request(self) -> None:
        if self._loading or self._exhausted:
            return
        self._loading = True
        generation = self._generation
        flt = self._filter
        after = self._rows[-1].key if self._rows else None
        limit = self.page_rows
        self._run(lambda: self._fetch(flt, after, limit),
                  lambda rows: self._on_page(generation, rows),
                  lambda exc: self._on_error(generation, exc))

    def _on_page(self, generation: int, rows: list[EventRow]) -> None:
        if generation != self._generation:
            return  # the filter changed while this page was read: drop it
        if len(rows) < self.page_rows:
            self._exhausted = True
        if rows:
            first = len(self._rows)
            self.beginInsertRows(QModelIndex(), first, first + len(rows) - 1)
            self._rows.extend(rows)
            self.endInsertRows()
        # Still "loading" while the views react to the insertion: a view asking for the next
        # page from inside rowsInserted must wait for this one to be complete.
        self._loading = False
        self.rows_loaded.emit(len(self._rows))

    def _on_error(self, generation: int, exc: BaseException) -> None:
        if generation != self._generation:
            return
        self._loading = False
        self._exhausted = True
        self.load_failed.emit(exc)

    # -- QAbstractTableModel ---------------------------------------------------------------


    def canFetchMore(self, parent: AnyIndex = QModelIndex()) -> bool:  # noqa: B008, N802
        return not parent.isValid() and not self._exhausted and not self._loading

    def fetchMore(self, parent: AnyIndex = QModelIndex()) -> None:  # noqa: B008, N802
        if not parent.isValid():
            self._request()


    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        event = self._rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(event, col)
        if role == ID_ROLE:
            return event.id
        if role == Qt.ItemDataRole.ForegroundRole and col == self.COL_DECISION:
            color = DECISION_COLORS.get(event.decision)
            return QBrush(color) if color is not None else None
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (self.COL_SCORE,
                                                                 self.COL_LIVENESS):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole and col == self.COL_REASON and event.reason:
            return event.reason
        if role == Qt.ItemDataRole.ToolTipRole and col == self.COL_SCORE:
            return score_tooltip(event)
        return None

    def _text(self, event: EventRow, col: int) -> str:
        if col == self.COL_TIME:
            return format_local(event.at)
        if col == self.COL_DOOR:
            return event.door_name
        if col == self.COL_PERSON:
            return person_label(event)
        if col == self.COL_DECISION:
            return DECISION_LABELS.get(event.decision, event.decision)
        if col == self.COL_SCORE:
            if is_no_comparison(event.score):
                return NO_COMPARISON_TEXT
            return "" if event.score is None else f"{event.score:.4f}"
        if col == self.COL_LIVENESS:
            return "" if event.liveness_score is None else f"{event.liveness_score:.2f}"
        if col == self.COL_REASON:
            return event.reason or ""
        return ""


NO_COMPARISON_TEXT = "none"
"""The score cell of a face there was nobody to compare with (the score recorded is -1)."""


def score_tooltip(event: EventRow) -> str | None:
    """Why a score cell says what it says, or ``None``."""
    if is_no_comparison(event.score):
        return f"No score: {no_comparison_reason(event)}."
    if event.score is None or event.threshold is None:
        return None
    return f"Similarity {event.score:.4f}; the door needed {event.threshold:.4f}."


def no_comparison_reason(event: EventRow) -> str:
    """Why an event has no score: there was nobody to compare the face with."""
    if event.employee_id is not None:
        return "no stored face of this person to compare with"
    return "nobody enrolled to compare with"


def person_label(event: EventRow) -> str:
    """Who an event is about, in words."""
    if event.employee_name is not None:
        return f"{event.employee_name} ({event.employee_number})"
    if event.decision == "unknown":
        return "Unknown person"
    if event.decision in ("granted", "denied"):
        return "(person deleted)"
    return "—"
