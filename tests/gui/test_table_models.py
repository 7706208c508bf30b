"""The desk's table models, without any widget: what each cell says, sorting and searching,
and the access log's lazy paging over a real database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QPixmap

from turnstile.gui.table_models import (
    ID_ROLE,
    THUMBNAIL_PX,
    AccessLogTableModel,
    PeopleFilterProxy,
    PeopleTableModel,
)
from turnstile.services import access_log_query as q
from turnstile.services.access_log_query import EventRow
from turnstile.services.people import PersonRow
from turnstile.storage import repositories as repo
from turnstile.storage.db import open_database

NOW = datetime(2025, 3, 4, 12, 0, tzinfo=UTC)


def _jpeg(color: int) -> bytes:
    image = np.full((150, 150, 3), color, np.uint8)
    return cv2.imencode(".jpg", image)[1].tobytes()


def person(id: int, name: str, number: str, **kw) -> PersonRow:
    values = dict(department=None, status="active", valid_from=None, valid_until=None,
                  templates=1, created_at=NOW - timedelta(days=id), consent_at=NOW,
                  face_crop=_jpeg(100))
    values.update(kw)
    return PersonRow(id, number, name, **values)


def cell(model, row: int, col: int, role=Qt.ItemDataRole.DisplayRole):
    return model.data(model.index(row, col), role)


# --- people -------------------------------------------------------------------------------


def test_people_model_cells_and_states(qapp, qtmodeltester) -> None:
    model = PeopleTableModel()
    rows = [
        person(1, "Ada Lovelace", "E2", department="Research"),
        person(2, "Bob Suspended", "E10", status="suspended"),
        person(3, "Cy Expired", "E3", valid_until=NOW - timedelta(days=1)),
        person(4, "Di Later", "E4", valid_from=NOW + timedelta(days=3)),
        person(5, "Ed Nophoto", "E5", templates=0, face_crop=None),
    ]
    model.set_rows(rows, now=NOW)
    qtmodeltester.check(model)
    assert model.rowCount() == 5
    C = PeopleTableModel
    assert cell(model, 0, C.COL_NAME) == "Ada Lovelace"
    assert cell(model, 0, C.COL_NUMBER) == "E2"
    assert cell(model, 0, C.COL_DEPARTMENT) == "Research"
    assert [cell(model, r, C.COL_STATUS) for r in range(5)] == [
        "Active", "Suspended", "Expired", "Not valid yet", "No photo"]
    assert "shut" in cell(model, 1, C.COL_STATUS, Qt.ItemDataRole.ToolTipRole)
    assert cell(model, 2, C.COL_VALID_UNTIL) == (NOW - timedelta(days=1)).astimezone(
        ).strftime("%Y-%m-%d")
    thumb = cell(model, 0, C.COL_PHOTO, Qt.ItemDataRole.DecorationRole)
    assert isinstance(thumb, QPixmap) and thumb.height() == THUMBNAIL_PX
    assert cell(model, 4, C.COL_PHOTO, Qt.ItemDataRole.DecorationRole) is None
    assert cell(model, 3, C.COL_NAME, ID_ROLE) == 4
    assert model.headerData(C.COL_NUMBER, Qt.Orientation.Horizontal) == "Employee no."


def test_people_model_update_and_remove(qapp, qtmodeltester) -> None:
    model = PeopleTableModel()
    model.set_rows([person(1, "Ada", "E1"), person(2, "Bob", "E2")], now=NOW)
    qtmodeltester.check(model)
    changed = []
    model.dataChanged.connect(lambda a, b: changed.append((a.row(), b.row())))
    model.update_row(person(2, "Bob Renamed", "E2", status="suspended"))
    assert changed == [(1, 1)]
    assert cell(model, 1, PeopleTableModel.COL_NAME) == "Bob Renamed"
    assert cell(model, 1, PeopleTableModel.COL_STATUS) == "Suspended"
    model.update_row(person(3, "Cy", "E3"))  # unknown id: added
    assert model.rowCount() == 3
    model.remove_id(1)
    assert [cell(model, r, PeopleTableModel.COL_NAME) for r in range(2)] == ["Bob Renamed",
                                                                              "Cy"]
    assert model.row_of(1) == -1 and model.row_of(3) == 1


def test_people_proxy_sorts_numbers_naturally_and_searches_without_accents(qapp) -> None:
    model = PeopleTableModel()
    model.set_rows([person(1, "Zoë Dubois", "E10", department="Ventes"),
                    person(2, "Adam Smith", "E9", department="IT"),
                    person(3, "Émile Zola", "E100", status="suspended")], now=NOW)
    proxy = PeopleFilterProxy()
    proxy.setSourceModel(model)

    def column(col: int) -> list[str]:
        return [proxy.index(r, col).data() for r in range(proxy.rowCount())]

    proxy.sort(PeopleTableModel.COL_NUMBER, Qt.SortOrder.AscendingOrder)
    assert column(PeopleTableModel.COL_NUMBER) == ["E9", "E10", "E100"]  # not E10, E100, E9
    proxy.sort(PeopleTableModel.COL_NAME, Qt.SortOrder.DescendingOrder)
    assert column(PeopleTableModel.COL_NAME) == ["Zoë Dubois", "Émile Zola", "Adam Smith"]

    proxy.set_search("zoe")
    assert column(PeopleTableModel.COL_NAME) == ["Zoë Dubois"]
    proxy.set_search("EMILE")
    assert column(PeopleTableModel.COL_NAME) == ["Émile Zola"]
    proxy.set_search("ventes dub")  # every word must match, in any field
    assert column(PeopleTableModel.COL_NAME) == ["Zoë Dubois"]
    proxy.set_search("")
    proxy.set_state("Suspended")
    assert column(PeopleTableModel.COL_NAME) == ["Émile Zola"]
    proxy.set_state(None)
    assert proxy.rowCount() == 3


# --- access log ---------------------------------------------------------------------------


def event(id: int, decision: str = "granted", *, name: str | None = "Ada", minutes: int = 0,
          score: float | None = 0.9612, liveness: float | None = 0.93) -> EventRow:
    return EventRow(id, NOW - timedelta(minutes=minutes), 1, "Main entrance",
                    1 if name else None, "E1" if name else None, name, decision,
                    None if decision == "granted" else "refused", score, 0.9542, liveness,
                    False)


def sync_runner(fn, on_result, on_error):
    try:
        value = fn()
    except BaseException as exc:  # noqa: BLE001
        on_error(exc)
    else:
        on_result(value)


def test_access_log_cells(qapp, qtmodeltester) -> None:
    model = AccessLogTableModel(lambda *a: [], runner=sync_runner)
    model.set_rows([event(3), event(2, "unknown", name=None, score=0.91, liveness=None),
                    event(1, "spoof", name=None, score=None)])
    qtmodeltester.check(model)
    C = AccessLogTableModel
    assert cell(model, 0, C.COL_TIME) == NOW.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    assert cell(model, 0, C.COL_PERSON) == "Ada (E1)"
    assert cell(model, 0, C.COL_DECISION) == "Granted"
    assert cell(model, 0, C.COL_SCORE) == "0.9612"
    assert cell(model, 0, C.COL_LIVENESS) == "0.93"
    assert cell(model, 1, C.COL_PERSON) == "Unknown person"
    assert cell(model, 1, C.COL_DECISION) == "Unknown face"
    assert cell(model, 1, C.COL_LIVENESS) == ""
    assert cell(model, 2, C.COL_DECISION) == "Spoof attempt"
    assert cell(model, 2, C.COL_SCORE) == ""
    assert cell(model, 1, C.COL_REASON) == "refused"
    red = cell(model, 1, C.COL_DECISION, Qt.ItemDataRole.ForegroundRole).color()
    green = cell(model, 0, C.COL_DECISION, Qt.ItemDataRole.ForegroundRole).color()
    assert red.red() > red.green() and green.green() > green.red()
    assert not model.canFetchMore(QModelIndex())  # set_rows: no more pages


@pytest.fixture
def log_db(tmp_path: Path):
    db = open_database(f"sqlite:///{tmp_path / 'log.db'}")
    with db.session() as s:
        door = repo.get_or_create_door(s, "Main entrance").id
        ada = repo.create_employee(s, employee_number="E1", name="Ada").id
        for i in range(1234):
            # Pairs of events share a timestamp: paging must neither skip nor repeat them.
            repo.add_event(s, door_id=door, decision="granted" if i % 3 else "unknown",
                           employee_id=ada if i % 3 else None, at=NOW - timedelta(seconds=i // 2),
                           score=0.96)
    yield db
    db.dispose()


def test_access_log_pages_through_a_real_database(qapp, qtmodeltester, log_db) -> None:
    fetched = []

    def fetch(flt, after, limit):
        fetched.append(after)
        return q.fetch_events(log_db, flt, limit=limit, after=after)

    model = AccessLogTableModel(fetch, runner=sync_runner, page_rows=100)
    qtmodeltester.check(model)
    loaded = []
    model.rows_loaded.connect(loaded.append)
    model.set_filter(None)
    assert model.rowCount() == 100 and loaded == [100]
    assert model.canFetchMore(QModelIndex())
    while model.canFetchMore(QModelIndex()):
        model.fetchMore(QModelIndex())
    assert model.rowCount() == 1234 and model.exhausted
    ids = [model.row_at(r).id for r in range(model.rowCount())]
    assert len(set(ids)) == 1234  # each event exactly once
    times = [model.row_at(r).at for r in range(model.rowCount())]
    assert times == sorted(times, reverse=True)  # newest first
    assert fetched[0] is None and all(k is not None for k in fetched[1:])
    assert len(fetched) == 13  # 12 full pages + the short last one

    model.set_filter(q.EventFilter(decisions=["unknown"]))
    while model.canFetchMore(QModelIndex()):
        model.fetchMore(QModelIndex())
    assert model.rowCount() == 412
    assert {model.row_at(r).decision for r in range(model.rowCount())} == {"unknown"}


def test_access_log_drops_a_page_asked_for_an_older_filter(qapp) -> None:
    pending = []

    def deferred(fn, on_result, on_error):
        pending.append((fn, on_result))

    pages = {None: [event(1)], ("unknown",): [event(2, "unknown", name=None)]}
    model = AccessLogTableModel(
        lambda flt, after, limit: pages[tuple(flt.decisions) if flt else None],
        runner=deferred, page_rows=50)
    model.set_filter(None)
    assert model.loading and not model.canFetchMore(QModelIndex())  # one request at a time
    model.set_filter(q.EventFilter(decisions=["unknown"]))
    old, new = pending
    old[1](old[0]())  # the answer to the first filter arrives late
    assert model.rowCount() == 0
    new[1](new[0]())
    assert model.rowCount() == 1 and model.row_at(0).decision == "unknown"
    assert model.exhausted  # a short page is the last one


def test_access_log_reports_a_failed_page(qapp) -> None:
    from turnstile.storage.errors import DatabaseError

    def broken(*args):
        raise DatabaseError("The database is busy.")

    model = AccessLogTableModel(broken, runner=sync_runner)
    failures = []
    model.load_failed.connect(failures.append)
    model.set_filter(None)
    assert model.rowCount() == 0 and len(failures) == 1
    assert str(failures[0]) == "The database is busy."
    assert not model.canFetchMore(QModelIndex())  # no endless retry loop from the view
