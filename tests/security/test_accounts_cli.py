"""Logins on the command line: the first admin, --user with a password, a front desk refused
admin commands (exit code 4 and a message), and every command in the audit trail."""

from __future__ import annotations

import io
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from turnstile.cli import EXIT_DENIED, EXIT_ERROR, EXIT_OK, run
from turnstile.services import auth as auth_module
from turnstile.services.auth import os_actor
from turnstile.storage import repositories as repo
from turnstile.storage.db import open_database

ADMIN_PW = "admin password 1"
DESK_PW = "front desk password"
PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Outcome:
    code: int
    out: str
    err: str


@pytest.fixture(autouse=True)
def cheap_kdf(monkeypatch: pytest.MonkeyPatch) -> None:
    """Still scrypt, with less work (in-process commands only; the subprocess test below
    runs the shipped parameters)."""
    monkeypatch.setattr(auth_module, "SCRYPT_LOG2_N", 12)
    monkeypatch.setattr(auth_module, "SCRYPT_P", 1)
    monkeypatch.setattr(auth_module, "_DUMMY_HASH", None)


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    return tmp_path / "data" / "turnstile.db"


@pytest.fixture
def cli(db_file: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
        ) -> Callable[..., Outcome]:
    """``cli(*args, password=..., stdin=...)``: run ``turnstile --db <tmp db> ARGS`` here."""

    def invoke(*args: object, password: str | None = None, stdin: str | None = None
               ) -> Outcome:
        if password is None:
            monkeypatch.delenv("TURNSTILE_PASSWORD", raising=False)
        else:
            monkeypatch.setenv("TURNSTILE_PASSWORD", password)
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin or ""))
        capsys.readouterr()
        code = run(["--db", f"sqlite:///{db_file}", *map(str, args)])
        captured = capsys.readouterr()
        return Outcome(code, captured.out, captured.err)

    return invoke


@pytest.fixture
def accounts(cli: Callable[..., Outcome]) -> None:
    """An admin "boss" (created by the data folder's owner) and a front desk "desk"."""
    made = cli("accounts", "add", "boss", "--role", "admin", "--password-stdin",
               stdin=ADMIN_PW + "\n")
    assert made.code == EXIT_OK, made.err
    made = cli("--user", "boss", "accounts", "add", "desk", "--role", "front_desk",
               "--password-stdin", password=ADMIN_PW, stdin=DESK_PW + "\n")
    assert made.code == EXIT_OK, made.err


@pytest.fixture
def employee(db_file: Path, accounts: None) -> str:
    db = open_database(f"sqlite:///{db_file}")
    with db.session() as s:
        repo.create_employee(s, employee_number="E1", name="Ada Lovelace")
    db.dispose()
    return "E1"


def _rows(db_file: Path, sql: str) -> list[tuple]:
    connection = sqlite3.connect(db_file)
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def _audit(db_file: Path) -> list[tuple]:
    return _rows(db_file, "SELECT actor, action, target, success FROM audit_entries ORDER BY id")


def test_the_data_folder_owner_creates_the_first_admin(cli, db_file: Path) -> None:
    refused = cli("accounts", "add", "desk", "--role", "front_desk", "--password-stdin",
                  stdin=DESK_PW + "\n")
    assert refused.code == EXIT_ERROR and "first account must be an admin" in refused.err
    made = cli("accounts", "add", "boss", "--role", "admin", "--password-stdin",
               stdin=ADMIN_PW + "\n")
    assert made.code == EXIT_OK and "Account 'boss' created (admin)" in made.out
    assert _audit(db_file) == [(os_actor(), "account_add", "boss", 1)]
    # From now on the owner of the folder is nobody special.
    again = cli("accounts", "add", "other", "--role", "admin", "--password-stdin",
                stdin="another password\n")
    assert again.code == EXIT_DENIED and "needs a login: add --user NAME" in again.err
    assert _rows(db_file, "SELECT username FROM accounts") == [("boss",)]


def test_before_any_account_only_the_folder_owner_may_write(
        cli, db_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert cli("employees", "list").code == EXIT_OK  # creates the database, reads nothing
    owner = db_file.parent.stat().st_uid
    monkeypatch.setattr(os, "getuid", lambda: owner + 1)  # another OS user
    refused = cli("accounts", "add", "boss", "--role", "admin", "--password-stdin",
                  stdin=ADMIN_PW + "\n")
    assert refused.code == EXIT_DENIED
    assert "only the owner of the data folder" in refused.err
    assert str(db_file.parent) in refused.err
    assert _rows(db_file, "SELECT count(*) FROM accounts") == [(0,)]
    assert _audit(db_file)[-1][1:] == ("permission_denied", "turnstile accounts add", 0)


def test_front_desk_is_refused_admin_commands(cli, employee: str, db_file: Path,
                                              tmp_path: Path) -> None:
    attempts = [
        ("employees", "delete", employee, "--yes"),
        ("logs", "export", "--csv", tmp_path / "log.csv"),
        ("accounts", "list"),
        ("accounts", "add", "mallory", "--role", "admin", "--password-stdin"),
        ("accounts", "set-role", "desk", "admin"),
        ("audit", "list"),
        ("audit", "export", "--csv", tmp_path / "audit.csv"),
        ("accounts", "passwd", "boss", "--password-stdin"),
    ]
    for args in attempts:
        outcome = cli("--user", "desk", *args, password=DESK_PW, stdin="hijacked password\n")
        assert outcome.code == EXIT_DENIED, args
        assert "front desk" in outcome.err and ("needs an admin" in outcome.err
                                                or "only its own password" in outcome.err)
    assert _rows(db_file, "SELECT employee_number FROM employees") == [("E1",)]
    assert not (tmp_path / "log.csv").exists() and not (tmp_path / "audit.csv").exists()
    assert _rows(db_file, "SELECT username, role FROM accounts ORDER BY id") == [
        ("boss", "admin"), ("desk", "front_desk")]
    denied = [t for a, action, t, ok in _audit(db_file) if action == "permission_denied"]
    assert len(denied) == len(attempts)
    assert "turnstile employees delete" in denied


def test_front_desk_edits_and_suspends_and_it_is_audited(cli, employee: str,
                                                          db_file: Path) -> None:
    edited = cli("employees", "edit", employee, "--name", "Ada King", "--user", "desk",
                 password=DESK_PW)
    assert edited.code == EXIT_OK, edited.err
    suspended = cli("--user", "desk", "employees", "suspend", employee, password=DESK_PW)
    assert suspended.code == EXIT_OK, suspended.err
    assert _rows(db_file, "SELECT name, status FROM employees") == [("Ada King", "suspended")]
    entries = [(a, action, t, ok) for a, action, t, ok in _audit(db_file)
               if action in ("edit", "suspend")]
    assert entries == [("desk", "edit", "employee E1", 1), ("desk", "suspend", "employee E1", 1)]
    details = _rows(db_file, "SELECT detail FROM audit_entries WHERE action = 'edit'")
    assert "--name" in details[0][0] and "Ada" not in details[0][0]  # no personal values


def test_admin_deletes_and_exports(cli, employee: str, db_file: Path, tmp_path: Path) -> None:
    deleted = cli("--user", "boss", "employees", "delete", employee, "--yes",
                  password=ADMIN_PW)
    assert deleted.code == EXIT_OK, deleted.err
    exported = cli("--user", "boss", "logs", "export", "--csv", tmp_path / "log.csv",
                   password=ADMIN_PW)
    assert exported.code == EXIT_OK, exported.err
    entries = [(a, action, t) for a, action, t, ok in _audit(db_file) if ok]
    assert ("boss", "delete", "employee E1") in entries
    assert ("boss", "export", "file log.csv") in entries


def test_wrong_password_missing_login_and_lockout(cli, employee: str, db_file: Path) -> None:
    wrong = cli("--user", "desk", "employees", "suspend", employee, password="not it at all")
    assert wrong.code == EXIT_DENIED and "Wrong user name or password" in wrong.err
    nobody = cli("employees", "suspend", employee)
    assert nobody.code == EXIT_DENIED and "needs a login" in nobody.err
    no_password = cli("--user", "desk", "employees", "suspend", employee)  # stdin not a tty
    assert no_password.code == EXIT_DENIED and "TURNSTILE_PASSWORD" in no_password.err
    assert _rows(db_file, "SELECT status FROM employees") == [("active",)]
    # The second failure in a row makes the next attempt wait, even with the right password.
    cli("--user", "desk", "employees", "suspend", employee, password="second wrong one")
    waiting = cli("--user", "desk", "employees", "suspend", employee, password=DESK_PW)
    assert waiting.code == EXIT_DENIED and "wait" in waiting.err
    assert _rows(db_file, "SELECT status FROM employees") == [("active",)]
    assert [t for a, action, t, ok in _audit(db_file) if action == "login_failed"] == [
        "desk", "desk", "desk"]


def test_accounts_commands(cli, accounts: None, db_file: Path) -> None:
    listing = cli("--user", "boss", "accounts", "list", "--json", password=ADMIN_PW)
    assert listing.code == EXIT_OK
    assert '"username": "desk"' in listing.out and "password" not in listing.out
    assert cli("--user", "boss", "accounts", "disable", "desk", password=ADMIN_PW).code == 0
    disabled = cli("--user", "desk", "employees", "list", "--json", password=DESK_PW)
    assert disabled.code == EXIT_OK  # reading needs no login
    refused = cli("--user", "desk", "enroll", "x.jpg", "--number", "E9", "--name", "X",
                  password=DESK_PW)
    assert refused.code == EXIT_DENIED and "disabled" in refused.err
    assert cli("--user", "boss", "accounts", "enable", "desk", password=ADMIN_PW).code == 0
    own = cli("--user", "desk", "accounts", "passwd", "desk", "--password-stdin",
              password=DESK_PW, stdin="my new desk password\n")
    assert own.code == EXIT_OK, own.err
    last = cli("--user", "boss", "accounts", "disable", "boss", password=ADMIN_PW)
    assert last.code == EXIT_ERROR and "last admin" in last.err
    audit = cli("--user", "boss", "audit", "list", "--action", "account_password",
                password=ADMIN_PW)
    assert audit.code == EXIT_OK and "desk: account_password desk" in audit.out
    assert "my new desk password" not in audit.out


def test_audit_export_command(cli, accounts: None, tmp_path: Path) -> None:
    target = tmp_path / "audit.csv"
    done = cli("--user", "boss", "audit", "export", "--csv", target, "--action", "account_add",
               password=ADMIN_PW)
    assert done.code == EXIT_OK, done.err
    lines = target.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0] == "entry_id,time_utc,actor,action,target,success,detail"
    assert len(lines) == 3 and all(",account_add," in line for line in lines[1:])
    later = cli("--user", "boss", "audit", "list", "--action", "audit_export", "--json",
                password=ADMIN_PW)
    assert '"target": "file audit.csv"' in later.out


def test_a_real_process_refuses_a_front_desk(cli, accounts: None, db_file: Path,
                                             tmp_path: Path) -> None:
    """The installed command, as a script would run it (shipped scrypt parameters)."""
    env = dict(os.environ, TURNSTILE_PASSWORD=DESK_PW, PYTHONIOENCODING="utf-8",
               PYTHONPATH=str(PROJECT_ROOT))
    done = subprocess.run(
        [sys.executable, "-m", "turnstile", "--db", f"sqlite:///{db_file}", "--user", "desk",
         "logs", "export", "--csv", str(tmp_path / "out.csv")],
        capture_output=True, text=True, env=env, cwd=PROJECT_ROOT, timeout=120, check=False)
    assert done.returncode == EXIT_DENIED
    assert "'turnstile logs export' needs an admin account" in done.stderr
    assert DESK_PW not in done.stderr + done.stdout
    assert not (tmp_path / "out.csv").exists()
