"""Erasure with compaction, export of one person's data, the retention policy, and nothing
biometric in the logs."""

from __future__ import annotations

import json
import logging
import sqlite3
import stat
from datetime import timedelta
from pathlib import Path

import pytest
from privacy_support import MODEL, add_events, add_person, key_files, raw_bytes

from turnstile.config import Settings
from turnstile.matching.door_policy import FACE_NOT_CLAIMED
from turnstile.services import log_chain
from turnstile.services.people import PeopleService
from turnstile.services.privacy import export_data
from turnstile.services.retention import run_retention
from turnstile.storage import crypto
from turnstile.storage import repositories as repo
from turnstile.storage.db import Database
from turnstile.storage.errors import EmployeeNotFound
from turnstile.storage.models import utcnow


def _stored_blobs(db_path: Path, employee_id: int) -> list[bytes]:
    """What is in the file for one person: their ciphertexts, as a thief would see them."""
    connection = sqlite3.connect(db_path)
    try:
        blobs = [b for row in connection.execute(
            "SELECT embedding, face_crop FROM face_templates WHERE employee_id = ?",
            (employee_id,)) for b in row if b]
        blobs += [row[0] for row in connection.execute(
            "SELECT snapshot FROM access_events WHERE employee_id = ? AND snapshot IS NOT NULL",
            (employee_id,))]
    finally:
        connection.close()
    return blobs


def test_delete_erases_the_persons_bytes_from_the_file_and_wal(
        db: Database, db_path: Path, face_jpeg: bytes, snapshot_jpeg: bytes) -> None:
    leaving = add_person(db, "LEAVER-0042", "Zebulon Quartermaine", seed=1, crop=face_jpeg,
                         events=3, snapshot=snapshot_jpeg)
    staying = add_person(db, "E2", "Staying", seed=2, crop=face_jpeg, events=1,
                         snapshot=snapshot_jpeg)
    gone = _stored_blobs(db_path, leaving)
    kept = _stored_blobs(db_path, staying)
    assert len(gone) == 5 and all(b[:48] in raw_bytes(db_path) for b in gone)

    counts = PeopleService(db).delete_person(leaving)

    assert (counts.templates, counts.snapshots, counts.events_unlinked) == (1, 3, 3)
    stolen = raw_bytes(db_path)
    for blob in gone:  # every 48-byte window of the start, middle and end of each value
        for start in (0, len(blob) // 2, len(blob) - 48):
            assert blob[start:start + 48] not in stolen
    assert b"Zebulon Quartermaine" not in stolen and b"LEAVER-0042" not in stolen
    wal = db_path.with_name(db_path.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0
    assert all(b[:48] in stolen for b in kept)
    with db.session() as s:
        assert repo.count_events(s) == 4  # the events stay, tied to nobody
        assert repo.list_templates(s, staying)[0].face_crop == face_jpeg
    assert log_chain.verify(db).ok


def test_export_data_writes_everything_stored_about_one_person(
        db: Database, tmp_path: Path, face_jpeg: bytes, snapshot_jpeg: bytes) -> None:
    employee_id = add_person(db, "E-7", "Ada Lovelace", seed=1, crop=face_jpeg, events=2,
                             snapshot=snapshot_jpeg)
    with db.session() as s:
        repo.update_employee(s, employee_id, consent_at=utcnow(), consent_text_version="v2")
        repo.add_event(s, door_id=1, decision="denied", employee_id=employee_id,
                       reason="outside hours")
        # 1:1 mode: somebody typed her number, the face was another one: his picture
        repo.add_event(s, door_id=1, decision="denied", employee_id=employee_id,
                       reason=FACE_NOT_CLAIMED, snapshot=b"\xff\xd8someone else's face")
    add_person(db, "E-8", "Somebody Else", seed=2, crop=face_jpeg, events=1,
               snapshot=snapshot_jpeg)

    report = export_data(db, employee_id, tmp_path / "out")

    folder = report.folder
    assert folder.parent == tmp_path / "out" and folder.name.startswith("turnstile-export-E-7-")
    assert (report.templates, report.photos, report.events, report.snapshots) == (1, 1, 4, 2)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    document = json.loads((folder / "personal_data.json").read_text(encoding="utf-8"))
    person = document["person"]
    assert (person["name"], person["employee_number"], person["consent_text_version"]) == (
        "Ada Lovelace", "E-7", "v2")
    assert person["consent_at"] is not None
    (template,) = document["face_templates"]
    assert template["model_id"] == MODEL and template["dimensions"] == 128
    assert "embedding" not in template
    assert (folder / template["photo"]).read_bytes() == face_jpeg
    events = document["access_events"]
    assert [e["decision"] for e in events] == ["granted", "granted", "denied", "denied"]
    assert events[2]["reason"] == "outside hours" and events[2]["snapshot"] is None
    # the passage with her number stays listed, without the other person's face
    assert events[3]["snapshot"] is None and "did not match" in events[3]["snapshot_withheld"]
    assert not any(b"someone else" in f.read_bytes() for f in folder.rglob("*") if f.is_file())
    for event in events[:2]:
        assert (folder / event["snapshot"]).read_bytes() == snapshot_jpeg
        assert stat.S_IMODE((folder / event["snapshot"]).stat().st_mode) == 0o600
    assert "Somebody Else" not in (folder / "personal_data.json").read_text(encoding="utf-8")
    assert "GDPR" in (folder / "README.txt").read_text(encoding="utf-8")
    with pytest.raises(EmployeeNotFound):
        export_data(db, 999, tmp_path / "out")


def test_export_without_the_key_leaves_nothing_behind(db: Database, tmp_path: Path,
                                                      face_jpeg: bytes) -> None:
    employee_id = add_person(db, "E1", "Ada", seed=1, crop=face_jpeg)
    (key_file,) = key_files()
    key_file.unlink()
    crypto.set_backend(crypto.FileKeyBackend(key_file.parent))
    try:
        with pytest.raises(crypto.KeyMissingError):
            export_data(db, employee_id, tmp_path / "out")
    finally:
        crypto.set_backend(None)
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_retention_erases_old_snapshots_events_and_long_suspended_people(
        db: Database, db_path: Path, face_jpeg: bytes, snapshot_jpeg: bytes) -> None:
    now = utcnow()
    with db.session() as s:
        door = repo.get_or_create_door(s, "Main").id
        old = [repo.add_event(s, door_id=door, decision="denied", snapshot=snapshot_jpeg,
                              at=now - timedelta(days=d)).id for d in (400, 100, 40)]
        new = repo.add_event(s, door_id=door, decision="denied", snapshot=snapshot_jpeg,
                             at=now - timedelta(days=1)).id
    long_gone = add_person(db, "S1", "Suspended long ago", seed=1, crop=face_jpeg)
    recent = add_person(db, "S2", "Suspended yesterday", seed=2, crop=face_jpeg)
    active = add_person(db, "A1", "Active", seed=3, crop=face_jpeg)
    with db.session() as s:
        repo.set_employee_status(s, long_gone, "suspended")
        repo.set_employee_status(s, recent, "suspended")
        s.get(repo.Employee, long_gone).suspended_at = now - timedelta(days=200)
    settings = Settings(retention_days_snapshots=30, retention_days_events=365,
                        retention_days_suspended=180)

    dry = run_retention(db, settings, now=now, dry_run=True)
    assert (dry.snapshots, dry.events, dry.people) == (3, 1, (long_gone,))
    with db.session() as s:
        assert repo.count_events(s) == 4 and repo.count_employees(s) == 3

    done = run_retention(db, settings, now=now)
    assert (done.snapshots, done.events, done.people) == (3, 1, (long_gone,))
    assert done.checkpoint_event_id == old[0]
    with db.session() as s:
        assert [e.id for e in repo.query_events(s, newest_first=False)] == [*old[1:], new]
        assert [repo.get_event_snapshot(s, i) for i in (*old[1:], new)] == [
            None, None, snapshot_jpeg]
        assert {e.id for e in repo.list_employees(s)} == {recent, active}
    assert log_chain.verify(db).ok
    assert run_retention(db, settings, now=now).changed is False


def test_retention_purges_only_an_unbroken_start_of_the_log(db: Database) -> None:
    """An event written late with an old time (from the spool) waits for the ones before."""
    now = utcnow()
    first = add_events(db, 2, at=now - timedelta(days=50))
    add_events(db, 1, at=now)
    late = add_events(db, 1, at=now - timedelta(days=50))
    report = run_retention(db, Settings(retention_days_events=30), now=now)
    assert report.events == 2 and report.checkpoint_event_id == first[-1]
    with db.session() as s:
        assert late[0] in {e.id for e in repo.query_events(s)}
    assert log_chain.verify(db).ok


def test_retention_without_the_key_still_erases_snapshots(db: Database,
                                                          snapshot_jpeg: bytes) -> None:
    now = utcnow()
    with db.session() as s:
        door = repo.get_or_create_door(s, "Main").id
        repo.add_event(s, door_id=door, decision="denied", snapshot=snapshot_jpeg,
                       at=now - timedelta(days=400))
        repo.add_event(s, door_id=door, decision="denied", at=now)
    (key_file,) = key_files()
    key_file.unlink()
    crypto.set_backend(crypto.FileKeyBackend(key_file.parent))
    try:
        report = run_retention(db, Settings(retention_days_snapshots=30,
                                            retention_days_events=365), now=now)
    finally:
        crypto.set_backend(None)
    assert report.snapshots == 1 and report.events == 0
    assert report.problems and "key" in report.problems[0]
    with db.session() as s:
        assert repo.count_events(s) == 2


def test_nothing_biometric_or_secret_reaches_the_logs(
        db: Database, tmp_path: Path, face_jpeg: bytes, snapshot_jpeg: bytes,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    employee_id = add_person(db, "E-LOG", "Hermione Logwatcher", seed=4, crop=face_jpeg,
                             events=2, snapshot=snapshot_jpeg)
    export_data(db, employee_id, tmp_path / "export")
    report = crypto.rotate_key(db)
    run_retention(db, Settings(retention_days_snapshots=1), now=utcnow() + timedelta(days=2))
    log_chain.verify(db)
    PeopleService(db).delete_person(employee_id)
    (key_file,) = key_files()
    key_text = key_file.read_text().strip()
    text = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert caplog.records and report.new_key_id in text  # key ids are fine, keys are not
    for secret in ("Hermione", "Logwatcher", key_text, key_text[:16]):
        assert secret not in text
    for blob in (face_jpeg, snapshot_jpeg):
        assert repr(blob[:16])[2:-1] not in text and blob[:16].hex() not in text
