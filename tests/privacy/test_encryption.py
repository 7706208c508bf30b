"""Encryption at rest: a stolen database file holds no face and no template; the key lives
outside it, in the keyring or a private key file; rotation; a missing key."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import keyring
import numpy as np
import pytest
from keyring.backend import KeyringBackend as BaseKeyring
from privacy_support import (
    CONFIRM_MODEL,
    CONFIRM_SEED,
    MODEL,
    add_person,
    key_files,
    raw_bytes,
    unit,
)

from turnstile.services import log_chain
from turnstile.services.privacy import protect_legacy_data
from turnstile.storage import crypto
from turnstile.storage import repositories as repo
from turnstile.storage.db import Database, make_engine, open_database, upgrade

JPEG_MAGIC = b"\xff\xd8\xff\xe0\x00\x10JFIF"
"""The start of every JPEG OpenCV writes (a 3-byte magic alone turns up in random bytes)."""


def _checkpoint(db: Database) -> None:
    with db.engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def test_a_stolen_database_file_holds_no_face_and_no_template(
        db: Database, db_path: Path, face_jpeg: bytes, snapshot_jpeg: bytes) -> None:
    employee_id = add_person(db, "E1", "Ada", seed=7, crop=face_jpeg, events=2,
                             snapshot=snapshot_jpeg)
    # Before and after a checkpoint: neither the WAL nor the main file has them.
    for _ in range(2):
        stolen = raw_bytes(db_path)
        for vector in (unit(7), unit(7 + CONFIRM_SEED)):  # both models' embeddings
            assert vector.tobytes() not in stolen
            assert vector.tobytes()[:64] not in stolen
        assert face_jpeg[:64] not in stolen and face_jpeg[-64:] not in stolen
        assert snapshot_jpeg[:64] not in stolen and snapshot_jpeg[-64:] not in stolen
        assert JPEG_MAGIC not in stolen
        _checkpoint(db)
    # ... and no key either.
    (key_file,) = key_files()
    assert crypto.FileKeyBackend(key_file.parent).get(key_file.stem) not in stolen
    # Through Turnstile, with the key, everything reads back.
    with db.session() as s:
        (template,) = repo.list_templates(s, employee_id)
        assert template.face_crop == face_jpeg
        np.testing.assert_array_equal(repo.embedding_from_bytes(template.embedding), unit(7))
        rows = repo.load_gallery_rows(s, MODEL)
        np.testing.assert_array_equal(repo.gallery_arrays(rows)[2][0], unit(7))
        rows = repo.load_confirm_rows(s, CONFIRM_MODEL)
        np.testing.assert_array_equal(repo.gallery_arrays(rows)[2][0], unit(7 + CONFIRM_SEED))
        events = repo.query_events(s)
        assert [repo.get_event_snapshot(s, e.id) for e in events] == [snapshot_jpeg] * 2


def test_a_template_copied_onto_another_person_does_not_decrypt(
        db: Database, db_path: Path, face_jpeg: bytes) -> None:
    """Copying an intruder's encrypted template onto an employee's row must not let the
    intruder in as that employee."""
    add_person(db, "E1", "Employee", seed=1, crop=face_jpeg)
    add_person(db, "X1", "Intruder", seed=2, crop=face_jpeg)
    connection = sqlite3.connect(db_path)
    connection.execute("UPDATE face_templates SET embedding = (SELECT embedding FROM "
                       "face_templates WHERE id = 2) WHERE id = 1")
    connection.commit()
    connection.close()
    with db.session() as s, pytest.raises(crypto.DataIntegrityError, match="template 1"):
        repo.load_gallery_rows(s, MODEL)
    connection = sqlite3.connect(db_path)
    connection.execute("UPDATE face_templates SET confirm_embedding = (SELECT "
                       "confirm_embedding FROM face_templates WHERE id = 2) WHERE id = 1")
    connection.commit()
    connection.close()
    with db.session() as s, pytest.raises(crypto.DataIntegrityError, match="template 1"):
        repo.load_confirm_rows(s, CONFIRM_MODEL)  # the confirming model's too


def test_the_key_file_is_private_and_a_readable_one_is_refused(
        db: Database, face_jpeg: bytes) -> None:
    employee_id = add_person(db, "E1", "Ada", seed=1, crop=face_jpeg)
    (key_file,) = key_files()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    key_file.chmod(0o644)
    crypto.set_backend(crypto.FileKeyBackend(key_file.parent))  # nothing cached
    try:
        with db.session() as s, pytest.raises(crypto.KeyFileError,
                                              match="other users.*chmod 600"):
            _ = repo.list_templates(s, employee_id)[0].face_crop
    finally:
        crypto.set_backend(None)


def test_a_missing_key_gives_a_clear_error_and_no_new_key(db: Database,
                                                          face_jpeg: bytes) -> None:
    add_person(db, "E1", "Ada", seed=1, crop=face_jpeg)
    (key_file,) = key_files()
    key_bytes = key_file.read_bytes()
    key_file.unlink()
    crypto.set_backend(crypto.FileKeyBackend(key_file.parent))
    try:
        with db.session() as s, pytest.raises(crypto.KeyMissingError) as info:
            repo.load_gallery_rows(s, MODEL)
        message = str(info.value)
        assert "door stays locked" in message and str(key_file.parent) in message
        assert key_bytes.strip().decode() not in message
        # Enrolling someone new must not silently start a second key.
        with db.session() as s, pytest.raises(crypto.KeyMissingError):
            employee = repo.create_employee(s, employee_number="E2", name="Bob")
            repo.add_template(s, employee.id, embedding=unit(3), model_id=MODEL,
                              source="photo")
        assert key_files() == []
    finally:
        crypto.set_backend(None)


def test_rotation_keeps_everything_readable_without_the_old_key(
        db: Database, db_path: Path, face_jpeg: bytes, snapshot_jpeg: bytes) -> None:
    from datetime import timedelta

    from turnstile.config import Settings
    from turnstile.services.retention import run_retention
    from turnstile.storage.models import utcnow

    employee_id = add_person(db, "E1", "Ada", seed=5, crop=face_jpeg, events=3,
                             snapshot=snapshot_jpeg)
    with db.session() as s:  # an old event, purged below, so a checkpoint must be re-signed
        repo.add_event(s, door_id=1, decision="unknown", at=utcnow() - timedelta(days=90))
    run_retention(db, Settings(retention_days_events=365 * 10), now=utcnow())
    (old_file,) = key_files()
    old_id = old_file.stem
    report = crypto.rotate_key(db)
    assert report.old_key_ids == (old_id,) and report.templates == 1
    assert report.snapshots == 3
    (new_file,) = key_files()
    assert new_file.stem == report.new_key_id != old_id and not old_file.exists()
    crypto.set_backend(crypto.FileKeyBackend(new_file.parent))  # forget the cached old key
    try:
        with db.session() as s:
            (template,) = repo.list_templates(s, employee_id)
            assert template.key_id == report.new_key_id and template.face_crop == face_jpeg
            rows = repo.load_gallery_rows(s, MODEL)
            np.testing.assert_array_equal(repo.gallery_arrays(rows)[2][0], unit(5))
            rows = repo.load_confirm_rows(s, CONFIRM_MODEL)
            np.testing.assert_array_equal(repo.gallery_arrays(rows)[2][0],
                                          unit(5 + CONFIRM_SEED))
            assert [repo.get_event_snapshot(s, e.id) for e in repo.query_events(s)
                    if e.snapshot_key_id] == [snapshot_jpeg] * 3
        assert log_chain.verify(db).ok
        connection = sqlite3.connect(db_path)
        assert connection.execute("SELECT count(*) FROM face_templates WHERE key_id = ?",
                                  (old_id,)).fetchone() == (0,)
        assert connection.execute("SELECT key_id, retired_at IS NOT NULL FROM data_keys "
                                  "ORDER BY created_at").fetchall() == [
            (old_id, 1), (report.new_key_id, 0)]
        connection.close()
    finally:
        crypto.set_backend(None)


class _MemoryKeyring(BaseKeyring):
    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        from keyring.errors import PasswordDeleteError

        if self.entries.pop((service, username), None) is None:
            raise PasswordDeleteError("not found")


def test_the_key_goes_to_the_os_keyring_when_there_is_one(
        db: Database, face_jpeg: bytes, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from turnstile.config import data_dir

    ring = _MemoryKeyring()
    previous = keyring.get_keyring()
    keyring.set_keyring(ring)
    monkeypatch.delenv(crypto.KEY_DIR_ENV, raising=False)
    monkeypatch.setenv(crypto.BACKEND_ENV, "keyring")
    try:
        assert isinstance(crypto.default_backend(), crypto.KeyringBackend)
        employee_id = add_person(db, "E1", "Ada", seed=1, crop=face_jpeg)
        assert not (tmp_path / "keys").exists() and not (data_dir() / "keys").exists()
        ((service, user),) = ring.entries
        assert service == "turnstile" and user.startswith("data-key-")
        with db.session() as s:
            assert repo.list_templates(s, employee_id)[0].face_crop == face_jpeg
        crypto.rotate_key(db)
        assert len(ring.entries) == 1 and (service, user) not in ring.entries
    finally:
        keyring.set_keyring(previous)


def test_without_a_usable_keyring_the_key_file_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TURNSTILE_HOME", raising=False)
    monkeypatch.delenv(crypto.KEY_DIR_ENV, raising=False)
    monkeypatch.setenv(crypto.BACKEND_ENV, "auto")
    monkeypatch.setattr(crypto, "keyring_usable", lambda: False)
    assert isinstance(crypto.default_backend(), crypto.FileKeyBackend)
    monkeypatch.setattr(crypto, "keyring_usable", lambda: True)
    assert isinstance(crypto.default_backend(), crypto.KeyringBackend)
    monkeypatch.setenv(crypto.KEY_DIR_ENV, "/srv/turnstile-keys")
    assert crypto.default_backend().describe() == "the key folder /srv/turnstile-keys"


def test_a_database_from_before_encryption_is_encrypted_at_first_start(
        db_path: Path, db_url: str, face_jpeg: bytes, snapshot_jpeg: bytes) -> None:
    """Migration 0003 chains the old events (no key needed); protect_legacy_data, run at
    start, encrypts the old plain rows and compacts, so their bytes leave the file."""
    engine = make_engine(db_url)
    upgrade(engine, "0001")
    plain = unit(9).tobytes()
    with engine.begin() as c:
        c.exec_driver_sql("INSERT INTO employees (employee_number, name, status, created_at, "
                          "updated_at) VALUES ('E1', 'Old', 'active', '2024-01-01 00:00:00.000000',"
                          " '2024-01-01 00:00:00.000000')")
        c.exec_driver_sql("INSERT INTO face_templates (employee_id, embedding, dim, model_id, "
                          "source, face_crop, created_at) VALUES (1, ?, 128, ?, 'photo', ?, "
                          "'2024-01-01 00:00:00.000000')", (plain, MODEL, face_jpeg))
        c.exec_driver_sql("INSERT INTO doors (name, created_at) VALUES ('D', "
                          "'2024-01-01 00:00:00.000000')")
        for i in range(3):
            c.exec_driver_sql("INSERT INTO access_events (at, door_id, employee_id, decision, "
                              "score, snapshot) VALUES (?, 1, 1, 'granted', 0.97, ?)",
                              (f"2024-01-0{i + 2} 08:00:00.000000", snapshot_jpeg))
    engine.dispose()
    db = open_database(db_url)
    try:
        with db.session() as s:  # readable before the first protect, as it was
            assert repo.load_gallery_rows(s, MODEL)[0][2] == plain
        assert log_chain.verify(db).reason.startswith("The log's head is not signed")
        report = protect_legacy_data(db)
        assert (report.templates, report.snapshots, report.head_signed) == (1, 3, True)
        assert protect_legacy_data(db).templates == 0  # idempotent
        stolen = raw_bytes(db_path)
        assert plain not in stolen and face_jpeg[:64] not in stolen
        assert snapshot_jpeg[:64] not in stolen and JPEG_MAGIC not in stolen
        verified = log_chain.verify(db)
        assert verified.ok and verified.events == 3
        with db.session() as s:
            assert repo.load_gallery_rows(s, MODEL)[0][2] == plain
            assert repo.list_templates(s, 1)[0].face_crop == face_jpeg
            assert repo.get_event_snapshot(s, 2) == snapshot_jpeg
    finally:
        db.dispose()
    assert os.path.exists(db_path)
