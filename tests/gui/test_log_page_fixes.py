"""What a reviewer saw wrong on the Access log page, checked as a user sees it: real widgets
offscreen over a real SQLite file.

* the page shows the log as it is each time it is opened, not as it was at start-up;
* at the window's smallest size (1024 x 640) and at 1280 x 760 and 1366 x 768 no filter,
  label or box is squeezed, cut or drawn over another, and the Decision column is in view;
* camera or door errors are not counted as refusals, and their event does not blame the
  snapshot policy for a picture that never existed;
* a face compared with nobody shows no "-1" score, a score names its model, and chart axes
  of counts have whole-number ticks (the Settings histogram has values too);
* the coloured decision of a selected row is drawn in the selection's text colour.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import combinations

import pytest
from PySide6.QtCore import QRect, Qt, QThreadPool
from PySide6.QtGui import QColor, QPainter, QPalette
from PySide6.QtWidgets import (
    QComboBox,
    QDateEdit,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QPushButton,
    QStyle,
    QStyleOptionViewItem,
    QWidget,
)

from turnstile import resources
from turnstile.gui import charts
from turnstile.gui.charts import ChartData, DecisionChart, ScoreHistogramChart
from turnstile.gui.log_page import DECISION_FILTERS, AccessLogPage
from turnstile.gui.table_models import AccessLogTableModel
from turnstile.services import access_log_query as q
from turnstile.storage import repositories as repo

WAIT_MS = 30_000
NAV_WIDTH_PX = 180
"""The main window's page list (``MainWindow``): the page gets the rest of the width."""
SMALLEST_WINDOW = (1024, 640)
"""``MainWindow.setMinimumSize``."""


def add(ctx, rows) -> list[int]:
    """rows: (decision, employee_id, minutes ago, score, threshold, model_id, reason)."""
    now = datetime.now(UTC)
    with ctx.db.session() as s:
        door = repo.get_or_create_door(s, "Main entrance").id
        return [repo.add_event(s, door_id=door, decision=decision, employee_id=employee,
                               at=now - timedelta(minutes=minutes), score=score,
                               threshold=threshold, model_id=model_id, reason=reason).id
                for decision, employee, minutes, score, threshold, model_id, reason in rows]


@pytest.fixture
def obama(ctx) -> int:
    with ctx.db.session() as s:
        return repo.create_employee(s, employee_number="E1001", name="Barack Obama").id


def open_page(qtbot, page: AccessLogPage) -> None:
    """Show the page, press Refresh and wait until the table, the count and the chart are
    in (what is shown on opening is the first test's business)."""
    page.show()
    with qtbot.waitSignal(page.count_ready, timeout=WAIT_MS):
        qtbot.mouseClick(page.refresh_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not page.model.loading and not page.chart_busy, timeout=WAIT_MS)


@pytest.fixture
def page(ctx, qtbot):
    widget = AccessLogPage(ctx)
    qtbot.addWidget(widget)
    widget.resize(1186, 746)
    yield widget
    widget.shutdown()


def row_of(page: AccessLogPage, decision: str) -> int:
    return next(r for r in range(page.model.rowCount())
                if page.model.row_at(r).decision == decision)


class RecordingPainter(QPainter):
    """A QPainter that remembers every text the charts draw."""

    texts: list[str] = []

    def drawText(self, *args) -> None:  # noqa: N802 (Qt name)
        RecordingPainter.texts.extend(a for a in args if isinstance(a, str))
        super().drawText(*args)


@pytest.fixture
def drawn_texts(monkeypatch) -> list[str]:
    RecordingPainter.texts = []
    monkeypatch.setattr(charts, "QPainter", RecordingPainter)
    return RecordingPainter.texts


# --- 1. the page shows the log as it is ---------------------------------------------------


def test_first_visit_shows_the_events_stored_since_the_app_started(ctx, qtbot, page, obama
                                                                   ) -> None:
    # The page is made when the window is (at start-up), before the door logs anything.
    QThreadPool.globalInstance().waitForDone(WAIT_MS)
    add(ctx, [("unknown", None, 3, 0.2, 0.4958, None, "not an enrolled person")] * 13)
    page.show()  # opened from the page list: no Refresh pressed
    qtbot.waitUntil(lambda: page.count_known and not page.model.loading
                    and not page.chart_busy, timeout=WAIT_MS)
    assert page.count_label.text() == "13 events"
    assert page.model.rowCount() == 13 and sum(page.chart.data.denied) == 13

    # Another page, a door run, and back: the new events are there without Refresh.
    page.hide()
    add(ctx, [("granted", obama, 1, 0.8, 0.4958, None, None)] * 3)
    with qtbot.waitSignal(page.count_ready, timeout=WAIT_MS) as blocker:
        page.show()
    assert blocker.args == [16]
    qtbot.waitUntil(lambda: page.model.rowCount() == 16 and not page.chart_busy,
                    timeout=WAIT_MS)
    assert page.count_label.text() == "16 events"
    assert sum(page.chart.data.granted) == 3
    # A person enrolled meanwhile is in the person filter.
    qtbot.waitUntil(lambda: page.person_combo.findData(obama) > 0, timeout=WAIT_MS)


# --- 2. nothing overlaps or clips ---------------------------------------------------------


def host_window(page: AccessLogPage, size: tuple[int, int]) -> QMainWindow:
    """The page where the main window puts it: right of the page list, above the status
    bar, in a window that may be made as small as the main window allows."""
    window = QMainWindow()
    central = QWidget()
    layout = QHBoxLayout(central)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(0)
    nav = QWidget()
    nav.setFixedWidth(NAV_WIDTH_PX)
    layout.addWidget(nav)
    layout.addWidget(page, 1)
    window.setCentralWidget(central)
    window.statusBar().showMessage("Database: sqlite:////home/someone/turnstile.db")
    window.setMinimumSize(*SMALLEST_WINDOW)
    window.resize(*size)
    return window


def rect_in(widget: QWidget, ancestor: QWidget) -> QRect:
    return QRect(widget.mapTo(ancestor, widget.rect().topLeft()), widget.size())


def filter_widgets(page: AccessLogPage) -> list[QWidget]:
    return [w for w in page.findChildren(QWidget)
            if isinstance(w, (QLabel, QComboBox, QDateEdit, QPushButton)) and w.isVisible()
            and w.parentWidget() is page]


@pytest.mark.parametrize("size", [SMALLEST_WINDOW, (1280, 760), (1366, 768)],
                         ids=lambda s: f"{s[0]}x{s[1]}")
def test_nothing_overlaps_or_is_cut_at_common_window_sizes(ctx, qtbot, obama, size) -> None:
    add(ctx, [("spoof", obama, 1, 0.8199, 0.4958, resources.confirm_model_id(),
               "A screen was held up to the camera (moire pattern), the door stayed shut")])
    page = AccessLogPage(ctx)
    window = host_window(page, size)
    qtbot.addWidget(window)
    window.show()
    open_page(qtbot, page)
    page.table.selectRow(0)
    qtbot.wait(50)
    assert window.size().toTuple() == size

    # The page's layout fits: nothing is squeezed under the size it needs.
    needed = page.minimumSizeHint()
    assert needed.width() <= page.width() and needed.height() <= page.height(), \
        (needed.toTuple(), page.size().toTuple())

    # Filters and buttons: each at least as large as it needs (no "Last 7 da", no
    # "2026-11-"), labels show their whole text, and no two of them overlap.
    bar = filter_widgets(page)
    assert {w.text() for w in bar if isinstance(w, QLabel)} >= {"Period:", "to", "Person:",
                                                                "Decision:", "Door:"}
    for widget in bar:
        hint = widget.minimumSizeHint()
        assert widget.width() >= hint.width() and widget.height() >= hint.height(), widget
        if isinstance(widget, QLabel) and widget.text():
            assert widget.width() >= widget.fontMetrics().horizontalAdvance(widget.text())
    for edit in (page.from_date, page.to_date):
        assert edit.width() >= edit.sizeHint().width(), "the whole date is shown"
    longest_period = max(page.period_combo.itemText(i)
                         for i in range(page.period_combo.count()))
    assert page.period_combo.width() >= page.period_combo.fontMetrics().horizontalAdvance(
        longest_period)
    for a, b in combinations(bar, 2):
        assert not rect_in(a, page).intersects(rect_in(b, page)), (a, b)

    # The selected event's details: no label over the snapshot, none over another.
    inner = page.snapshot_view.parentWidget()
    labels = [w for w in inner.findChildren(QLabel) if w.isVisible()]
    snapshot = rect_in(page.snapshot_view, inner)
    for label in labels:
        assert not rect_in(label, inner).intersects(snapshot), label.text()
        assert label.width() >= label.minimumSizeHint().width(), label.text()
    for a, b in combinations(labels, 2):
        assert not rect_in(a, inner).intersects(rect_in(b, inner)), (a.text(), b.text())
    assert page._details["Decision"].text() == "Spoof attempt"

    # The table: the decision is in view without scrolling sideways; from 1280 px up, every
    # column is, the details last.
    table = page.table
    decision_end = (table.columnViewportPosition(AccessLogTableModel.COL_DECISION)
                    + table.columnWidth(AccessLogTableModel.COL_DECISION))
    assert decision_end <= table.viewport().width()
    header = table.horizontalHeader()
    if size[0] >= 1280:
        assert header.length() <= table.viewport().width()
        assert not table.horizontalScrollBar().isVisible()
        details = AccessLogTableModel.COL_REASON
        assert header.visualIndex(details) == header.count() - 1
        assert table.columnWidth(details) >= header.minimumSectionSize()
    # Columns are wide enough for what they hold.
    time_text = table.model().index(0, AccessLogTableModel.COL_TIME).data()
    assert table.columnWidth(AccessLogTableModel.COL_TIME) > \
        table.fontMetrics().horizontalAdvance(time_text)
    assert table.columnWidth(AccessLogTableModel.COL_DECISION) > \
        table.fontMetrics().horizontalAdvance("Spoof attempt")
    page.shutdown()
    window.close()


# --- 3. errors are not refusals -----------------------------------------------------------


@pytest.fixture
def door_run(ctx, obama) -> None:
    """A looping video at the door: 3 passages, 4 refusals, 9 camera losses."""
    sface, dlib = resources.confirm_model_id(), resources.embedder_model_id()
    add(ctx, [("granted", obama, 50, 0.81, 0.4958, sface, None)] * 3
        + [("unknown", None, 40, -1.0, 0.9539, dlib, "not an enrolled person"),
           ("unknown", None, 39, 0.2038, 0.4958, sface, "not an enrolled person"),
           ("spoof", obama, 30, 0.8199, 0.4958, sface, "A screen was held up"),
           ("denied", obama, 20, 0.8199, 0.4958, sface, "locked out")]
        + [("error", None, 10 - i, None, None, dlib, "camera lost") for i in range(9)])


def test_passages_chart_counts_camera_errors_apart_from_refusals(page, qtbot, door_run,
                                                                  drawn_texts) -> None:
    open_page(qtbot, page)
    assert page.count_label.text() == "16 events"
    data = page.chart.data
    assert (sum(data.granted), sum(data.denied), sum(data.errors)) == (3, 4, 9)
    drawn_texts.clear()
    page.chart.grab()
    assert "Granted (3)" in drawn_texts
    assert "Denied, unknown face or spoof (4)" in drawn_texts
    assert "Camera or door errors (9)" in drawn_texts
    assert "Camera or door errors: 9" in page.chart.bar_tooltip(0)

    # "Refused (all)" lists the refusals, not the camera losses.
    with qtbot.waitSignal(page.count_ready, timeout=WAIT_MS) as blocker:
        page.decision_combo.setCurrentIndex(
            [label for label, _ in DECISION_FILTERS].index("Refused (all)"))
    assert blocker.args == [4]


def test_the_chart_of_errors_only_shows_them(page, qtbot, door_run) -> None:
    open_page(qtbot, page)
    with qtbot.waitSignal(page.chart_ready, timeout=WAIT_MS):
        page.set_filter(period="Last 7 days", decisions=["error"])
    assert sum(page.chart.data.errors) == 9 and not page.chart.data.empty
    assert sum(page.chart.data.denied) == 0


def test_a_camera_loss_says_there_was_no_face_picture(page, qtbot, door_run) -> None:
    open_page(qtbot, page)
    page.table.selectRow(row_of(page, "error"))
    assert page._details["Decision"].text() == "Error"
    assert page._details["Details"].text() == "camera lost"
    assert "No face picture" in page.snapshot_view.placeholder
    assert "snapshot policy" not in page.snapshot_view.placeholder
    # A refusal whose picture was not kept still points to the policy.
    page.table.selectRow(row_of(page, "denied"))
    assert "snapshot policy" in page.snapshot_view.placeholder


# --- 4. numbers that mean something -------------------------------------------------------


def test_a_face_compared_with_nobody_shows_no_minus_one(page, qtbot, door_run) -> None:
    open_page(qtbot, page)
    row = next(r for r in range(page.model.rowCount())
               if page.model.row_at(r).score == -1.0)
    score_cell = page.model.index(row, AccessLogTableModel.COL_SCORE)
    assert score_cell.data() == "none"
    assert "nobody enrolled to compare with" in score_cell.data(Qt.ItemDataRole.ToolTipRole)
    page.table.selectRow(row)
    score = page._details["Score"].text()
    assert "-1" not in score and "needed" not in score
    assert score == "none: nobody enrolled to compare with"


def test_a_score_says_which_model_measured_it(page, qtbot, door_run) -> None:
    open_page(qtbot, page)
    sface_row = next(r for r in range(page.model.rowCount())
                     if page.model.row_at(r).score == 0.2038)
    page.table.selectRow(sface_row)
    assert page._details["Score"].text() == ("0.2038 (needed 0.4958)\n"
                                             "by SFace (confirming model)")
    assert q.scoring_model_name(resources.embedder_model_id()) == \
        "dlib ResNet (search model)"
    assert q.scoring_model_name("arcface_r100@0123456789ab/x") == "arcface_r100"
    assert q.scoring_model_name(None) is None


def y_tick_labels(texts: list[str]) -> list[str]:
    return [t for t in texts if t.replace(".", "", 1).replace(",", "").isdigit()]


@pytest.mark.parametrize("peak", [1, 3, 7, 13, 40, 250, 1234])
@pytest.mark.parametrize("height", [130, 200, 320])
def test_count_axis_ticks_are_whole_numbers(qtbot, drawn_texts, peak, height) -> None:
    chart = DecisionChart()
    qtbot.addWidget(chart)
    chart.resize(800, height)
    granted = min(3, peak)
    chart.set_data(ChartData(["29 Nov"], [granted], [peak - granted], ["Sat 29 Nov 2025"]),
                   "per day")
    chart.grab()
    ticks = y_tick_labels(drawn_texts)
    assert ticks[0] == "0" and len(ticks) >= 2, drawn_texts
    assert all("." not in t for t in ticks), ticks
    values = [int(t.replace(",", "")) for t in ticks]
    assert values == sorted(values) and values[-1] >= peak


def test_count_axis() -> None:
    assert charts.count_axis(40) == (40, 10)
    assert charts.count_axis(13) == (15, 5)
    assert charts.count_axis(3) == (3, 1)
    assert charts.count_axis(1) == (1, 1)
    assert charts.count_axis(0) == (1, 1)
    assert charts.count_axis(40, max_ticks=2) == (40, 20)
    assert charts.count_axis(24, max_ticks=2) == (25, 25)  # not 0-20-40: bars half height
    assert charts.count_axis(1234) == (1250, 250)


def test_score_histogram_axis_has_values(qtbot, drawn_texts) -> None:
    chart = ScoreHistogramChart()
    qtbot.addWidget(chart)
    chart.resize(460, 220)
    edges = [0.2 + 0.02 * i for i in range(41)]
    genuine = [0] * 40
    impostor = [0] * 40
    genuine[30], genuine[31] = 30, 10  # 75 % and 25 % of the granted faces
    impostor[5] = 4
    chart.set_histogram(edges, genuine, impostor)
    chart.set_thresholds(0.4958, 0.40)
    chart.grab()
    percent = [t for t in drawn_texts if t.endswith("%")]
    assert percent[0] == "0 %" and percent[-1] == "100 %", drawn_texts
    assert "share of each" in drawn_texts
    assert chart.shares()[0][30] == pytest.approx(75.0)
    assert chart.shares()[1][5] == pytest.approx(100.0)


# --- 5. the selected row stays readable ---------------------------------------------------


def contrast(a: QColor, b: QColor) -> float:
    """WCAG contrast ratio of two colours."""
    def luminance(c: QColor) -> float:
        def channel(v: float) -> float:
            return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4
        return (0.2126 * channel(c.redF()) + 0.7152 * channel(c.greenF())
                + 0.0722 * channel(c.blueF()))
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_a_selected_decision_is_drawn_in_the_selection_text_colour(page, qtbot, door_run
                                                                   ) -> None:
    open_page(qtbot, page)
    row = row_of(page, "unknown")
    page.table.selectRow(row)
    index = page.model.index(row, AccessLogTableModel.COL_DECISION)
    assert index.data() == "Unknown face"
    option = QStyleOptionViewItem()
    option.initFrom(page.table.viewport())
    option.state |= QStyle.StateFlag.State_Selected
    page.table.itemDelegateForIndex(index).initStyleOption(option, index)
    text = option.palette.color(QPalette.ColorRole.Text)
    highlight = option.palette.color(QPalette.ColorRole.Highlight)
    assert text == page.table.palette().color(QPalette.ColorRole.HighlightedText)
    assert contrast(text, highlight) >= 3.0
    # Not selected, the decision keeps its colour.
    plain = QStyleOptionViewItem()
    plain.initFrom(page.table.viewport())
    page.table.itemDelegateForIndex(index).initStyleOption(plain, index)
    red = plain.palette.color(QPalette.ColorRole.Text)
    assert red.red() > red.green() and red.red() > red.blue()
