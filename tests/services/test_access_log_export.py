"""The access log CSV export (used by ``turnstile logs export`` and the log page)."""

from __future__ import annotations

import csv
import io
import shutil
import threading
from datetime import UTC, datetime, timedelta

import pytest

from turnstile.services.access_log_export import (
    COLUMNS,
    ExportError,
    export_access_log_csv,
    write_access_log_csv,
)
from turnstile.storage import repositories as repo
from turnstile.storage.db import open_database

START = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def events_file(tmp_path_factory):
    """A database with one person whose number, name and department a spreadsheet would run
    as formulas, and 1,203 events (more than one export chunk). Built once per module."""
    path = tmp_path_factory.mktemp("events") / "events.db"
    db = open_database(f"sqlite:///{path}")
    with db.session() as s:
        door = repo.get_or_create_door(s, "=Lobby").id
        person = repo.create_employee(s, employee_number="+E1", name="=HYPERLINK(\"x\")",
                                      department="@Ops")
        for i in range(1203):
            repo.add_event(s, door_id=door, decision="granted" if i % 3 else "unknown",
                           at=START + timedelta(minutes=i),
                           employee_id=person.id if i % 3 else None,
                           reason=None if i % 3 else "-not enrolled", score=0.5 + i / 10_000,
                           threshold=0.95, liveness_score=None, model_id="m@1")
    db.dispose()
    return path


@pytest.fixture
def events(events_file, tmp_path):
    """This test's own copy of the events database."""
    path = tmp_path / "data" / "events.db"
    path.parent.mkdir()
    shutil.copyfile(events_file, path)
    db = open_database(f"sqlite:///{path}")
    yield db
    db.dispose()


@pytest.fixture
def out_dir(tmp_path):
    """An empty folder for the exports (the database lives elsewhere in tmp_path)."""
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


def _rows(path):
    with open(path, newline="", encoding="utf-8-sig") as handle:
        return list(csv.reader(handle))


def test_every_event_in_time_order_with_formulas_defused(events, tmp_path):
    target = tmp_path / "log.csv"
    seen = []
    result = export_access_log_csv(events, target, progress=lambda done, total:
                                   seen.append((done, total)))
    assert (result.path, result.rows, result.cancelled) == (target, 1203, False)
    rows = _rows(target)
    assert rows[0] == list(COLUMNS)
    assert len(rows) == 1204
    times = [datetime.fromisoformat(r[1]) for r in rows[1:]]
    assert times == sorted(times) and times[0] == START
    first_granted = rows[2]
    assert first_granted[2:7] == ["'=Lobby", "granted", "'+E1", "'=HYPERLINK(\"x\")", "'@Ops"]
    assert rows[1][7] == "'-not enrolled" and rows[1][4] == ""
    assert seen[-1] == (1203, 1203) and seen[0] == (500, 1203)
    assert target.read_bytes().startswith(b"\xef\xbb\xbf")  # Excel reads accents right


def test_newest_first_and_a_filter(events, tmp_path):
    target = tmp_path / "log.csv"
    flt = repo.EventFilter(decisions=["unknown"], start=START + timedelta(minutes=600))
    result = export_access_log_csv(events, target, flt, newest_first=True)
    rows = _rows(target)[1:]
    assert result.rows == len(rows) == 201
    assert {r[3] for r in rows} == {"unknown"}
    assert rows[0][1] > rows[-1][1]


def test_writing_to_a_stream(events):
    buffer = io.StringIO()
    count = write_access_log_csv(events, buffer, repo.EventFilter(decisions=["spoof"]))
    assert count == 0
    assert buffer.getvalue() == ",".join(COLUMNS) + "\r\n"


def test_cancel_writes_nothing_and_keeps_the_previous_file(events, out_dir):
    target = out_dir / "log.csv"
    target.write_text("previous export")
    cancel = threading.Event()
    result = export_access_log_csv(events, target, progress=lambda *_: cancel.set(),
                                   cancel=cancel)
    assert result.cancelled and result.path is None
    assert target.read_text() == "previous export"
    assert [p.name for p in out_dir.iterdir()] == ["log.csv"]


def test_an_existing_file_is_replaced_only_when_complete(events, out_dir):
    target = out_dir / "log.csv"
    target.write_text("previous export")
    export_access_log_csv(events, target)
    assert len(_rows(target)) == 1204
    assert [p.name for p in out_dir.iterdir()] == ["log.csv"]


def test_bad_destinations(events, out_dir):
    with pytest.raises(ExportError, match="does not exist"):
        export_access_log_csv(events, out_dir / "missing" / "log.csv")
    with pytest.raises(ExportError, match="is a folder"):
        export_access_log_csv(events, out_dir)
    assert list(out_dir.iterdir()) == []
