"""Listing, showing and editing employees from the command line."""

from __future__ import annotations

import json

import pytest
from cli_support import copy_database, prepare_database


@pytest.fixture(scope="module")
def staff_db(tmp_path_factory, shared_data):
    """Three people enrolled from real photos; Kit is suspended, Rose's validity ended."""
    people = shared_data / "people"
    commands = [
        ["enroll", people / "Barack_Obama" / "obama.jpg", "--number", "E1", "--name",
         "Barack Obama", "--department", "Executive", "--consent"],
        ["enroll", people / "Kit_Harington" / "john1.jpeg", "--number", "E2", "--name",
         "Kit Harington", "--department", "Acting", "--consent"],
        ["enroll", people / "Rose_Leslie" / "img1.jpg", "--number", "E3", "--name",
         "Rose Leslie", "--department", "Acting", "--consent"],
        ["employees", "suspend", "E2"],
        ["employees", "edit", "E3", "--valid-until", "2021-01-31"],
    ]
    return prepare_database(tmp_path_factory.mktemp("staff"), commands)


@pytest.fixture
def staff(staff_db, db_file):
    """This test's own copy of the staff database (at ``db_file``, which ``cli`` uses)."""
    copy_database(staff_db, db_file)


def test_list_shows_everyone_with_their_state(cli, staff):
    listing = json.loads(cli("employees", "list", "--json").out)
    assert [(e["employee_number"], e["status"], e["status_now"], e["photos"])
            for e in listing] == [
        ("E1", "active", "active", 1),
        ("E2", "suspended", "suspended", 1),
        ("E3", "active", "expired", 1),
    ]
    assert all("embedding" not in e for e in listing)
    table = cli("employees", "list")
    assert table.code == 0
    lines = table.out.splitlines()
    assert lines[0].split() == ["NUMBER", "NAME", "DEPARTMENT", "STATUS", "VALID", "FROM",
                                "VALID", "UNTIL", "PHOTOS"]
    assert "Kit Harington" in lines[2] and "suspended" in lines[2]
    assert "expired" in lines[3] and "2021-01-31" in lines[3]
    assert "3 employees" in table.err


def test_list_filters_by_search_and_status(cli, staff):
    def numbers(*args):
        done = cli("employees", "list", *args, "--json")
        assert done.code == 0
        return [e["employee_number"] for e in json.loads(done.out)]

    assert numbers("--search", "acting") == ["E2", "E3"]
    assert numbers("--search", "obama") == ["E1"]
    assert numbers("--status", "suspended") == ["E2"]
    assert numbers("--status", "active", "--search", "Acting") == ["E3"]
    assert numbers("--search", "nobody here") == []
    empty = cli("employees", "list", "--search", "nobody here")
    assert empty.code == 0 and empty.out == "" and "No employees match" in empty.err


def test_show_prints_details_and_photos_never_embeddings(cli, staff):
    shown = cli("employees", "show", "E2")
    assert shown.code == 0
    assert "Kit Harington" in shown.out and "suspended" in shown.out
    assert "template" in shown.out and "john1.jpeg" in shown.out
    data = json.loads(cli("employees", "show", "E3", "--json").out)
    assert data["status_now"] == "expired"
    assert data["valid_until"] == "2021-01-31T23:59:59.999999+00:00"
    assert data["consent_at"] is not None
    assert set(data["templates"][0]) == {"template_id", "model_id", "source", "source_name",
                                         "quality", "created_at"}


def test_edit_changes_only_what_is_given(cli, staff):
    done = cli("employees", "edit", "E1", "--name", "Barack H. Obama", "--department", "",
               "--number", "E100")
    assert done.code == 0, done.err
    assert "E100 updated" in done.out
    data = json.loads(cli("employees", "show", "E100", "--json").out)
    assert (data["name"], data["department"], data["status"]) == (
        "Barack H. Obama", None, "active")
    assert cli("employees", "show", "E1").code == 1


def test_suspend_twice_says_so(cli, staff):
    again = cli("employees", "suspend", "E2")
    assert again.code == 0 and "already suspended" in again.out
    assert "now active" in cli("employees", "activate", "E2").out


def test_db_option_also_works_after_the_verb(db_url, photos, capsys, tmp_path):
    from turnstile.cli import run

    assert run(["enroll", str(photos["obama"]), "--number", "E1", "--name", "Ann",
                "--consent", "--db", db_url]) == 0
    capsys.readouterr()
    assert run(["employees", "list", "--json", "--db", db_url]) == 0
    assert [e["employee_number"] for e in json.loads(capsys.readouterr().out)] == ["E1"]
    # ... and the default database (in TURNSTILE_HOME, per test) is a different one.
    assert run(["employees", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
