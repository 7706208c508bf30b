"""Erasing a person also erases them from the migration backups beside an SQLite database
(``turnstile.db.bak-*``), old plain ones included; a backup that cannot be cleaned is
reported and does not stop the erasure."""

from __future__ import annotations

import hashlib
import logging
import shutil
import sqlite3
from pathlib import Path

import cv2
import numpy as np
import pytest
from privacy_support import MODEL, add_person, raw_bytes, unit

from turnstile.services import privacy
from turnstile.services.privacy import erase_employee, protect_legacy_data
from turnstile.storage import repositories as repo
from turnstile.storage.db import (
    Database,
    backup_files,
    backup_sqlite,
    make_engine,
    open_database,
    upgrade,
)
from turnstile.storage.errors import EmployeeNotFound

LEAVER_NUMBER, LEAVER_NAME = "LEAVER-0042", "Zebulon Quartermaine"
STAYER_NUMBER, STAYER_NAME = "E2", "Staying Person"
OLD_AT = "2024-01-01 00:00:00.000000"
WINDOW = 48
"""Bytes compared at a time: long enough never to occur by chance in a database file."""


def _jpeg(bgr: np.ndarray, rows: slice, cols: slice, size_px: int) -> bytes:
    ok, buf = cv2.imencode(".jpg", cv2.resize(bgr[rows, cols], (size_px, size_px)),
                           [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    return buf.tobytes()


def _windows(blob: bytes) -> list[bytes]:
    """Four pieces spread over a value, none at its very start: JPEGs of the same quality
    begin with the same headers, so only the picture data after them tells two apart."""
    return [blob[start:start + WINDOW]
            for start in (len(blob) // 4, len(blob) // 2, 3 * len(blob) // 4,
                          len(blob) - WINDOW)]


def _holds_any(data: bytes, blob: bytes) -> bool:
    return any(window in data for window in _windows(blob))


def _holds_all(data: bytes, blob: bytes) -> bool:
    return all(window in data for window in _windows(blob))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _query(path: Path, sql: str, *params: object) -> list[tuple]:
    connection = sqlite3.connect(path)
    try:
        return connection.execute(sql, params).fetchall()
    finally:
        connection.close()


def _person_blobs(path: Path, employee_id: int) -> list[bytes]:
    """Every template value and snapshot of one person in a file, whatever its revision."""
    template_columns = {row[1] for row in _query(path, "PRAGMA table_info(face_templates)")}
    wanted = [c for c in ("embedding", "face_crop", "confirm_embedding")
              if c in template_columns]
    blobs = [b for row in _query(path, f"SELECT {', '.join(wanted)} FROM face_templates "
                                       "WHERE employee_id = ?", employee_id) for b in row if b]
    blobs += [row[0] for row in _query(path, "SELECT snapshot FROM access_events WHERE "
                                             "employee_id = ? AND snapshot IS NOT NULL",
                                       employee_id)]
    return blobs


def _build_database_at_0002(db_url: str, leaver_crop: bytes, leaver_snap: bytes,
                            stayer_crop: bytes, stayer_snap: bytes) -> None:
    """A database from before encryption: plain embeddings, crops and snapshots."""
    engine = make_engine(db_url)
    try:
        upgrade(engine, "0002")
        with engine.begin() as c:
            for number, name in ((LEAVER_NUMBER, LEAVER_NAME), (STAYER_NUMBER, STAYER_NAME)):
                c.exec_driver_sql(
                    "INSERT INTO employees (employee_number, name, status, created_at, "
                    "updated_at) VALUES (?, ?, 'active', ?, ?)", (number, name, OLD_AT, OLD_AT))
            for employee_id, crop in ((1, leaver_crop), (2, stayer_crop)):
                c.exec_driver_sql(
                    "INSERT INTO face_templates (employee_id, embedding, dim, model_id, source, "
                    "face_crop, created_at) VALUES (?, ?, 128, ?, 'photo', ?, ?)",
                    (employee_id, unit(employee_id).tobytes(), MODEL, crop, OLD_AT))
            c.exec_driver_sql("INSERT INTO doors (name, created_at) VALUES ('D', ?)", (OLD_AT,))
            for employee_id, snap, count in ((1, leaver_snap, 3), (2, stayer_snap, 1)):
                for i in range(count):
                    c.exec_driver_sql(
                        "INSERT INTO access_events (at, door_id, employee_id, decision, score, "
                        "snapshot) VALUES (?, 1, ?, 'granted', 0.97, ?)",
                        (f"2024-01-0{i + 2} 08:00:00.00000{employee_id}", employee_id, snap))
    finally:
        engine.dispose()


def test_erasure_cleans_every_backup_old_and_new_and_reports_the_rest(
        db_path: Path, db_url: str, astronaut_bgr: np.ndarray,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    leaver_crop = _jpeg(astronaut_bgr, slice(0, 220), slice(140, 330), 150)
    leaver_crop_2 = _jpeg(astronaut_bgr, slice(10, 230), slice(150, 340), 150)
    leaver_snap = _jpeg(astronaut_bgr, slice(0, 512), slice(0, 512), 400)
    stayer_crop = _jpeg(astronaut_bgr, slice(250, 470), slice(200, 420), 150)
    stayer_snap = _jpeg(astronaut_bgr, slice(100, 512), slice(50, 462), 300)
    _build_database_at_0002(db_url, leaver_crop, leaver_snap, stayer_crop, stayer_snap)

    # The real start-up path: back up the 0002 file, migrate, encrypt the plain rows.
    db = open_database(db_url)
    try:
        (old_backup,) = backup_files(db_path)
        assert old_backup.name.startswith("turnstile.db.bak-0002-")
        protect_legacy_data(db)
        with db.session() as s:  # one more template, with a confirming embedding, at head
            repo.add_template(s, 1, embedding=unit(11), model_id=MODEL, source="photo",
                              face_crop=leaver_crop_2, confirm_embedding=unit(1011),
                              confirm_model_id="sface@test")
        head_backup = backup_sqlite(db_path, "0005")
        other_person = db_path.with_name("turnstile.db.bak-0004-20240101T000000Z")
        shutil.copyfile(head_backup, other_person)
        with sqlite3.connect(other_person) as c:  # id 1 is somebody else in this one
            c.execute("UPDATE employees SET employee_number = 'SOMEONE-ELSE' WHERE id = 1")
        c.close()
        garbage = db_path.with_name("turnstile.db.bak-0003-20240101T000000Z")
        garbage.write_bytes(b"not a database at all " * 400)
        partial = db_path.with_name(head_backup.name + "-1.partial")
        shutil.copyfile(old_backup, partial)  # a copy being written: not ours to change

        gone = {path: _person_blobs(path, 1) for path in (old_backup, head_backup)}
        kept = {path: _person_blobs(path, 2) for path in (old_backup, head_backup)}
        assert len(gone[old_backup]) == 2 + 3 and len(gone[head_backup]) == 2 + 3 + 3
        assert unit(1).tobytes() in gone[old_backup] and leaver_crop in gone[old_backup]
        for path, blobs in gone.items():
            assert all(_holds_all(raw_bytes(path), b) for b in blobs)
        untouched = {p: _sha256(p) for p in (other_person, partial)}
        events_before = {p: _query(p, "SELECT id, at, decision FROM access_events ORDER BY id")
                         for p in (old_backup, head_backup)}

        report = erase_employee(db, 1)

        with db.session() as s, pytest.raises(EmployeeNotFound):
            repo.get_employee(s, 1)
    finally:
        db.dispose()

    assert [b.path for b in report.backups] == sorted(
        [old_backup, head_backup, other_person, garbage])
    by_path = {b.path: b for b in report.backups}
    assert by_path[old_backup] == privacy.BackupCleanup(old_backup, 1, 3, 3)
    assert by_path[head_backup] == privacy.BackupCleanup(head_backup, 2, 3, 3)
    assert [b.path for b in report.backups_cleaned] == [old_backup, head_backup]
    assert {b.path for b in report.backups_failed} == {other_person, garbage}
    assert "not a database" in (by_path[garbage].problem or "")
    assert "different employee number" in (by_path[other_person].problem or "")

    for path in (old_backup, head_backup):
        stolen = raw_bytes(path)
        for blob in gone[path]:
            assert not _holds_any(stolen, blob), path.name
        for text in (LEAVER_NAME, LEAVER_NUMBER):
            assert text.encode() not in stolen
        assert not path.with_name(path.name + "-wal").exists()
        # Compacted, not only zeroed (this SQLite may zero freed space by default anyway).
        assert _query(path, "PRAGMA freelist_count") == [(0,)]
        # Everybody else is intact, and the person's events stay, tied to nobody.
        assert _person_blobs(path, 2) == kept[path]
        assert all(_holds_all(stolen, b) for b in kept[path])
        assert _query(path, "SELECT name FROM employees") == [(STAYER_NAME,)]
        assert _query(path, "SELECT id, at, decision FROM access_events ORDER BY id") \
            == events_before[path]
        assert _query(path, "SELECT count(*) FROM access_events WHERE employee_id IS NULL "
                            "AND snapshot IS NULL") == [(3,)]
        assert _query(path, "PRAGMA integrity_check") == [("ok",)]
    assert _query(old_backup, "SELECT version_num FROM alembic_version") == [("0002",)]
    assert _query(head_backup, "SELECT count(*) FROM access_events WHERE subject_salt IS "
                               "NULL AND subject_hash IS NOT NULL") == [(3,)]
    assert {p: _sha256(p) for p in untouched} == untouched

    summary = report.backup_summary()
    assert summary.startswith("2 database backups cleaned; 2 could not be cleaned")
    assert str(garbage) in summary and str(other_person) in summary
    warned = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert str(garbage) in warned and str(other_person) in warned
    logged = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    for secret in (LEAVER_NAME, LEAVER_NUMBER, "SOMEONE-ELSE"):
        assert secret not in logged
    for blob in (leaver_crop, leaver_snap, unit(1).tobytes()):
        assert blob[:16].hex() not in logged and repr(blob[:16])[2:-1] not in logged


def test_a_locked_backup_is_reported_and_the_erasure_stands(
        db: Database, db_path: Path, face_jpeg: bytes, snapshot_jpeg: bytes,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(privacy, "BACKUP_BUSY_TIMEOUT_S", 0.1)
    leaving = add_person(db, LEAVER_NUMBER, LEAVER_NAME, seed=1, crop=face_jpeg, events=2,
                         snapshot=snapshot_jpeg)
    backup = backup_sqlite(db_path, "0005")
    blobs = _person_blobs(backup, leaving)
    holder = sqlite3.connect(backup, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # somebody's tool is writing to it
        report = erase_employee(db, leaving)
    finally:
        holder.close()

    with db.session() as s:
        assert repo.count_events(s) == 2
        with pytest.raises(EmployeeNotFound):
            repo.get_employee(s, leaving)
    assert not any(_holds_any(raw_bytes(db_path), b) for b in blobs)
    assert report.counts == repo.DeletionCounts(templates=1, snapshots=2, events_unlinked=2)
    (failed,) = report.backups_failed
    assert failed.path == backup and "locked" in (failed.problem or "")
    assert report.backups_cleaned == ()
    assert report.backup_summary().startswith(
        "0 database backups cleaned; 1 could not be cleaned and may still hold this person's "
        "face data (delete it,")
    assert _person_blobs(backup, leaving) == blobs  # left as it was, and said so


def test_a_backup_that_refuses_a_change_is_left_whole(
        db: Database, db_path: Path, face_jpeg: bytes, snapshot_jpeg: bytes) -> None:
    """A trigger that forbids the last change (none of ours, but a backup may have been
    opened with a tool) rolls back everything done to that backup; it is reported."""
    leaving = add_person(db, LEAVER_NUMBER, LEAVER_NAME, seed=1, crop=face_jpeg, events=1,
                         snapshot=snapshot_jpeg)
    backup = backup_sqlite(db_path, "0005")
    with sqlite3.connect(backup) as c:
        c.execute("CREATE TRIGGER keep_people BEFORE DELETE ON employees "
                  "BEGIN SELECT RAISE(ABORT, 'people are kept here'); END")
    c.close()
    before, blobs = _sha256(backup), _person_blobs(backup, leaving)
    assert len(blobs) == 3 + 1

    report = erase_employee(db, leaving)

    (failed,) = report.backups
    assert failed.path == backup and failed.problem == "people are kept here"
    # Nothing half done: the snapshot and templates erased before the refusal are back.
    assert _sha256(backup) == before and _person_blobs(backup, leaving) == blobs


def test_a_backup_from_before_the_person_is_clean_without_changes(
        db: Database, db_path: Path, face_jpeg: bytes) -> None:
    add_person(db, STAYER_NUMBER, STAYER_NAME, seed=2, crop=face_jpeg)
    backup = backup_sqlite(db_path, "0004")
    before = _sha256(backup)
    leaving = add_person(db, LEAVER_NUMBER, LEAVER_NAME, seed=1, crop=face_jpeg)

    report = erase_employee(db, leaving)

    assert report.backups == (privacy.BackupCleanup(backup),)
    assert report.backup_summary() == "1 database backup cleaned."
    assert _sha256(backup) == before


def test_without_backups_the_report_says_nothing_about_them(
        db: Database, face_jpeg: bytes) -> None:
    leaving = add_person(db, LEAVER_NUMBER, LEAVER_NAME, seed=1, crop=face_jpeg, events=1)
    report = erase_employee(db, leaving)
    assert report.backups == () and report.backup_summary() == ""
    # The report reads like the DeletionCounts callers had before.
    assert (report.templates, report.snapshots, report.events_unlinked) == (1, 0, 1)


def test_backup_files_are_the_finished_backups_of_that_database_only(tmp_path: Path) -> None:
    path = tmp_path / "door[1]*.db"  # glob characters in the name are taken literally
    names = ["door[1]*.db.bak-0002-20240101T000000Z", "door[1]*.db.bak-base-20240101T000000Z-1",
             "door[1]*.db.bak-0005-20240102T000000Z.partial",
             "door[1]*.db.bak-0002-20240101T000000Z-wal",
             "door[1]*.db.bak-0002-20240101T000000Z-shm",
             "door[1]*.db.bak-0002-20240101T000000Z-journal",
             "door1x.db.bak-0002-20240101T000000Z", "door[1]*.db-wal", "door[1]*.db"]
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "door[1]*.db.bak-folder").mkdir()
    assert backup_files(path) == [tmp_path / names[0], tmp_path / names[1]]
