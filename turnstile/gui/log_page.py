"""The Access log page: every decision taken at the doors, filtered by period, person,
decision and door, with the camera snapshot of the selected event, a chart of granted and
denied passages per hour of the day or per day, and a CSV export of what is shown.

The table model reads a page of events at a time in the background (keyset paging), the
count and the chart are computed by the database in the background too, so the page opens
and filters in milliseconds whatever the size of the log; every answer carries the filter
generation it was asked for, and stale answers are dropped. The page reads the log again
each time it is opened, so what it shows is never older than the visit.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QDate,
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QKeySequence, QPalette, QShortcut, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QCompleter,
    QDateEdit,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QScrollArea,
    QSplitter,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from turnstile.app import AppContext
from turnstile.gui.charts import ChartData, DecisionChart
from turnstile.gui.dialogs import error_text
from turnstile.gui.table_models import (
    DECISION_LABELS,
    NO_COMPARISON_TEXT,
    AccessLogTableModel,
    no_comparison_reason,
    person_label,
)
from turnstile.gui.tasks import run_task
from turnstile.gui.widgets_common import (
    MessageLabel,
    PhotoView,
    fixed_width,
    format_local,
    jpeg_to_image,
    section_title,
)
from turnstile.gui.widgets_tasks import ProgressFn, ProgressJob
from turnstile.services import access_log_query as q
from turnstile.services.access_log_export import ExportResult, export_access_log_csv

log = logging.getLogger(__name__)

FILTER_DELAY_MS = 250
"""Typing in a filter waits this long for the next key before querying."""

PERIODS = ("Today", "Yesterday", "Last 7 days", "Last 30 days", "Last 12 months", "All time",
           "Chosen dates")
DEFAULT_PERIOD = "Last 7 days"
CUSTOM_PERIOD = "Chosen dates"

DECISION_FILTERS: tuple[tuple[str, tuple[str, ...] | None], ...] = (
    ("All decisions", None),
    ("Granted", ("granted",)),
    ("Refused (all)", q.REFUSED_DECISIONS),
    ("Denied (known person)", ("denied",)),
    ("Unknown face", ("unknown",)),
    ("Spoof attempt", ("spoof",)),
    ("Error", ("error",)),
)

CHART_BY_HOUR = "By hour of the day"
CHART_BY_DAY = "By day"

CELL_PADDING_PX = 16
"""Room around a table cell's text (the style's margins and the grid line)."""
ROW_PADDING_PX = 10
"""A table row is this much taller than a line of text."""
PERSON_COLUMN_SAMPLE = "Alexandra Johnson (E1001)"
DOOR_COLUMN_SAMPLE = "Main entrance"
"""The name columns are as wide as these (longer names are elided, in full on hover and
in the details of the selected event)."""
PERSON_FILTER_SAMPLE = "Alexandra Johnson"
DOOR_FILTER_SAMPLE = "All doors"
"""The person and door filters shrink no narrower than these (with their arrow)."""
DETAILS_MIN_WIDTH_PX = 250
DETAILS_WIDTH_PX = 300
DETAILS_MAX_WIDTH_PX = 400
"""Widths of the panel of the selected event (it starts at the middle one)."""
SNAPSHOT_MIN_WIDTH_PX = 200
SNAPSHOT_MIN_HEIGHT_PX = 110

NO_FACE_PICTURE = ("No face picture for this event: it records a camera or door problem, "
                   "not a face at the door.")
NO_SNAPSHOT_KEPT = ("No snapshot was kept for this event (see the snapshot policy in "
                    "Settings).")


class ReadableSelectionDelegate(QStyledItemDelegate):
    """Draws the text of a selected row in the palette's highlighted-text colour.

    The access log colours its decisions (red, green, purple, grey); some styles keep that
    colour on the selection's background, where red on blue is hard to read.
    """

    def initStyleOption(self, option: QStyleOptionViewItem,  # noqa: N802 (Qt name)
                        index: QModelIndex | QPersistentModelIndex) -> None:
        super().initStyleOption(option, index)
        if option.state & QStyle.StateFlag.State_Selected:
            palette = option.palette
            for group in (QPalette.ColorGroup.Active, QPalette.ColorGroup.Inactive):
                palette.setBrush(group, QPalette.ColorRole.Text,
                                 palette.brush(group, QPalette.ColorRole.HighlightedText))
            option.palette = palette


@dataclass(frozen=True)
class ChartResult:
    generation: int
    mode: str
    data: ChartData
    title: str


def period_dates(period: str, today: date | None = None) -> tuple[date | None, date | None]:
    """The first and last local day of a named period (``None``: no bound)."""
    today = today or date.today()
    if period == "Today":
        return today, today
    if period == "Yesterday":
        day = today - timedelta(days=1)
        return day, day
    if period == "Last 7 days":
        return today - timedelta(days=6), today
    if period == "Last 30 days":
        return today - timedelta(days=29), today
    if period == "Last 12 months":
        return today - timedelta(days=364), today
    return None, None


def score_details(event: q.EventRow) -> str:
    """The score of an event as the details panel says it: the similarity, what the door
    needed, and which face model measured both (each model has its own scale)."""
    if q.is_no_comparison(event.score):
        return f"{NO_COMPARISON_TEXT}: {no_comparison_reason(event)}"
    if event.score is None:
        return "-"
    text = f"{event.score:.4f}"
    if event.threshold is not None:
        text += f" (needed {event.threshold:.4f})"
    model = q.scoring_model_name(event.model_id)
    if model:
        text += f"\nby {model}"
    return text


class AccessLogPage(QWidget):
    """The access log.

    Signals:
        rows_loaded(int): a page of events is in the table (number of rows held).
        count_ready(int): the number of events matching the filter is known.
        chart_ready(): the chart was drawn for the current filter.
        export_finished(object): an export ended (an ``ExportResult``) or failed (the
            exception).
    """

    title = "Access log"

    rows_loaded = Signal(int)
    count_ready = Signal(int)
    chart_ready = Signal()
    export_finished = Signal(object)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None, **kwargs: object) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.model = AccessLogTableModel(self._fetch_page, parent=self)
        self.model.rows_loaded.connect(self._rows_loaded)
        self.model.load_failed.connect(self._load_failed)
        self.count_known = False
        self.chart_busy = False
        self.count: int | None = None
        self._generation = 0
        self._snapshot_seq = 0
        self.snapshot_shown = False
        self.export_job: ProgressJob | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(FILTER_DELAY_MS)
        self._timer.timeout.connect(self.apply_filter)
        self._build()
        # Nothing is read yet: the page reads the log each time it is shown (showEvent),
        # so that it never shows the log as it was when the application started.

    # -- layout ----------------------------------------------------------------------------
    def _build(self) -> None:
        # Everything here must fit the window's smallest size (1024 x 640, the page gets
        # about 844 x 618 of it) without a widget squeezed under its minimum: the filters
        # take two rows, the combo boxes whose items are names have a bounded minimum, and
        # the details of the selected event scroll rather than overlap when they are long.
        root = QVBoxLayout(self)
        root.setContentsMargins(12, 10, 12, 8)
        root.setSpacing(8)
        root.addLayout(self._filter_bar())

        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setItemDelegate(ReadableSelectionDelegate(self.table))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(
            self.table.fontMetrics().height() + ROW_PADDING_PX)
        header = self.table.horizontalHeader()
        header.setHighlightSections(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)  # the details take the room that is left
        header.setMinimumSectionSize(header.fontMetrics().horizontalAdvance("Details")
                                     + CELL_PADDING_PX)
        # The stretched last column shrinks no narrower than the default size: let it
        # shrink to its minimum rather than push a scroll bar in.
        header.setDefaultSectionSize(header.minimumSectionSize())
        for col, width in self._column_widths().items():
            self.table.setColumnWidth(col, width)
        self.table.selectionModel().currentRowChanged.connect(self._current_changed)

        details = QFrame()
        details.setFrameShape(QFrame.Shape.StyledPanel)
        details.setMinimumWidth(DETAILS_MIN_WIDTH_PX)
        details.setMaximumWidth(DETAILS_MAX_WIDTH_PX)
        outer = QVBoxLayout(details)
        outer.setContentsMargins(1, 1, 1, 1)
        self.details_scroll = QScrollArea()
        self.details_scroll.setWidgetResizable(True)
        self.details_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.details_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        outer.addWidget(self.details_scroll)
        inner = QWidget()
        dlayout = QVBoxLayout(inner)
        dlayout.setContentsMargins(9, 9, 9, 9)
        dlayout.addWidget(section_title("Selected event"))
        self.snapshot_view = PhotoView("Select an event to see its camera snapshot.")
        self.snapshot_view.setAcceptDrops(False)
        self.snapshot_view.setMinimumSize(SNAPSHOT_MIN_WIDTH_PX, SNAPSHOT_MIN_HEIGHT_PX)
        dlayout.addWidget(self.snapshot_view, 1)
        self.detail_form = QFormLayout()
        self.detail_form.setHorizontalSpacing(10)
        self.detail_form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.DontWrapRows)
        self._details: dict[str, QLabel] = {}
        for key in ("Time", "Person", "Decision", "Score", "Liveness", "Door", "Details"):
            value = QLabel()
            value.setWordWrap(True)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.detail_form.addRow(f"{key}:", value)
            self._details[key] = value
        dlayout.addLayout(self.detail_form)
        self.details_scroll.setWidget(inner)

        top = QSplitter(Qt.Orientation.Horizontal)
        top.addWidget(self.table)
        top.addWidget(details)
        top.setStretchFactor(0, 1)
        top.setCollapsible(0, False)
        top.setCollapsible(1, False)
        top.setSizes([800, DETAILS_WIDTH_PX])

        chart_box = QWidget()
        clayout = QVBoxLayout(chart_box)
        clayout.setContentsMargins(0, 4, 0, 0)
        chart_bar = QHBoxLayout()
        chart_bar.addWidget(section_title("Passages"))
        chart_bar.addStretch(1)
        self.chart_mode = QComboBox()
        self.chart_mode.addItems([CHART_BY_DAY, CHART_BY_HOUR])
        self.chart_mode.currentTextChanged.connect(lambda _t: self._load_chart())
        chart_bar.addWidget(self.chart_mode)
        clayout.addLayout(chart_bar)
        self.chart = DecisionChart()
        clayout.addWidget(self.chart, 1)

        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(top)
        splitter.addWidget(chart_box)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        splitter.setCollapsible(0, False)
        splitter.setCollapsible(1, False)
        splitter.setSizes([430, 200])
        root.addWidget(splitter, 1)

        bottom = QHBoxLayout()
        self.count_label = QLabel()
        self.message = MessageLabel()
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip("Read the newest events (F5)")
        self.refresh_button.clicked.connect(self.refresh)
        QShortcut(QKeySequence(Qt.Key.Key_F5), self, activated=self.refresh)
        self.export_button = QPushButton("Export CSV...")
        self.export_button.setToolTip("Save the events shown (all pages) as a CSV file")
        self.export_button.clicked.connect(self._choose_export_file)
        fixed_width(self.refresh_button, self.export_button)
        bottom.addWidget(self.count_label)
        bottom.addSpacing(16)
        bottom.addWidget(self.message, 1)
        bottom.addStretch(0)
        bottom.addWidget(self.refresh_button)
        bottom.addWidget(self.export_button)
        root.addLayout(bottom)

    def _column_widths(self) -> dict[int, int]:
        """Widths that fit what each column shows, in this font."""
        cell = self.table.fontMetrics()
        head = self.table.horizontalHeader().fontMetrics()
        col = AccessLogTableModel

        def fit(column: int, *texts: str) -> int:
            widest = max([cell.horizontalAdvance(t) for t in texts]
                         + [head.horizontalAdvance(col.HEADERS[column])])
            return widest + CELL_PADDING_PX

        sample_time = format_local(datetime(2000, 12, 28, 23, 58, 58).astimezone())
        return {
            col.COL_TIME: fit(col.COL_TIME, sample_time),
            col.COL_PERSON: fit(col.COL_PERSON, PERSON_COLUMN_SAMPLE),
            col.COL_DECISION: fit(col.COL_DECISION, *DECISION_LABELS.values()),
            col.COL_SCORE: fit(col.COL_SCORE, "0.0000", NO_COMPARISON_TEXT),
            col.COL_LIVENESS: fit(col.COL_LIVENESS, "0.00"),
            col.COL_DOOR: fit(col.COL_DOOR, DOOR_COLUMN_SAMPLE),
        }

    def _filter_bar(self) -> QVBoxLayout:
        self.period_combo = QComboBox()
        self.period_combo.addItems(PERIODS)
        self.period_combo.setCurrentText(DEFAULT_PERIOD)
        self.period_combo.currentTextChanged.connect(self._period_changed)
        self.from_date = QDateEdit()
        self.to_date = QDateEdit()
        for edit in (self.from_date, self.to_date):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
            edit.dateChanged.connect(self._dates_edited)
        self.person_combo = QComboBox()
        self.person_combo.setEditable(True)
        self.person_combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.person_combo.addItem("Everyone", None)
        completer = self.person_combo.completer()
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        completer.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
        self.person_combo.currentIndexChanged.connect(self._schedule)
        self.person_combo.lineEdit().editingFinished.connect(self._person_typed)
        # "Everyone" is a choice, not text to type after: clicking into the box selects it,
        # so typing a name replaces it.
        self.person_combo.lineEdit().installEventFilter(self)
        self.decision_combo = QComboBox()
        for label, decisions in DECISION_FILTERS:
            self.decision_combo.addItem(label, decisions)
        self.decision_combo.currentIndexChanged.connect(self._schedule)
        self.door_combo = QComboBox()
        self.door_combo.addItem("All doors", None)
        self.door_combo.currentIndexChanged.connect(self._schedule)
        # Names of people and doors can be of any length: their boxes take the width of
        # the longest name when there is room, but a long name must not push the page
        # past the window, so their minimum is a name of ordinary length.
        for combo, sample in ((self.person_combo, PERSON_FILTER_SAMPLE),
                              (self.door_combo, DOOR_FILTER_SAMPLE)):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
            arrow_px = combo.sizeHint().width() - combo.fontMetrics().horizontalAdvance(
                combo.itemText(0))
            combo.setMinimumWidth(combo.fontMetrics().horizontalAdvance(sample) + arrow_px)
        self.reset_button = QPushButton("Reset")
        self.reset_button.setToolTip("Show every event of the last 7 days")
        self.reset_button.clicked.connect(self.reset_filters)
        fixed_width(self.reset_button)

        # The two rows start with their boxes one above the other.
        period_label, person_title = QLabel("Period:"), QLabel("Person:")
        first_column_px = max(period_label.sizeHint().width(), person_title.sizeHint().width())
        period_label.setMinimumWidth(first_column_px)
        person_title.setMinimumWidth(first_column_px)
        when = QHBoxLayout()
        when.setSpacing(6)
        when.addWidget(period_label)
        when.addWidget(self.period_combo)
        when.addSpacing(4)
        when.addWidget(self.from_date)
        when.addWidget(QLabel("to"))
        when.addWidget(self.to_date)
        when.addStretch(1)
        when.addWidget(self.reset_button)
        what = QHBoxLayout()
        what.setSpacing(6)
        what.addWidget(person_title)
        what.addWidget(self.person_combo, 1)
        what.addSpacing(10)
        what.addWidget(QLabel("Decision:"))
        what.addWidget(self.decision_combo)
        what.addSpacing(10)
        what.addWidget(QLabel("Door:"))
        what.addWidget(self.door_combo)
        bar = QVBoxLayout()
        bar.setSpacing(6)
        bar.addLayout(when)
        bar.addLayout(what)
        self._set_dates_for_period(DEFAULT_PERIOD)
        return bar

    # -- filter ----------------------------------------------------------------------------
    def _set_dates_for_period(self, period: str) -> None:
        first, last = period_dates(period)
        for edit, day in ((self.from_date, first), (self.to_date, last)):
            edit.blockSignals(True)
            if day is not None:
                edit.setDate(QDate(day.year, day.month, day.day))
            edit.blockSignals(False)
        custom_or_bounded = period != "All time"
        self.from_date.setEnabled(custom_or_bounded)
        self.to_date.setEnabled(custom_or_bounded)

    def _period_changed(self, period: str) -> None:
        if period != CUSTOM_PERIOD:
            self._set_dates_for_period(period)
        self.chart_mode.blockSignals(True)
        self.chart_mode.setCurrentText(CHART_BY_HOUR if period in ("Today", "Yesterday")
                                       else CHART_BY_DAY)
        self.chart_mode.blockSignals(False)
        self._schedule()

    def _dates_edited(self) -> None:
        if self.period_combo.currentText() != CUSTOM_PERIOD:
            self.period_combo.blockSignals(True)
            self.period_combo.setCurrentText(CUSTOM_PERIOD)
            self.period_combo.blockSignals(False)
        self._schedule()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        if watched is self.person_combo.lineEdit() and event.type() in (
                QEvent.Type.FocusIn, QEvent.Type.MouseButtonRelease) \
                and self.person_combo.currentIndex() == 0:
            QTimer.singleShot(0, self.person_combo.lineEdit().selectAll)
        return super().eventFilter(watched, event)

    def _person_typed(self) -> None:
        # Text typed that is nobody's name: back to everyone rather than a stale person.
        text = self.person_combo.currentText().strip()
        if not text:
            self.person_combo.setCurrentIndex(0)
        elif self.person_combo.findText(text) < 0:
            self.person_combo.setCurrentIndex(0)
            self.message.warning(f"No enrolled person matches {text!r}; showing everyone.")

    def _schedule(self, *args: Any) -> None:
        self._timer.start()

    def current_filter(self) -> q.EventFilter:
        """The filter the widgets describe."""
        start = end = None
        if self.period_combo.currentText() != "All time":
            first = self.from_date.date().toPython()
            last = self.to_date.date().toPython()
            if last < first:
                first, last = last, first
            start, end = q.local_day_range(first, last)
        person = self.person_combo.currentData()
        decisions = self.decision_combo.currentData()
        door = self.door_combo.currentData()
        return q.EventFilter(start=start, end=end,
                             employee_id=int(person) if person is not None else None,
                             decisions=list(decisions) if decisions else None,
                             door_id=int(door) if door is not None else None)

    def set_filter(self, *, period: str | None = None, first: date | None = None,
                   last: date | None = None, employee_id: int | None = None,
                   decisions: list[str] | tuple[str, ...] | None = None,
                   door_id: int | None = None) -> None:
        """Set the filter widgets and apply them at once.

        Args:
            period: one of :data:`PERIODS` (``first``/``last`` imply chosen dates).
            employee_id, door_id: must be in the lists (else "everyone"/"all doors").
            decisions: one of the decision sets of :data:`DECISION_FILTERS`.
        """
        for widget in (self.period_combo, self.from_date, self.to_date, self.person_combo,
                       self.decision_combo, self.door_combo):
            widget.blockSignals(True)
        try:
            if first is not None or last is not None:
                self.period_combo.setCurrentText(CUSTOM_PERIOD)
                self._set_dates_for_period(CUSTOM_PERIOD)
                if first is not None:
                    self.from_date.setDate(QDate(first.year, first.month, first.day))
                if last is not None:
                    self.to_date.setDate(QDate(last.year, last.month, last.day))
            elif period is not None:
                self.period_combo.setCurrentText(period)
                self._set_dates_for_period(period)
            self.person_combo.setCurrentIndex(max(0, self.person_combo.findData(employee_id))
                                              if employee_id is not None else 0)
            wanted = tuple(decisions) if decisions else None
            index = next((i for i, (_l, d) in enumerate(DECISION_FILTERS)
                          if (d is None and wanted is None)
                          or (d is not None and wanted is not None and set(d) == set(wanted))),
                         0)
            self.decision_combo.setCurrentIndex(index)
            self.door_combo.setCurrentIndex(max(0, self.door_combo.findData(door_id))
                                            if door_id is not None else 0)
        finally:
            for widget in (self.period_combo, self.from_date, self.to_date, self.person_combo,
                           self.decision_combo, self.door_combo):
                widget.blockSignals(False)
        self.apply_filter()

    def reset_filters(self) -> None:
        self.set_filter(period=DEFAULT_PERIOD)

    def apply_filter(self) -> None:
        """Query the table, the count and the chart for the current filter."""
        self._timer.stop()
        self._generation += 1
        flt = self.current_filter()
        self.count_known = False
        self.count = None
        self.count_label.setText("Counting...")
        self.message.clear_message()
        self._clear_details()
        self.model.set_filter(flt)
        generation = self._generation
        run_task(lambda: q.count_events(self.ctx.db, flt),
                 lambda n: self._count_done(generation, n),
                 lambda exc: self._count_failed(generation, exc))
        self._load_chart()

    def _fetch_page(self, flt: q.EventFilter | None, after: tuple[datetime, int] | None,
                    limit: int) -> list[q.EventRow]:
        return q.fetch_events(self.ctx.db, flt, limit=limit, after=after)

    def _rows_loaded(self, rows: int) -> None:
        if self.count_known and self.count is not None:
            self._show_count()
        self.rows_loaded.emit(rows)

    def _load_failed(self, exc: BaseException) -> None:
        self.message.error(f"The access log could not be read: {error_text(exc)}")
        self.rows_loaded.emit(self.model.rowCount())

    def _count_done(self, generation: int, count: int) -> None:
        if generation != self._generation:
            return
        self.count = count
        self.count_known = True
        self._show_count()
        self.count_ready.emit(count)

    def _count_failed(self, generation: int, exc: BaseException) -> None:
        if generation != self._generation:
            return
        self.count_known = True
        self.count_label.setText("")
        self.message.error(f"The events could not be counted: {error_text(exc)}")
        self.count_ready.emit(-1)

    def _show_count(self) -> None:
        count = self.count or 0
        self.count_label.setText(f"{count:,} event{'s' if count != 1 else ''}")
        self.export_button.setEnabled(count > 0 and self.export_job is None)

    # -- chart -----------------------------------------------------------------------------
    def _load_chart(self) -> None:
        flt = self.model.filter
        generation = self._generation
        mode = self.chart_mode.currentText()
        self.chart_busy = True
        self.chart.set_message("Counting...")
        db = self.ctx.db

        def work() -> ChartResult:
            if mode == CHART_BY_HOUR:
                counts = q.hour_of_day_counts(db, flt)
                return ChartResult(generation, mode,
                                   ChartData.per_hour_of_day(counts.granted, counts.denied,
                                                             counts.errors),
                                   "per hour of the day, local time")
            days = q.decision_counts(db, flt, bucket="day")
            return ChartResult(generation, mode,
                               ChartData.per_day(days.starts, days.granted, days.denied,
                                                 days.errors),
                               "per day")

        run_task(work, self._chart_done, lambda exc: self._chart_failed(generation, exc))

    def _chart_done(self, result: ChartResult) -> None:
        if result.generation != self._generation or result.mode != self.chart_mode.currentText():
            return
        self.chart_busy = False
        self.chart.set_data(result.data, result.title)
        self.chart_ready.emit()

    def _chart_failed(self, generation: int, exc: BaseException) -> None:
        if generation != self._generation:
            return
        self.chart_busy = False
        self.chart.set_message(f"The chart could not be drawn: {error_text(exc)}")
        self.chart_ready.emit()

    # -- lists of people and doors ---------------------------------------------------------
    def _load_choices(self) -> None:
        db = self.ctx.db
        run_task(lambda: (q.person_choices(db), q.door_choices(db)), self._set_choices,
                 lambda exc: log.warning("filter lists not loaded: %s", exc))

    def _set_choices(self, choices: tuple[list[q.Choice], list[q.Choice]]) -> None:
        people, doors = choices
        for combo, items, first in ((self.person_combo, people, "Everyone"),
                                    (self.door_combo, doors, "All doors")):
            current = combo.currentData()
            combo.blockSignals(True)
            combo.clear()
            combo.addItem(first, None)
            for choice in items:
                combo.addItem(choice.label, choice.id)
            index = combo.findData(current) if current is not None else 0
            combo.setCurrentIndex(max(0, index))
            combo.blockSignals(False)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        # Each time the page is opened (not when the window comes back from the task bar,
        # which would lose the row being looked at): events arrived, people were enrolled.
        if not event.spontaneous():
            self.refresh()

    def refresh(self) -> None:
        """Read the lists of people and doors and the newest events again, in the
        background; a named period ("Last 7 days") is moved to end today."""
        self._load_choices()
        period = self.period_combo.currentText()
        if period != CUSTOM_PERIOD:
            self._set_dates_for_period(period)
        self.apply_filter()

    # -- details of the selected event -----------------------------------------------------
    def _clear_details(self) -> None:
        self._snapshot_seq += 1
        self.snapshot_view.placeholder = "Select an event to see its camera snapshot."
        self.snapshot_view.clear_image()
        for value in self._details.values():
            value.setText("")

    def _current_changed(self, current: QModelIndex, previous: QModelIndex) -> None:
        if not current.isValid():
            self._clear_details()
            return
        event = self.model.row_at(current.row())
        values = {
            "Time": format_local(event.at),
            "Door": event.door_name,
            "Person": person_label(event),
            "Decision": DECISION_LABELS.get(event.decision, event.decision),
            "Score": score_details(event),
            "Liveness": "-" if event.liveness_score is None else f"{event.liveness_score:.2f}",
            "Details": event.reason or "-",
        }
        for key, text in values.items():
            self._details[key].setText(text)
        self._snapshot_seq += 1
        seq = self._snapshot_seq
        if not event.has_snapshot:
            self.snapshot_view.placeholder = (NO_FACE_PICTURE if event.decision == q.ERROR
                                              else NO_SNAPSHOT_KEPT)
            self.snapshot_view.clear_image()
            return
        self.snapshot_view.placeholder = "Loading the snapshot..."
        self.snapshot_view.clear_image()
        run_task(lambda: q.event_snapshot(self.ctx.db, event.id),
                 lambda data: self._snapshot_loaded(seq, data),
                 lambda exc: self._snapshot_loaded(seq, None))

    def _snapshot_loaded(self, seq: int, data: bytes | None) -> None:
        if seq != self._snapshot_seq:
            return
        image = jpeg_to_image(data)
        if image.isNull():
            self.snapshot_view.placeholder = "The snapshot could not be shown."
            self.snapshot_view.clear_image()
        else:
            self.snapshot_view.set_image(image)
        self.snapshot_shown = not image.isNull()

    # -- export ----------------------------------------------------------------------------
    def _choose_export_file(self) -> None:
        stamp = datetime.now().strftime("%Y-%m-%d")
        path, _ = QFileDialog.getSaveFileName(self, "Export the access log",
                                              str(Path.home() / f"access-log-{stamp}.csv"),
                                              "CSV files (*.csv)")
        if path:
            if not path.lower().endswith(".csv"):
                path += ".csv"
            self.export_csv(path)

    def export_csv(self, path: str | Path) -> ProgressJob:
        """Export the events matching the current filter to ``path`` in the background."""
        flt = self.model.filter
        db = self.ctx.db

        def work(progress: ProgressFn, cancel: threading.Event) -> ExportResult:
            return export_access_log_csv(
                db, path, flt, newest_first=True, cancel=cancel,
                progress=lambda done, total: progress(done, total,
                                                      f"{done:,} of {total:,} events"))

        job = ProgressJob(self, "Exporting the access log", "Exporting the access log...",
                          work)
        job.finished.connect(self._export_done)
        job.failed.connect(self._export_failed)
        self.export_job = job
        self.export_button.setEnabled(False)
        return job.start()

    def _export_done(self, result: ExportResult) -> None:
        self.export_job = None
        self.export_button.setEnabled(True)
        if result.cancelled:
            self.message.warning("Export cancelled: no file was written.")
        else:
            self.message.success(f"{result.rows:,} events exported to {result.path}.")
            self.ctx.audit("export", f"file {Path(str(result.path)).name}",
                           f"desktop app; access log, {result.rows} events")
        self.export_finished.emit(result)

    def _export_failed(self, exc: BaseException) -> None:
        self.export_job = None
        self.export_button.setEnabled(True)
        self.message.error(f"Export failed: {error_text(exc)}")
        self.export_finished.emit(exc)

    def shutdown(self) -> None:
        """Stop waiting for filters (the window is closing)."""
        self._timer.stop()
        if self.export_job is not None:
            self.export_job.cancel()
