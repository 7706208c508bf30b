"""The Access log page and its queries over a real SQLite file: paging, filters, counts per
hour/day in local time, score histograms, the snapshot of a row, and the CSV export."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import cv2
import numpy as np
import pytest
from PySide6.QtCore import Qt

from turnstile.gui.log_page import DECISION_FILTERS, AccessLogPage, period_dates
from turnstile.gui.table_models import AccessLogTableModel
from turnstile.services import access_log_query as q
from turnstile.storage import repositories as repo

WAIT_MS = 30_000
PARIS = ZoneInfo("Europe/Paris")


def _snapshot() -> bytes:
    image = np.zeros((120, 160, 3), np.uint8)
    image[:, :80] = (40, 160, 40)
    return cv2.imencode(".jpg", image)[1].tobytes()


@pytest.fixture
def people(ctx) -> dict[str, int]:
    with ctx.db.session() as s:
        return {name: repo.create_employee(s, employee_number=number, name=name).id
                for number, name in (("E1", "Ada Lovelace"), ("E2", "Alan Turing"))}


def add(ctx, rows) -> list[int]:
    """rows: (decision, employee_id, at, score, door name, snapshot)."""
    ids = []
    with ctx.db.session() as s:
        for decision, employee_id, at, score, door, snapshot in rows:
            door_id = repo.get_or_create_door(s, door).id
            ids.append(repo.add_event(s, door_id=door_id, decision=decision, at=at,
                                      employee_id=employee_id, score=score,
                                      threshold=0.9542, liveness_score=0.88,
                                      reason=None if decision == "granted" else "refused",
                                      snapshot=snapshot).id)
    return ids


# --- queries ------------------------------------------------------------------------------


def test_keyset_pages_cover_every_event_once_even_with_equal_times(ctx, people) -> None:
    t0 = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)
    add(ctx, [("granted", people["Ada Lovelace"], t0 + timedelta(seconds=i // 3), 0.97,
               "Main", None) for i in range(95)])
    seen, after = [], None
    while True:
        page = q.fetch_events(ctx.db, limit=10, after=after)
        if not page:
            break
        seen += page
        after = page[-1].key
    assert len(seen) == 95 and len({e.id for e in seen}) == 95
    assert [e.key for e in seen] == sorted((e.key for e in seen), reverse=True)
    assert seen[0].employee_name == "Ada Lovelace" and seen[0].door_name == "Main"


def test_filters_and_counts(ctx, people) -> None:
    t0 = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)
    ada, alan = people["Ada Lovelace"], people["Alan Turing"]
    add(ctx, [
        ("granted", ada, t0, 0.97, "Main", None),
        ("granted", alan, t0 + timedelta(days=1), 0.96, "Side", None),
        ("unknown", None, t0 + timedelta(days=1, hours=2), 0.91, "Main", _snapshot()),
        ("denied", alan, t0 + timedelta(days=2), 0.96, "Main", _snapshot()),
        ("spoof", None, t0 + timedelta(days=3), None, "Side", None),
    ])
    doors = {c.label: c.id for c in q.door_choices(ctx.db)}
    cases = [
        (None, 5),
        (q.EventFilter(employee_id=alan), 2),
        (q.EventFilter(decisions=["unknown", "denied"]), 2),
        (q.EventFilter(door_id=doors["Side"]), 2),
        (q.EventFilter(start=t0 + timedelta(days=1), end=t0 + timedelta(days=2)), 2),
        (q.EventFilter(door_id=doors["Main"], decisions=["granted"]), 1),
    ]
    for flt, expected in cases:
        rows = q.fetch_events(ctx.db, flt)
        assert len(rows) == expected == q.count_events(ctx.db, flt), flt
    [unknown] = q.fetch_events(ctx.db, q.EventFilter(decisions=["unknown"]))
    assert unknown.has_snapshot and unknown.employee_name is None
    assert q.event_snapshot(ctx.db, unknown.id) == _snapshot()
    assert [c.label for c in q.person_choices(ctx.db)] == ["Ada Lovelace (E1)",
                                                          "Alan Turing (E2)"]


def test_counts_per_local_day_and_hour(ctx, people) -> None:
    ada = people["Ada Lovelace"]
    # 23:30 UTC on 5 Jan is 00:30 on 6 Jan in Paris: it belongs to the 6th there.
    add(ctx, [
        ("granted", ada, datetime(2025, 1, 5, 23, 30, tzinfo=UTC), 0.97, "Main", None),
        ("unknown", None, datetime(2025, 1, 5, 23, 45, tzinfo=UTC), 0.90, "Main", None),
        ("granted", ada, datetime(2025, 1, 5, 8, 10, tzinfo=UTC), 0.97, "Main", None),
        ("granted", ada, datetime(2025, 1, 8, 7, 5, tzinfo=UTC), 0.97, "Main", None),
        ("spoof", None, datetime(2025, 1, 8, 7, 50, tzinfo=UTC), None, "Main", None),
    ])
    days = q.decision_counts(ctx.db, bucket="day", tz=PARIS)
    assert [d.date() for d in days.starts] == [date(2025, 1, 5), date(2025, 1, 6),
                                               date(2025, 1, 7), date(2025, 1, 8)]
    assert days.granted == [1, 1, 0, 1] and days.denied == [0, 1, 0, 1]  # the 7th is empty
    assert days.starts[0].utcoffset() == timedelta(hours=1)
    hours = q.decision_counts(ctx.db, bucket="hour", tz=PARIS)
    assert hours.starts[0] == datetime(2025, 1, 5, 9, tzinfo=PARIS)
    assert hours.total_granted == 3 and hours.total_denied == 2
    by_hour = q.hour_of_day_counts(ctx.db, tz=PARIS)
    assert by_hour.granted[0] == 1 and by_hour.denied[0] == 1  # 00:30 and 00:45 in Paris
    assert by_hour.granted[8] == 1 and by_hour.granted[9] == 1 and by_hour.denied[8] == 1
    assert sum(by_hour.granted) + sum(by_hour.denied) == 5
    only_ada = q.decision_counts(ctx.db, q.EventFilter(employee_id=ada), tz=PARIS)
    assert only_ada.total_granted == 3 and only_ada.total_denied == 0
    assert q.decision_counts(ctx.db, q.EventFilter(employee_id=999)).starts == []


def test_score_histogram_uses_granted_and_unknown_scores(ctx, people) -> None:
    ada = people["Ada Lovelace"]
    t0 = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)
    add(ctx, [
        ("granted", ada, t0, 0.9712, "Main", None),
        ("granted", ada, t0, 0.9799, "Main", None),
        ("unknown", None, t0, 0.9001, "Main", None),
        ("unknown", None, t0, 0.50, "Main", None),    # far below: first bin
        ("denied", ada, t0, 0.9600, "Main", None),    # a known person refused: not counted
        ("spoof", None, t0, None, "Main", None),
    ])
    histogram = q.score_histogram(ctx.db, bins=20, score_range=(0.80, 1.00))
    assert len(histogram.edges) == 21 and histogram.edges[0] == pytest.approx(0.80)
    assert histogram.genuine_total == 2 and histogram.impostor_total == 2
    assert histogram.genuine[17] == 2  # [0.97, 0.98)
    assert histogram.impostor[10] == 1 and histogram.impostor[0] == 1
    with pytest.raises(ValueError):
        q.score_histogram(ctx.db, bins=0)


def test_period_dates() -> None:
    today = date(2025, 3, 4)
    assert period_dates("Today", today) == (today, today)
    assert period_dates("Yesterday", today) == (date(2025, 3, 3), date(2025, 3, 3))
    assert period_dates("Last 7 days", today) == (date(2025, 2, 26), today)
    assert period_dates("All time", today) == (None, None)


# --- the page -----------------------------------------------------------------------------


@pytest.fixture
def recent(ctx, people) -> list[int]:
    """Events of the last days at two doors, newest first in the list."""
    now = datetime.now(UTC).replace(microsecond=0)
    ada, alan = people["Ada Lovelace"], people["Alan Turing"]
    rows = []
    for i in range(60):
        decision = ("granted", "granted", "unknown", "denied")[i % 4]
        employee = {"granted": ada if i % 8 else alan, "denied": alan}.get(decision)
        rows.append((decision, employee, now - timedelta(hours=i), 0.95 + (i % 5) / 100,
                     "Main entrance" if i % 3 else "Warehouse door",
                     _snapshot() if decision != "granted" else None))
    # An old event the default period (last 7 days) must not show.
    rows.append(("granted", ada, now - timedelta(days=40), 0.97, "Main entrance", None))
    return add(ctx, rows)


@pytest.fixture
def page(ctx, qtbot, recent):
    widget = AccessLogPage(ctx)
    qtbot.addWidget(widget)
    widget.resize(1300, 760)
    with qtbot.waitSignal(widget.count_ready, timeout=WAIT_MS):
        widget.show()
    qtbot.waitUntil(lambda: not widget.model.loading and not widget.chart_busy,
                    timeout=WAIT_MS)
    qtbot.waitUntil(lambda: widget.door_combo.count() == 3, timeout=WAIT_MS)
    yield widget
    widget.shutdown()


def shown(page) -> list[q.EventRow]:
    return [page.model.row_at(r) for r in range(page.model.rowCount())]


def test_page_opens_on_the_last_seven_days(page) -> None:
    assert page.period_combo.currentText() == "Last 7 days"
    assert page.model.rowCount() == 60 and page.count == 60
    assert page.count_label.text() == "60 events"
    assert page.table.model().index(0, AccessLogTableModel.COL_DECISION).data() == "Granted"
    assert sum(page.chart.data.granted) == 30 and sum(page.chart.data.denied) == 30
    assert len(page.chart.data.labels) in (3, 4)  # 60 hours span three or four local days


def test_filter_by_decision_person_door_and_dates(page, qtbot, people) -> None:
    with qtbot.waitSignal(page.count_ready, timeout=WAIT_MS) as blocker:
        page.decision_combo.setCurrentIndex(
            [label for label, _ in DECISION_FILTERS].index("Unknown face"))
    assert blocker.args == [15]
    qtbot.waitUntil(lambda: page.model.rowCount() == 15, timeout=WAIT_MS)
    assert {e.decision for e in shown(page)} == {"unknown"}

    with qtbot.waitSignal(page.count_ready, timeout=WAIT_MS) as blocker:
        page.decision_combo.setCurrentIndex(
            [label for label, _ in DECISION_FILTERS].index("Refused (all)"))
    assert blocker.args == [30]

    alan = people["Alan Turing"]
    with qtbot.waitSignal(page.count_ready, timeout=WAIT_MS) as blocker:
        page.person_combo.setCurrentIndex(page.person_combo.findData(alan))
    qtbot.waitUntil(lambda: not page.model.loading, timeout=WAIT_MS)
    assert blocker.args == [15] and {e.employee_id for e in shown(page)} == {alan}

    with qtbot.waitSignal(page.count_ready, timeout=WAIT_MS):
        page.reset_filters()
    warehouse = page.door_combo.findText("Warehouse door")
    with qtbot.waitSignal(page.count_ready, timeout=WAIT_MS) as blocker:
        page.door_combo.setCurrentIndex(warehouse)
    qtbot.waitUntil(lambda: not page.model.loading, timeout=WAIT_MS)
    assert blocker.args == [20]
    assert {e.door_name for e in shown(page)} == {"Warehouse door"}

    with qtbot.waitSignal(page.count_ready, timeout=WAIT_MS) as blocker:
        page.period_combo.setCurrentText("All time")
    assert blocker.args == [20]  # still only the warehouse door
    with qtbot.waitSignal(page.count_ready, timeout=WAIT_MS) as blocker:
        page.door_combo.setCurrentIndex(0)
    assert blocker.args == [61]  # every door, and the 40-day-old event is back
    today = date.today()
    with qtbot.waitSignal(page.count_ready, timeout=WAIT_MS) as blocker:
        page.set_filter(first=today - timedelta(days=60), last=today - timedelta(days=30))
    assert blocker.args == [1]
    assert page.period_combo.currentText() == "Chosen dates"


def test_snapshot_of_the_selected_row(page, qtbot) -> None:
    rows = shown(page)
    with_snapshot = next(i for i, e in enumerate(rows) if e.has_snapshot)
    without = next(i for i, e in enumerate(rows) if not e.has_snapshot)
    page.table.selectRow(with_snapshot)
    qtbot.waitUntil(lambda: page.snapshot_view.has_image(), timeout=WAIT_MS)
    assert page._details["Decision"].text() in ("Unknown face", "Denied")
    page.table.selectRow(without)
    assert not page.snapshot_view.has_image()
    assert "No snapshot" in page.snapshot_view.placeholder
    assert page._details["Decision"].text() == "Granted"


def test_export_the_filtered_view_as_csv(page, qtbot, tmp_path) -> None:
    with qtbot.waitSignal(page.count_ready, timeout=WAIT_MS):
        page.set_filter(period="Last 7 days", decisions=["unknown"])
    path = tmp_path / "unknown.csv"
    with qtbot.waitSignal(page.export_finished, timeout=WAIT_MS) as blocker:
        page.export_csv(path)
    result = blocker.args[0]
    assert result.rows == 15 and not result.cancelled
    assert "15 events exported" in page.message.text()
    with open(path, encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 15 and {r["decision"] for r in rows} == {"unknown"}
    times = [r["time_utc"] for r in rows]
    assert times == sorted(times, reverse=True)  # as on screen: newest first
    assert {int(r["event_id"]) for r in rows} == {e.id for e in shown(page)}


def test_export_to_a_missing_folder_is_explained(page, qtbot, tmp_path) -> None:
    with qtbot.waitSignal(page.export_finished, timeout=WAIT_MS) as blocker:
        page.export_csv(tmp_path / "no" / "such" / "folder" / "log.csv")
    assert isinstance(blocker.args[0], Exception)
    assert page.message.kind == "error" and "does not exist" in page.message.text()


def test_scrolling_loads_more_pages(ctx, qtbot, people) -> None:
    now = datetime.now(UTC)
    add(ctx, [("granted", people["Ada Lovelace"], now - timedelta(minutes=i), 0.97, "Main",
               None) for i in range(1200)])
    widget = AccessLogPage(ctx)
    qtbot.addWidget(widget)
    widget.resize(1300, 760)
    with qtbot.waitSignal(widget.count_ready, timeout=WAIT_MS):
        widget.show()
    qtbot.waitUntil(lambda: widget.model.rowCount() == widget.model.page_rows,
                    timeout=WAIT_MS)
    assert widget.count == 1200 and widget.model.canFetchMore()
    widget.table.scrollToBottom()  # the view asks the model for the next page
    qtbot.waitUntil(lambda: widget.model.rowCount() > widget.model.page_rows,
                    timeout=WAIT_MS)
    widget.table.setFocus()
    qtbot.keyClick(widget.table, Qt.Key.Key_End, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: widget.model.rowCount() == 1200, timeout=WAIT_MS)
    widget.shutdown()


def test_typing_a_name_in_the_person_box_replaces_everyone(page, qtbot, people) -> None:
    """Clicking into the person box and typing a name filters by that person (the text
    "Everyone" is selected on the click, so it does not become "EveryoneAlan Turing")."""
    edit = page.person_combo.lineEdit()
    qtbot.mouseClick(edit, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: edit.selectedText() == "Everyone", timeout=WAIT_MS)
    qtbot.keyClicks(edit, "Alan Tu")
    popup = page.person_combo.completer().popup()
    assert edit.text() == "Alan Tu" and popup.isVisible()
    with qtbot.waitSignal(page.count_ready, timeout=WAIT_MS) as blocker:
        qtbot.keyClick(popup, Qt.Key.Key_Down)  # the suggestion, as a user picks it
        qtbot.keyClick(popup, Qt.Key.Key_Return)
    assert page.person_combo.currentData() == people["Alan Turing"]
    qtbot.waitUntil(lambda: not page.model.loading, timeout=WAIT_MS)
    assert blocker.args[0] > 0 and {e.employee_id for e in shown(page)} == {people["Alan Turing"]}
    assert not page.message.isVisible() or "No enrolled person" not in page.message.text()
