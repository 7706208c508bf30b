"""``turnstile import CSV --photos DIR``: progress on stderr, the report on stdout, exit code
1 when a row was rejected, and a re-run that adds nothing twice."""

from __future__ import annotations

import json
import shutil

import pytest
from cli_support import count_rows


@pytest.fixture
def photo_dir(tmp_path, photos, blank_photo):
    """Real photos copied at test time into tmp_path (never into the repository)."""
    folder = tmp_path / "photos"
    (folder / "team").mkdir(parents=True)
    for key, name in (("obama", "obama.jpg"), ("kit", "team/kit.jpeg"), ("rose", "rose.jpg"),
                      ("two_people", "group.jpg"), ("obama2", "obama2.jpg")):
        shutil.copy(photos[key], folder / name)
    shutil.copy(blank_photo, folder / "blank.png")
    return folder


def _write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


def test_import_reports_each_rejected_row_and_reruns_idempotently(cli, tmp_path, photo_dir,
                                                                  db_file):
    staff = _write(tmp_path / "staff.csv", (
        "employee_number,name,department,photo\n"
        "A1,Barack Obama,Executive,obama.jpg\n"
        "A2,Kit Harington,Acting,team/kit.jpeg\n"
        "A3,Nobody,,blank.png\n"
        "A4,Two People,,group.jpg\n"
        "A5,Ghost,,ghost.jpg\n"
        "A6,Barry Again,,obama2.jpg\n"
    ))
    first = cli("import", staff, "--photos", photo_dir, "--consent-given")
    assert first.code == 1
    assert "Importing [" in first.err and "6/6" in first.err
    assert "2 imported, 0 skipped (already enrolled), 4 rejected, of 6 rows" in first.out
    for row, words in ((4, "No face was found"), (5, "2 faces"), (6, "was not found"),
                       (7, "looks like Barack Obama (employee A1)")):
        line = next(x for x in first.out.splitlines() if x.strip().startswith(f"row {row} "))
        assert words in line, line
    assert count_rows(db_file, "employees") == 2
    assert count_rows(db_file, "face_templates") == 2

    again = cli("import", staff, "--photos", photo_dir, "--consent-given", "--json")
    assert again.code == 1
    report = json.loads(again.out)
    assert (report["imported"], report["skipped"], report["rejected"]) == (0, 2, 4)
    assert [(r["row"], r["status"], r["code"]) for r in report["rows"]] == [
        (2, "skipped", "already_enrolled"), (3, "skipped", "already_enrolled"),
        (4, "rejected", "no_face"), (5, "rejected", "several_faces"),
        (6, "rejected", "missing_photo"), (7, "rejected", "duplicate_face")]
    assert count_rows(db_file, "employees") == 2
    assert count_rows(db_file, "face_templates") == 2


def test_a_clean_import_exits_0_and_people_are_recognised(cli, tmp_path, photo_dir, photos):
    staff = _write(tmp_path / "clean.csv", (
        "\ufeffemployee_number;name;department;photo;consent\r\n"
        "\r\n"
        "B1;Zoë Ñúñez 李小龍;R&D, Lab 2;obama.jpg;yes\r\n"
        "B2;Kit Harington;Acting;team/kit.jpeg;yes\r\n"
    ))
    done = cli("import", staff, "--photos", photo_dir)
    assert done.code == 0, done.out + done.err
    assert "2 imported" in done.out
    shown = json.loads(cli("employees", "show", "B1", "--json").out)
    assert (shown["name"], shown["department"]) == ("Zoë Ñúñez 李小龍", "R&D, Lab 2")
    assert shown["templates"][0]["source"] == "import"
    answer = json.loads(cli("identify", photos["obama1"], "--json").out)
    assert answer["employee_number"] == "B1" and answer["granted"] is True
    assert cli("import", staff, "--photos", photo_dir).code == 0  # all skipped: still fine


def test_without_consent_every_row_is_rejected_with_the_reason(cli, tmp_path, photo_dir,
                                                               db_file):
    staff = _write(tmp_path / "staff.csv", "employee_number,name,department,photo\n"
                                           "C1,Barack Obama,,obama.jpg\n")
    done = cli("import", staff, "--photos", photo_dir)
    assert done.code == 1
    assert "No consent recorded" in done.out and "--consent-given" in done.out
    assert count_rows(db_file, "employees") == 0


def test_an_unusable_file_or_folder_is_an_error(cli, tmp_path, photo_dir, db_file):
    wrong = _write(tmp_path / "wrong.csv", "id,full name,picture\n1,Ann,obama.jpg\n")
    done = cli("import", wrong, "--photos", photo_dir, "--consent-given")
    assert done.code == 1
    assert "lacks the columns employee_number, photo" in done.err
    missing = cli("import", tmp_path / "nope.csv", "--photos", photo_dir)
    assert missing.code == 1 and "does not exist" in missing.err
    good = _write(tmp_path / "good.csv", "employee_number,name,photo\nE1,Ann,obama.jpg\n")
    no_folder = cli("import", good, "--photos", tmp_path / "nowhere", "--consent-given")
    assert no_folder.code == 1 and "photo folder" in no_folder.err
    assert count_rows(db_file, "employees") == 0
