"""``turnstile logs export --csv``: the file reads back with the csv module, filters work,
and a failed export writes nothing."""

from __future__ import annotations

import csv
from datetime import UTC, datetime

import pytest
from cli_support import copy_database, prepare_database

from turnstile.services.access_log_export import COLUMNS
from turnstile.storage import repositories as repo
from turnstile.storage.db import open_database


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture(scope="module")
def events_db(tmp_path_factory, shared_data):
    """Two people enrolled from real photos and six events at two doors, as the door would
    record them."""
    people = shared_data / "people"
    db_file = prepare_database(tmp_path_factory.mktemp("events"), [
        ["enroll", people / "Barack_Obama" / "obama.jpg", "--number", "E1", "--name",
         "Barack Obama", "--consent"],
        ["enroll", people / "Joe_Biden" / "biden.jpg", "--number", "E2", "--name",
         "Zoë Ñúñez 李小龍", "--consent"],
    ])
    db = open_database(f"sqlite:///{db_file}")
    with db.session() as s:
        front = repo.get_or_create_door(s, "Front door").id
        back = repo.get_or_create_door(s, "Back door").id
        e1 = repo.get_employee_by_number(s, "E1").id
        e2 = repo.get_employee_by_number(s, "E2").id
        for at, door, decision, employee, reason, score in (
            ("2025-03-01T07:59:00", front, "granted", e1, None, 0.97),
            ("2025-03-01T08:30:00", front, "unknown", None, "not an enrolled person", 0.61),
            ("2025-03-01T23:59:59", back, "granted", e2, None, 0.96),
            ("2025-03-02T00:00:00", back, "denied", e2, "suspended", 0.965),
            ("2025-03-02T12:00:00", front, "spoof", None, "a photo, not a face", None),
            ("2025-03-03T09:00:00", front, "granted", e1, None, 0.98),
        ):
            repo.add_event(s, door_id=door, decision=decision, at=_at(at), employee_id=employee,
                           reason=reason, score=score, threshold=0.9542, model_id="m@1",
                           snapshot=b"\xff\xd8 not exported")
    db.dispose()
    return db_file


@pytest.fixture
def log_with_events(events_db, db_file):
    copy_database(events_db, db_file)


def _read(path):
    with open(path, newline="", encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))


def test_export_everything_reads_back(cli, log_with_events, tmp_path):
    target = tmp_path / "log.csv"
    done = cli("logs", "export", "--csv", target)
    assert done.code == 0, done.err
    assert "Exported 6 access events" in done.out
    rows = _read(target)
    assert list(rows[0]) == list(COLUMNS)
    assert [r["decision"] for r in rows] == ["granted", "unknown", "granted", "denied", "spoof",
                                            "granted"]
    assert rows[0]["time_utc"] == "2025-03-01T07:59:00+00:00"
    assert (rows[0]["employee_number"], rows[0]["name"], rows[0]["door"]) == (
        "E1", "Barack Obama", "Front door")
    assert rows[2]["name"] == "Zoë Ñúñez 李小龍"
    assert rows[1]["employee_number"] == "" and rows[1]["reason"] == "not an enrolled person"
    assert rows[3]["score"] == "0.9650" and rows[4]["score"] == ""
    assert "not exported" not in target.read_text(encoding="utf-8-sig")


@pytest.mark.parametrize(("args", "decisions"), [
    (["--from", "2025-03-01", "--to", "2025-03-01"], ["granted", "unknown", "granted"]),
    (["--from", "2025-03-02"], ["denied", "spoof", "granted"]),
    (["--to", "2025-03-01T08:30:00Z"], ["granted", "unknown"]),
    (["--from", "2025-03-01T09:00:00+01:00", "--to", "2025-03-01T09:30:00+01:00"],
     ["unknown"]),
    (["--decision", "granted"], ["granted", "granted", "granted"]),
    (["--decision", "denied,spoof"], ["denied", "spoof"]),
    (["--decision", "denied", "--decision", "unknown"], ["unknown", "denied"]),
    (["--number", "E2"], ["granted", "denied"]),
    (["--door", "Back door"], ["granted", "denied"]),
    (["--door", "Front door", "--number", "E1", "--from", "2025-03-02"], ["granted"]),
])
def test_export_filters(cli, log_with_events, tmp_path, args, decisions):
    target = tmp_path / "filtered.csv"
    done = cli("logs", "export", "--csv", target, *args)
    assert done.code == 0, done.err
    assert [r["decision"] for r in _read(target)] == decisions


def test_export_refuses_bad_filters_and_writes_nothing(cli, log_with_events, tmp_path):
    target = tmp_path / "log.csv"
    for args, message in (
        (["--decision", "maybe"], "maybe is not a decision"),
        (["--door", "Side door"], "No door is named 'Side door'"),
        (["--number", "E9"], "No employee has number 'E9'"),
        (["--from", "2025-03-05", "--to", "2025-03-01"], "--from is after --to"),
        (["--from", "March"], "--from"),
    ):
        done = cli("logs", "export", "--csv", target, *args)
        assert done.code == 1, args
        assert message in done.err, (args, done.err)
    assert not target.exists()
    missing_folder = cli("logs", "export", "--csv", tmp_path / "no" / "such" / "log.csv")
    assert missing_folder.code == 1 and "does not exist" in missing_folder.err
    assert list(tmp_path.glob("*.partial")) == []


def test_a_deleted_persons_events_stay_without_the_person(cli, log_with_events, tmp_path):
    assert cli("employees", "delete", "E2", "--yes").code == 0
    target = tmp_path / "log.csv"
    assert cli("logs", "export", "--csv", target).code == 0
    rows = _read(target)
    assert len(rows) == 6
    assert [r["name"] for r in rows if r["door"] == "Back door"] == ["", ""]
    assert "Zoë" not in target.read_text(encoding="utf-8-sig")
