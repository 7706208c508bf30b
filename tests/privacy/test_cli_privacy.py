"""The privacy commands as a user types them: logs verify, keys rotate, retention run,
employees export-data (in this process, on a real SQLite file)."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from privacy_support import add_events, add_person, key_files

from turnstile.cli import run
from turnstile.config import Settings, save_settings
from turnstile.storage import repositories as repo
from turnstile.storage.db import Database
from turnstile.storage.models import utcnow


@pytest.fixture
def cli(db_url: str, capsys: pytest.CaptureFixture[str]):
    def invoke(*args: object) -> tuple[int, str, str]:
        capsys.readouterr()
        code = run(["--db", db_url, *map(str, args)])
        captured = capsys.readouterr()
        return code, captured.out, captured.err
    return invoke


def test_logs_verify_reports_an_intact_and_a_tampered_log(cli, db: Database,
                                                          db_path: Path) -> None:
    ids = add_events(db, 5)
    code, out, _ = cli("logs", "verify", "--json")
    assert code == 0
    assert {k: json.loads(out)[k] for k in ("ok", "events", "first_bad")} == {
        "ok": True, "events": 5, "first_bad": None}
    connection = sqlite3.connect(db_path)
    connection.execute(f"DELETE FROM access_events WHERE id = {ids[1]}")
    connection.commit()
    connection.close()
    code, out, _ = cli("logs", "verify", "--json")
    result = json.loads(out)
    assert code == 1 and result["ok"] is False and result["first_bad"] == ids[2]
    code, out, _ = cli("logs", "verify")
    assert code == 1 and f"first bad event: {ids[2]}" in out


def test_keys_rotate_replaces_the_key_and_keeps_the_faces(cli, db: Database,
                                                          face_jpeg: bytes) -> None:
    employee_id = add_person(db, "E1", "Ada", seed=1, crop=face_jpeg)
    (old,) = key_files()
    code, out, err = cli("keys", "rotate")
    assert code == 0 and "1 face template" in out and "1 old key deleted" in out
    (new,) = key_files()
    assert new != old and not old.exists()
    with db.session() as s:
        assert repo.list_templates(s, employee_id)[0].face_crop == face_jpeg


def test_retention_run_dry_run_then_for_real(cli, db: Database) -> None:
    now = utcnow()
    add_events(db, 2, at=now - timedelta(days=60))
    add_events(db, 1, at=now)
    save_settings(Settings(retention_days_events=30))
    code, out, _ = cli("retention", "run", "--dry-run", "--json")
    assert code == 0 and json.loads(out)["events"] == 2 and json.loads(out)["dry_run"]
    with db.session() as s:
        assert repo.count_events(s) == 3
    code, out, _ = cli("retention", "run")
    assert code == 0 and "access events deleted: 2" in out
    assert json.loads(cli("logs", "verify", "--json")[1])["ok"] is True


def test_employees_export_data_writes_the_folder(cli, db: Database, tmp_path: Path,
                                                 face_jpeg: bytes, snapshot_jpeg: bytes) -> None:
    add_person(db, "E-9", "Ada", seed=1, crop=face_jpeg, events=1, snapshot=snapshot_jpeg)
    code, out, _ = cli("employees", "export-data", "E-9", "--out", tmp_path / "dsar")
    assert code == 0 and "1 access event (1 snapshot)" in out
    (folder,) = (tmp_path / "dsar").iterdir()
    assert (folder / "photos" / "template-1.jpg").read_bytes() == face_jpeg
    code, _, err = cli("employees", "export-data", "NOPE", "--out", tmp_path / "dsar")
    assert code == 1 and "NOPE" in err


def test_a_missing_key_is_a_clear_cli_error(cli, db: Database, face_jpeg: bytes) -> None:
    add_person(db, "E1", "Ada", seed=1, crop=face_jpeg)
    (key,) = key_files()
    key.unlink()
    from turnstile.storage import crypto

    crypto.set_backend(crypto.FileKeyBackend(key.parent))
    try:
        code, out, err = cli("keys", "rotate")
    finally:
        crypto.set_backend(None)
    assert code == 1 and "encryption key of the stored faces" in err
    assert "Traceback" not in err
