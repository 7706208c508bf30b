"""Bad input on the command line: a clear message on stderr, exit code 1, nothing written."""

from __future__ import annotations

import json
import sqlite3

import pytest
from cli_support import count_rows


def _nothing_written(db_file, employees=0, templates=0):
    assert count_rows(db_file, "employees") == employees
    assert count_rows(db_file, "face_templates") == templates


def test_duplicate_employee_number_is_refused_and_nothing_is_written(cli, photos, db_file):
    assert cli("enroll", photos["obama"], "--number", "E1", "--name", "Barack Obama",
               "--consent").code == 0
    again = cli("enroll", photos["biden"], "--number", "E1", "--name", "Joe Biden", "--consent")
    assert again.code == 1
    assert "Employee number 'E1' is already in use" in again.err
    assert again.out == ""
    _nothing_written(db_file, employees=1, templates=1)
    shown = json.loads(cli("employees", "show", "E1", "--json").out)
    assert shown["name"] == "Barack Obama"


def test_two_faces_need_an_explicit_choice(cli, photos, db_file):
    refused = cli("enroll", photos["two_people"], "--number", "G1", "--name", "Someone",
                  "--consent")
    assert refused.code == 1
    assert "2 faces" in refused.err and "(0 = the largest)" in refused.err
    _nothing_written(db_file)

    chosen = cli("enroll", photos["two_people"], "--number", "G1", "--name", "Someone",
                 "--consent", "--face", "0")
    assert chosen.code == 0, chosen.err
    _nothing_written(db_file, employees=1, templates=1)

    too_far = cli("enroll", photos["two_people"], "--number", "G2", "--name", "Nobody",
                  "--consent", "--face", "5", "--force")
    assert too_far.code == 1 and "no face number 5" in too_far.err
    _nothing_written(db_file, employees=1, templates=1)


def test_a_photo_without_a_face_is_refused(cli, blank_photo, db_file):
    done = cli("enroll", blank_photo, "--number", "N1", "--name", "Nobody", "--consent")
    assert done.code == 1
    assert "No face was found" in done.err
    _nothing_written(db_file)
    assert cli("identify", blank_photo).code == 1


def test_missing_and_unreadable_photos_are_errors(cli, tmp_path, db_file):
    missing = cli("enroll", tmp_path / "nope.jpg", "--number", "N1", "--name", "X", "--consent")
    assert missing.code == 1 and "does not exist" in missing.err
    garbage = tmp_path / "notes.jpg"
    garbage.write_text("this is not a picture")
    unreadable = cli("enroll", garbage, "--number", "N1", "--name", "X", "--consent")
    assert unreadable.code == 1 and "not an image" in unreadable.err
    _nothing_written(db_file)
    assert cli("identify", tmp_path / "nope.jpg").code == 1
    assert cli("verify", "N1", garbage).code == 1


def test_consent_is_required(cli, photos, db_file):
    done = cli("enroll", photos["obama"], "--number", "E1", "--name", "Barack Obama")
    assert done.code == 1
    assert "consent" in done.err and "--consent" in done.err
    _nothing_written(db_file)


@pytest.mark.parametrize(("name", "message"), [
    ("", "The name must not be empty"),
    ("   ", "The name must not be empty"),
    ("A" * 201, "at most 200 characters"),
    ("Tab\tInside", "control characters"),
])
def test_bad_names_are_refused(cli, photos, db_file, name, message):
    done = cli("enroll", photos["obama"], "--number", "E1", "--name", name, "--consent")
    assert done.code == 1
    assert message in done.err
    _nothing_written(db_file)


@pytest.mark.parametrize(("number", "message"), [
    ("", "The employee number must not be empty"),
    ("9" * 65, "at most 64 characters"),
])
def test_bad_employee_numbers_are_refused(cli, photos, db_file, number, message):
    done = cli("enroll", photos["obama"], "--number", number, "--name", "Ann", "--consent")
    assert done.code == 1 and message in done.err
    _nothing_written(db_file)


def test_unicode_long_names_and_sql_metacharacters_are_stored_verbatim(cli, photos, db_file):
    people = [
        (photos["biden"], "U-1", "Zoë Ñúñez 李小龍", "Δ Engineering"),
        (photos["kit"], "Q-1'; DROP TABLE employees;--", "Robert'); DROP TABLE employees;--",
         "R&D \"quoted\" % _ \\"),
        (photos["rose"], "L-1", "L" * 200, None),
    ]
    for photo, number, name, department in people:
        extra = ["--department", department] if department else []
        done = cli("enroll", photo, "--number", number, "--name", name, *extra, "--consent")
        assert done.code == 0, done.err
    for _, number, name, department in people:
        shown = json.loads(cli("employees", "show", number, "--json").out)
        assert (shown["employee_number"], shown["name"], shown["department"]) == (
            number, name, department)
    _nothing_written(db_file, employees=3, templates=3)
    # Searching with LIKE wildcards finds them literally, not everybody.
    found = json.loads(cli("employees", "list", "--search", "%", "--json").out)
    assert [e["employee_number"] for e in found] == ["Q-1'; DROP TABLE employees;--"]
    found = json.loads(cli("employees", "list", "--search", "李小龍", "--json").out)
    assert [e["employee_number"] for e in found] == ["U-1"]
    table = cli("employees", "list")
    assert table.code == 0 and "Zoë Ñúñez 李小龍" in table.out
    # The Unicode person is recognised by number and name.
    answer = json.loads(cli("identify", photos["biden2"], "--json").out)
    assert answer["name"] == "Zoë Ñúñez 李小龍"
    with sqlite3.connect(db_file) as connection:
        tables = {r[0] for r in connection.execute("SELECT name FROM sqlite_master")}
    connection.close()
    assert {"employees", "face_templates", "access_events"} <= tables


def test_the_same_face_under_another_number_needs_force(cli, photos, db_file):
    assert cli("enroll", photos["obama"], "--number", "E1", "--name", "Barack Obama",
               "--consent").code == 0
    twin = cli("enroll", photos["obama2"], "--number", "E2", "--name", "Barry O",
               "--consent")
    assert twin.code == 1
    assert "looks like Barack Obama (employee E1)" in twin.err
    _nothing_written(db_file, employees=1, templates=1)

    forced = cli("enroll", photos["obama2"], "--number", "E2", "--name", "Barry O",
                 "--consent", "--force", "--json")
    assert forced.code == 0, forced.err
    assert "employee E1" in json.loads(forced.out)["warnings"][0]
    assert "warning" in forced.err
    _nothing_written(db_file, employees=2, templates=2)


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--valid-from", "2025-13-01", "not a valid date"),
    ("--valid-until", "tomorrow", "is not a date"),
    ("--valid-from", "2025-03-01T08:00:00", "no UTC offset"),
])
def test_bad_dates_are_refused_before_any_face_work(cli, photos, db_file, option, value,
                                                    message):
    done = cli("enroll", photos["obama"], "--number", "E1", "--name", "Ann", option, value,
               "--consent")
    assert done.code == 1
    assert option in done.err and message in done.err
    _nothing_written(db_file)


def test_validity_end_before_start_is_refused(cli, photos, db_file):
    done = cli("enroll", photos["obama"], "--number", "E1", "--name", "Ann", "--consent",
               "--valid-from", "2025-06-01", "--valid-until", "2025-05-31")
    assert done.code == 1 and "end of validity is before its start" in done.err
    _nothing_written(db_file)


def test_dates_are_utc_days_and_valid_until_includes_its_day(cli, photos):
    assert cli("enroll", photos["obama"], "--number", "E1", "--name", "Ann", "--consent",
               "--valid-from", "2025-01-01", "--valid-until",
               "2025-12-31").code == 0
    shown = json.loads(cli("employees", "show", "E1", "--json").out)
    assert shown["valid_from"] == "2025-01-01T00:00:00+00:00"
    assert shown["valid_until"] == "2025-12-31T23:59:59.999999+00:00"
    assert cli("employees", "edit", "E1", "--valid-from",
               "2025-02-01T09:00:00+02:00").code == 0
    shown = json.loads(cli("employees", "show", "E1", "--json").out)
    assert shown["valid_from"] == "2025-02-01T07:00:00+00:00"


def test_unknown_employee_for_every_verb(cli, photos):
    for args in (["employees", "show", "X9"], ["employees", "suspend", "X9"],
                 ["employees", "activate", "X9"], ["employees", "delete", "X9", "--yes"],
                 ["employees", "edit", "X9", "--name", "Y"],
                 ["employees", "add-photo", "X9", photos["obama"]],
                 ["verify", "X9", photos["obama"]]):
        done = cli(*args)
        assert done.code == 1, args
        assert "No employee has number 'X9'" in done.err, args


def test_edit_refuses_a_taken_number_and_an_empty_edit(cli, photos, db_file):
    assert cli("enroll", photos["obama"], "--number", "E1", "--name", "Ann", "--consent").code == 0
    assert cli("enroll", photos["biden"], "--number", "E2", "--name", "Bob", "--consent").code == 0
    taken = cli("employees", "edit", "E2", "--number", "E1")
    assert taken.code == 1 and "'E1' is already in use" in taken.err
    nothing = cli("employees", "edit", "E2")
    assert nothing.code == 1 and "Nothing to change" in nothing.err
    empty = cli("employees", "edit", "E2", "--name", "")
    assert empty.code == 1 and "must not be empty" in empty.err
    shown = json.loads(cli("employees", "show", "E2", "--json").out)
    assert (shown["employee_number"], shown["name"]) == ("E2", "Bob")


def test_command_line_mistakes_exit_2_and_a_bad_database_exits_1(cli, tmp_path, photos,
                                                                 capsys):
    assert cli("employees").code == 2
    missing = cli("enroll", photos["obama"], "--name", "No number")
    assert missing.code == 2 and "--number" in missing.err
    assert cli("employees", "list", "--status", "retired").code == 2
    not_db = tmp_path / "notes.db"
    not_db.write_text("just text")
    from turnstile.cli import run

    assert run(["--db", f"sqlite:///{not_db}", "employees", "list"]) == 1
    assert "is not a Turnstile database" in capsys.readouterr().err
    assert not_db.read_text() == "just text"
