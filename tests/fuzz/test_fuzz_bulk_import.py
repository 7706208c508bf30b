"""Fuzzing the CSV import: whatever file an office hands over (any encoding, delimiter,
quoting, stray NULs and line breaks, wrong or repeated columns, rows too short or too long),
the import either refuses the whole file with an :class:`ImportFileError` or returns a report
that accounts for every row, with a reason for each rejected one. It never crashes and never
files a row under "unexpected error"."""

from __future__ import annotations

import shutil

import pytest
from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from turnstile.app import AppContext
from turnstile.config import Settings
from turnstile.services.bulk_import import (
    ImportFileError,
    read_import_csv,
    run_import,
)
from turnstile.storage import repositories as repo

STATUSES = {"imported", "skipped", "rejected"}


@pytest.fixture(scope="module")
def rig(tmp_path_factory, photo_pipeline, shared_data):
    folder = tmp_path_factory.mktemp("fuzz_import")
    photos = folder / "photos"
    photos.mkdir()
    shutil.copy(shared_data / "people" / "Barack_Obama" / "obama.jpg", photos / "face.jpg")
    (photos / "junk.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (photos / "sub").mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TURNSTILE_HOME", str(folder / "home"))
        context = AppContext(Settings(), database_url=f"sqlite:///{folder / 'fuzz.db'}")
        context._photo_pipeline = photo_pipeline
        yield context, photos, folder
        context.close()


_cells = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["face.jpg", "junk.jpg", "sub", "../face.jpg", "missing.png", "yes", "no",
                     "perhaps", "", " ", "\"", "\"\"", "a,b", "a;b", "a\tb", "line\nbreak",
                     "E1", "E1 ", "Zoë", "李小龍", "\x00", "'; DROP TABLE employees; --",
                     "\ufeff", "\r", "N" * 300]),
)
_header_names = st.sampled_from(["employee_number", "Employee Number", "number", "name",
                                 "full_name", "photo", "Photo_Path", "department", "dept",
                                 "consent", "badge", "", "name", "photo"])
FULL_HEADER = ["employee_number", "name", "department", "photo", "consent"]
_headers = st.one_of(
    st.just(FULL_HEADER),
    st.just(FULL_HEADER),
    st.just(FULL_HEADER),
    st.just(["Employee Number", "Full Name", "Photo"]),
    st.lists(_header_names, min_size=0, max_size=7),
)
_plausible_rows = st.tuples(
    st.one_of(st.sampled_from(["E1", "E2", "E3", " E4 ", "E1"]), _cells),  # number
    st.one_of(st.sampled_from(["Ann", "Zoë Ñúñez", "O'Brien, Pat"]), _cells),  # name
    _cells,  # department
    st.sampled_from(["face.jpg", "junk.jpg", "sub", "missing.png", "", "sub\\..\\face.jpg"]),
    st.sampled_from(["yes", "no", "", "Y", "perhaps"]),  # consent
).map(list)
_rows = st.lists(st.one_of(_plausible_rows, _plausible_rows,
                           st.lists(_cells, min_size=0, max_size=7)), max_size=5)
_encodings = st.sampled_from(["utf-8", "utf-8", "utf-8", "utf-8-sig", "utf-8-sig", "utf-16",
                              "cp1252", "latin-1", "utf-16-le", "utf-32"])


def _render(header, rows, delimiter, quote_all, line_end):
    def cell(text):
        if quote_all or any(c in text for c in (delimiter, '"', "\n", "\r")):
            return '"' + text.replace('"', '""') + '"'
        return text
    lines = [delimiter.join(cell(c) for c in header)]
    lines += [delimiter.join(cell(c) for c in row) for row in rows]
    return line_end.join(lines) + line_end


def _encode(text, encoding):
    return text.encode(encoding, errors="replace" if encoding.startswith("utf") else "ignore")


def check_report(report, csv_rows):
    assert report.total == csv_rows
    assert len(report.results) + report.not_processed == report.total
    assert report.not_processed == 0 or report.aborted or report.cancelled
    previous = 0
    for result in report.results:
        event(f"row {result.status} ({result.code})")  # --hypothesis-show-statistics
        assert result.status in STATUSES
        assert result.row > previous  # file order, spreadsheet line numbers
        previous = result.row
        if result.status == "rejected":
            assert result.code and result.reason, result
            assert result.code != "error", f"an unexpected error on row {result.row}: " \
                                            f"{result.reason}"
        if result.status == "imported":
            assert result.employee_id is not None and result.template_id is not None
    assert report.to_text() and report.to_json()["total"] == report.total


@settings(max_examples=60)
@given(header=_headers,
       rows=_rows,
       delimiter=st.sampled_from([",", ",", ";", "\t", "|"]),
       quote_all=st.booleans(),
       line_end=st.sampled_from(["\n", "\r\n", "\r"]),
       encoding=_encodings,
       consent_given=st.booleans())
@example(header=["employee_number", "name", "photo", "consent"],
         rows=[["E1", "Barack Obama", "face.jpg", "yes"], ["E1", "Again", "face.jpg", "yes"],
               ["E2", "'; DROP TABLE employees; --", "face.jpg", "yes"],
               ["E3", "Junk", "junk.jpg", "yes"], ["E4", "Dir", "sub", "yes"]],
         delimiter=";", quote_all=False, line_end="\r\n", encoding="utf-8-sig",
         consent_given=False)
def test_generated_csv_files(rig, header, rows, delimiter, quote_all, line_end, encoding,
                             consent_given):
    ctx, photos, folder = rig
    path = folder / "generated.csv"
    path.write_bytes(_encode(_render(header, rows, delimiter, quote_all, line_end), encoding))
    with ctx.db.session() as s:
        before = repo.count_employees(s)
    try:
        parsed = read_import_csv(path)
    except ImportFileError as exc:
        event("file refused")
        assert str(exc).strip()
        with pytest.raises(ImportFileError):
            run_import(ctx.enrollment, path, photos, consent_given=consent_given, force=True)
        return
    report = run_import(ctx.enrollment, path, photos, consent_given=consent_given, force=True)
    check_report(report, len(parsed.rows))
    with ctx.db.session() as s:
        assert repo.count_employees(s) == before + len(report.imported)


@settings(max_examples=120)
@given(st.binary(max_size=2048))
@example(b"employee_number,name,photo\n\"unterminated,x,y\n")
@example(b"\xff\xfeemployee_number,name,photo\n")  # a UTF-16 BOM then bytes that are not
@example(b"employee_number\x00,name,photo\n")
@example(b"employee_number,name,photo\n" + b"E,N,P\n" * 3 + b"\x81\x8d\x8f\x90\x9d")
def test_random_bytes_as_the_csv_file(rig, data):
    ctx, photos, folder = rig
    path = folder / "random.csv"
    path.write_bytes(data)
    try:
        parsed = read_import_csv(path)
    except ImportFileError as exc:
        assert str(exc).strip()
        return
    report = run_import(ctx.enrollment, path, photos, consent_given=True, force=True)
    check_report(report, len(parsed.rows))
