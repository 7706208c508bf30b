"""The Access log page: every decision taken at the doors, filtered by period, person,
decision and door, with the camera snapshot of the selected event, a chart of granted and
denied passages per hour of the day or per day, and a CSV export of what is shown.

The table model reads a page of events at a time in the background (keyset paging), the
count and the chart are computed by the database in the background too, so the page opens
and filters in milliseconds whatever the size of the log; every answer carries the filter
generation it was asked for, and stale answers are dropped.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from PySide6.QtCore import QDate, QModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut, QShowEvent
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
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from turnstile.app import AppContext
from turnstile.gui.charts import ChartData, DecisionChart
from turnstile.gui.dialogs import error_text
from turnstile.gui.table_models import DECISION_LABELS, AccessLogTableModel, person_label
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
        self._shown_before = False
        self.snapshot_shown = False
        self.export_job: ProgressJob | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(FILTER_DELAY_MS)
        self._timer.timeout.connect(self.apply_filter)
        self._build()
        self._load_choices()
        # The first page is read as soon as the page exists: it is ready when first shown.
        self.apply_filter()

    # -- layout ----------------------------------------------------------------------------
    def _build(self) -> None:
        root = QVBoxLayout(self)
        root.setContentsMargins(16, 16, 16, 12)
        root.setSpacing(10)
        root.addLayout(self._filter_bar())

        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(26)
        header = self.table.horizontalHeader()
        header.setHighlightSections(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        for col, width in ((AccessLogTableModel.COL_TIME, 150), (AccessLogTableModel.COL_DOOR,
                           120), (AccessLogTableModel.COL_PERSON, 200),
                           (AccessLogTableModel.COL_DECISION, 110),
                           (AccessLogTableModel.COL_SCORE, 64),
                           (AccessLogTableModel.COL_LIVENESS, 64)):
            self.table.setColumnWidth(col, width)
        self.table.selectionModel().currentRowChanged.connect(self._current_changed)

        details = QFrame()
        details.setFrameShape(QFrame.Shape.StyledPanel)
        details.setMinimumWidth(260)
        details.setMaximumWidth(400)
        dlayout = QVBoxLayout(details)
        dlayout.setContentsMargins(10, 10, 10, 10)
        dlayout.addWidget(section_title("Selected event"))
        self.snapshot_view = PhotoView("Select an event to see its camera snapshot.")
        self.snapshot_view.setAcceptDrops(False)
        self.snapshot_view.setMinimumSize(240, 180)
        dlayout.addWidget(self.snapshot_view, 1)
        self.detail_form = QFormLayout()
        self.detail_form.setHorizontalSpacing(10)
        self._details: dict[str, QLabel] = {}
        for key in ("Time", "Door", "Person", "Decision", "Score", "Liveness", "Details"):
            value = QLabel()
            value.setWordWrap(True)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.detail_form.addRow(f"{key}:", value)
            self._details[key] = value
        dlayout.addLayout(self.detail_form)

        top = QSplitter(Qt.Orientation.Horizontal)
        top.addWidget(self.table)
        top.addWidget(details)
        top.setStretchFactor(0, 1)
        top.setCollapsible(0, False)
        top.setSizes([800, 320])

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
        splitter.setSizes([430, 200])
        root.addWidget(splitter, 1)

        bottom = QHBoxLayout()
        self.count_label = QLabel()
        self.message = MessageLabel()
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip("Read the newest events (F5)")
        self.refresh_button.clicked.connect(self.apply_filter)
        QShortcut(QKeySequence(Qt.Key.Key_F5), self, activated=self.apply_filter)
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

    def _filter_bar(self) -> QHBoxLayout:
        bar = QHBoxLayout()
        bar.setSpacing(6)
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
        self.person_combo.setMinimumWidth(180)
        self.person_combo.addItem("Everyone", None)
        completer = self.person_combo.completer()
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        completer.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
        self.person_combo.currentIndexChanged.connect(self._schedule)
        self.person_combo.lineEdit().editingFinished.connect(self._person_typed)
        self.decision_combo = QComboBox()
        for label, decisions in DECISION_FILTERS:
            self.decision_combo.addItem(label, decisions)
        self.decision_combo.currentIndexChanged.connect(self._schedule)
        self.door_combo = QComboBox()
        self.door_combo.addItem("All doors", None)
        self.door_combo.currentIndexChanged.connect(self._schedule)
        self.reset_button = QPushButton("Reset")
        self.reset_button.setToolTip("Show every event of the last 7 days")
        self.reset_button.clicked.connect(self.reset_filters)
        bar.addWidget(QLabel("Period:"))
        bar.addWidget(self.period_combo)
        bar.addWidget(self.from_date)
        bar.addWidget(QLabel("to"))
        bar.addWidget(self.to_date)
        bar.addSpacing(10)
        bar.addWidget(QLabel("Person:"))
        bar.addWidget(self.person_combo, 1)
        bar.addWidget(QLabel("Decision:"))
        bar.addWidget(self.decision_combo)
        bar.addWidget(QLabel("Door:"))
        bar.addWidget(self.door_combo)
        bar.addWidget(self.reset_button)
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
                                   ChartData.per_hour_of_day(counts.granted, counts.denied),
                                   "per hour of the day, local time")
            days = q.decision_counts(db, flt, bucket="day")
            return ChartResult(generation, mode,
                               ChartData.per_day(days.starts, days.granted, days.denied),
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
        if self._shown_before:
            self._load_choices()
            self.apply_filter()  # new events arrived while another page was shown
        self._shown_before = True

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
        score = "" if event.score is None else f"{event.score:.4f}"
        if event.score is not None and event.threshold is not None:
            score += f" (needed {event.threshold:.4f})"
        values = {
            "Time": format_local(event.at),
            "Door": event.door_name,
            "Person": person_label(event),
            "Decision": DECISION_LABELS.get(event.decision, event.decision),
            "Score": score or "-",
            "Liveness": "-" if event.liveness_score is None else f"{event.liveness_score:.2f}",
            "Details": event.reason or "-",
        }
        for key, text in values.items():
            self._details[key].setText(text)
        self._snapshot_seq += 1
        seq = self._snapshot_seq
        if not event.has_snapshot:
            self.snapshot_view.placeholder = ("No snapshot was kept for this event (see the "
                                              "snapshot policy in Settings).")
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
