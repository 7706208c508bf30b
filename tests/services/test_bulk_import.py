"""Bulk import as the CLI and the window use it: reading real-world CSV files, one transaction
per row, a report that says what happened to every row, progress, cancel, idempotent re-runs."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import cv2
import pytest

from turnstile.services.bulk_import import (
    ImportFileError,
    read_import_csv,
    run_import,
)
from turnstile.services.enrollment import EnrollmentService
from turnstile.storage import repositories as repo
from turnstile.vision.imageio import read_image

HEADER = "employee_number,name,department,photo"


def _write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


# --- reading the file (no models needed) ----------------------------------------------------


def test_excel_style_file_bom_semicolons_blank_lines_quotes_unicode(tmp_path):
    csv_file = _write(tmp_path / "staff.csv", (
        "\ufeffEmployee Number;Name;Department;Photo;Consent;Badge colour\r\n"
        "\r\n"
        "E1;Zoë Ñúñez 李小龍;\"R&D; Lab 2\";zoe.jpg;Yes;red\r\n"
        ";;;;;\r\n"
        "E2;\"O'Brien, \"\"Pat\"\"\";;pat.png;;\r\n"
        "\r\n"
    ))
    parsed = read_import_csv(csv_file)
    assert (parsed.encoding, parsed.delimiter) == ("utf-8", ";")
    assert parsed.notes == ["columns ignored: badge_colour"]
    assert [(r.row, r.employee_number, r.name, r.department, r.photo, r.consent, r.problem)
            for r in parsed.rows] == [
        (3, "E1", "Zoë Ñúñez 李小龍", "R&D; Lab 2", "zoe.jpg", True, None),
        (5, "E2", "O'Brien, \"Pat\"", None, "pat.png", None, None),
    ]


def test_tabs_windows_1252_and_utf16_files_are_read(tmp_path):
    tabs = read_import_csv(_write(tmp_path / "t.csv", "employee_number\tname\tphoto\n"
                                                      "E1\tAnn, Jr\ta.jpg\n"))
    assert tabs.delimiter == "\t" and tabs.rows[0].name == "Ann, Jr"
    latin = read_import_csv(_write(tmp_path / "l.csv", f"{HEADER}\nE1,Zoë Müller,,a.jpg\n",
                                   encoding="cp1252"))
    assert latin.encoding == "cp1252" and latin.rows[0].name == "Zoë Müller"
    assert "Windows-1252" in latin.notes[0]
    utf16 = read_import_csv(_write(tmp_path / "u.csv", f"{HEADER}\nE1,李小龍,,a.jpg\n",
                                   encoding="utf-16"))
    assert utf16.rows[0].name == "李小龍"


def test_malformed_rows_are_kept_with_the_problem(tmp_path):
    parsed = read_import_csv(_write(tmp_path / "bad.csv", (
        f"{HEADER},consent\n"
        "E1,Ann,Sales,a.jpg,yes,,\n"          # trailing empty cells: fine
        "E2,Smith, John,Sales,b.jpg,yes\n"    # an unquoted comma
        "E3,Bob\n"                            # values missing
        "E4,Eve,,e.jpg,perhaps\n"             # consent neither yes nor no
        "E5,Dan,,d.jpg,NO\n"
    )))
    problems = {r.employee_number: r.problem for r in parsed.rows}
    assert problems["E1"] is None
    assert "comma that is not in quotes" in problems["E2"]
    assert "missing delimiter" in problems["E3"]
    assert "'perhaps'" in problems["E4"]
    assert problems["E5"] is None and parsed.rows[4].consent is False


@pytest.mark.parametrize(("content", "message"), [
    (b"", "is empty"),
    (b"\n\n  \n", "is empty"),
    (b"name,photo\nAnn,a.jpg\n", "lacks the column employee_number"),
    (b"employee_number,name,photo,name\n", "has the column name more than once"),
    (b"PK\x03\x04\x00\x00binary spreadsheet", "not a CSV text file"),
])
def test_unusable_files_are_refused_whole(tmp_path, content, message):
    path = tmp_path / "x.csv"
    path.write_bytes(content)
    with pytest.raises(ImportFileError, match=message):
        read_import_csv(path)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ImportFileError, match="does not exist"):
        read_import_csv(tmp_path / "nope.csv")
    with pytest.raises(ImportFileError, match="is a folder"):
        read_import_csv(tmp_path)


# --- importing (real models, real photos) ---------------------------------------------------


@pytest.fixture
def photo_dir(tmp_path, shared_data):
    """Real photos copied into tmp_path at test time, plus a blurred and a blank picture."""
    people = shared_data / "people"
    folder = tmp_path / "photos"
    folder.mkdir()
    for source, name in (("Barack_Obama/obama.jpg", "obama.jpg"),
                         ("Barack_Obama/obama2.jpg", "obama2.jpg"),
                         ("Kit_Harington/john1.jpeg", "kit.jpeg"),
                         ("Rose_Leslie/img1.jpg", "rose.jpg"),
                         ("Joe_Biden/biden2.jpg", "biden.jpg")):
        shutil.copy(people / source, folder / name)
    shutil.copy(shared_data / "group_photos" / "two_people.jpg", folder / "group.jpg")
    blurred = cv2.GaussianBlur(read_image(people / "Alex_Lacamoire" / "alex_lacamoire1.jpg"),
                               (0, 0), 6)
    cv2.imwrite(str(folder / "blurred.jpg"), blurred)
    cv2.imwrite(str(folder / "blank.png"), blurred[:50, :50] * 0 + 127)
    (folder / "notes.jpg").write_text("not a picture")
    return folder


STAFF = (
    f"{HEADER},consent\n"
    "A1,Barack Obama,Executive,obama.jpg,yes\n"        # 2 imported
    "A2,Kit Harington,Acting,kit.jpeg,\n"              # 3 imported (--consent-given)
    "A3,Nobody,,blank.png,yes\n"                       # 4 no face
    "A4,Two People,,group.jpg,yes\n"                   # 5 several faces
    "A5,Blurry,,blurred.jpg,yes\n"                     # 6 poor quality
    "A6,Barry,,obama2.jpg,yes\n"                       # 7 duplicate face of A1
    "A7,,,rose.jpg,yes\n"                              # 8 bad name
    "A8,Ghost,,ghost.jpg,yes\n"                        # 9 missing photo
    "A9,Notes,,notes.jpg,yes\n"                        # 10 not an image
    "A1,Again,,rose.jpg,yes\n"                         # 11 number twice in the file
    "A10,Rose Leslie,,rose.jpg,no\n"                   # 12 consent refused
    "A11,Short row\n"                                  # 13 malformed
    "A12,Joe Biden,,biden.jpg,yes\n"                   # 14 imported
)


def _db_counts(ctx):
    with ctx.db.session() as s:
        return repo.count_employees(s), sum(
            len(repo.list_templates(s, e.id)) for e in repo.list_employees(s))


def test_report_says_what_happened_to_every_row_and_rerun_is_idempotent(ctx, tmp_path,
                                                                        photo_dir):
    csv_file = _write(tmp_path / "staff.csv", STAFF)
    seen = []
    report = run_import(ctx.enrollment, csv_file, photo_dir, consent_given=True,
                        progress=lambda done, total, result: seen.append((done, total,
                                                                          result.row)))
    assert seen == [(i + 1, 13, i + 2) for i in range(13)]
    assert [(r.row, r.status, r.code) for r in report.results] == [
        (2, "imported", None), (3, "imported", None), (4, "rejected", "no_face"),
        (5, "rejected", "several_faces"), (6, "rejected", "poor_quality"),
        (7, "rejected", "duplicate_face"), (8, "rejected", "bad_details"),
        (9, "rejected", "missing_photo"), (10, "rejected", "bad_photo"),
        (11, "rejected", "duplicate_in_file"), (12, "rejected", "no_consent"),
        (13, "rejected", "bad_row"), (14, "imported", None),
    ]
    reasons = {r.row: r.reason for r in report.rejected}
    assert "blurred" in reasons[6]
    assert "Barack Obama (employee A1)" in reasons[7]
    assert "name must not be empty" in reasons[8]
    assert "row 2" in reasons[11]
    assert not report.ok and report.not_processed == 0
    assert report.summary() == ("3 imported, 0 skipped (already enrolled), 10 rejected, "
                                "of 13 rows.")
    assert "  row 9 (A8): The photo" in report.to_text()
    assert _db_counts(ctx) == (3, 3)
    imported = {r.employee_number: r.employee_id for r in report.imported}
    with ctx.db.session() as s:
        kit = repo.get_employee(s, imported["A2"])
        assert (kit.name, kit.department, kit.consent_at is not None) == (
            "Kit Harington", "Acting", True)
        assert repo.list_templates(s, kit.id)[0].source == "import"

    again = run_import(ctx.enrollment, csv_file, photo_dir, consent_given=True)
    assert [r.row for r in again.skipped] == [2, 3, 14]
    assert {r.employee_id for r in again.skipped} == set(imported.values())
    assert [r.row for r in again.rejected] == [r.row for r in report.rejected]
    assert again.imported == []
    assert _db_counts(ctx) == (3, 3)


def test_the_people_imported_are_recognised(ctx, tmp_path, photo_dir, shared_data):
    csv_file = _write(tmp_path / "staff.csv", f"{HEADER}\nK1,Kit Harington,,kit.jpeg\n")
    assert run_import(ctx.enrollment, csv_file, photo_dir, consent_given=True).ok
    answer = ctx.recognition.identify(str(shared_data / "people" / "Kit_Harington" /
                                          "john2.jpeg"))
    assert answer.granted and answer.person.employee_number == "K1"


def test_force_enrolls_a_likely_duplicate_with_a_warning(ctx, tmp_path, photo_dir):
    csv_file = _write(tmp_path / "staff.csv", f"{HEADER}\nB1,Barack,,obama.jpg\n"
                                              f"B2,Barry,,obama2.jpg\n")
    report = run_import(ctx.enrollment, csv_file, photo_dir, consent_given=True, force=True)
    assert report.ok and len(report.imported) == 2
    assert "B1" in report.imported[1].warnings[0]
    assert "Warnings:" in report.to_text()


def test_cancel_stops_between_rows_and_a_rerun_finishes(ctx, tmp_path, photo_dir):
    csv_file = _write(tmp_path / "staff.csv", f"{HEADER}\nC1,Barack,,obama.jpg\n"
                                              f"C2,Kit,,kit.jpeg\nC3,Rose,,rose.jpg\n")
    cancel = threading.Event()
    report = run_import(ctx.enrollment, csv_file, photo_dir, consent_given=True,
                        progress=lambda *_: cancel.set(), cancel=cancel)
    assert report.cancelled and not report.ok
    assert [r.employee_number for r in report.imported] == ["C1"]
    assert report.not_processed == 2
    assert "2 not processed" in report.summary() and "cancelled" in report.to_text()
    assert _db_counts(ctx) == (1, 1)

    rest = run_import(ctx.enrollment, csv_file, photo_dir, consent_given=True)
    assert rest.ok
    assert [r.employee_number for r in rest.skipped] == ["C1"]
    assert [r.employee_number for r in rest.imported] == ["C2", "C3"]
    assert _db_counts(ctx) == (3, 3)


def test_a_number_enrolled_meanwhile_by_someone_else_is_skipped(ctx, tmp_path, photo_dir):
    """Another station enrolls the same number between the check and the insert."""

    class RacingEnrollment(EnrollmentService):
        def enroll(self, photo, **kwargs):
            with self.db.session() as s:  # the other station's commit
                repo.create_employee(s, employee_number=kwargs["employee_number"],
                                     name="Enrolled elsewhere")
            return super().enroll(photo, **kwargs)

    racing = RacingEnrollment(ctx.db, ctx.photo_pipeline, ctx.galleries)
    csv_file = _write(tmp_path / "staff.csv", f"{HEADER}\nR1,Rose,,rose.jpg\n")
    report = run_import(racing, csv_file, photo_dir, consent_given=True)
    assert [(r.status, r.code) for r in report.results] == [("skipped", "already_enrolled")]
    assert _db_counts(ctx) == (1, 0)  # the other station's person only; nothing of ours


def test_photo_folder_must_exist(ctx, tmp_path):
    csv_file = _write(tmp_path / "staff.csv", f"{HEADER}\nR1,Rose,,rose.jpg\n")
    with pytest.raises(ImportFileError, match="photo folder"):
        run_import(ctx.enrollment, csv_file, tmp_path / "nowhere", consent_given=True)


def test_windows_paths_in_the_photo_column(ctx, tmp_path, photo_dir):
    (photo_dir / "team").mkdir()
    shutil.copy(photo_dir / "kit.jpeg", photo_dir / "team" / "kit.jpeg")
    csv_file = _write(tmp_path / "staff.csv", f"{HEADER}\nW1,Kit,,team\\kit.jpeg\n")
    report = run_import(ctx.enrollment, csv_file, photo_dir, consent_given=True)
    assert report.ok, report.to_text()
