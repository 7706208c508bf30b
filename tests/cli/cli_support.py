"""Helpers shared by the CLI tests (imported by name, like tests/door/door_support.py)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]

PHOTOS = {
    "obama": ("people", "Barack_Obama", "obama.jpg"),
    "obama1": ("people", "Barack_Obama", "obama1.jpg"),
    "obama2": ("people", "Barack_Obama", "obama2.jpg"),
    "biden": ("people", "Joe_Biden", "biden.jpg"),
    "biden2": ("people", "Joe_Biden", "biden2.jpg"),
    "kit": ("people", "Kit_Harington", "john1.jpeg"),
    "kit2": ("people", "Kit_Harington", "john2.jpeg"),
    "rose": ("people", "Rose_Leslie", "img1.jpg"),
    "alex": ("people", "Alex_Lacamoire", "alex-lacamoire.png"),
    "lin": ("people", "Lin-Manuel_Miranda", "lin-manuel-miranda.png"),
    "two_people": ("group_photos", "two_people.jpg"),
}
"""Short names of the real photos the tests use, as paths under ``../shared/data``."""


@dataclass
class Outcome:
    """What one command did: exit code, stdout, stderr."""

    code: int
    out: str
    err: str


def count_rows(db_file: Path, table: str) -> int:
    """Rows in a table, read with the plain sqlite3 module (not through Turnstile); 0 when
    the database file was never created."""
    if not db_file.exists():
        return 0
    connection = sqlite3.connect(db_file)
    try:
        (count,) = connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()
    finally:
        connection.close()
    return int(count)


def integrity(db_file: Path) -> list[tuple[str, ...]]:
    connection = sqlite3.connect(db_file)
    try:
        return connection.execute("PRAGMA integrity_check").fetchall()
    finally:
        connection.close()


def subprocess_env() -> dict[str, str]:
    """The environment for ``python -m turnstile``: this checkout importable, the per-test
    TURNSTILE_HOME (set by tests/conftest.py) inherited."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT),
                                                      env.get("PYTHONPATH", "")]))
    env["PYTHONIOENCODING"] = "utf-8"
    return env


def turnstile_command(*args: object) -> list[str]:
    return [sys.executable, "-m", "turnstile", *map(str, args)]


def run_turnstile(*args: object, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``python -m turnstile ARGS...`` as a real separate process."""
    return subprocess.run(turnstile_command(*args), capture_output=True, text=True,
                          encoding="utf-8", env=subprocess_env(), cwd=PROJECT_ROOT,
                          timeout=timeout, check=False)


def prepare_database(folder: Path, commands: list[list[object]]) -> Path:
    """Build a database once by running CLI commands (for module-scoped fixtures, which
    cannot use the per-test TURNSTILE_HOME; one is set here instead). Returns its file."""
    import pytest

    from turnstile.cli import run

    db_file = folder / "prepared.db"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TURNSTILE_HOME", str(folder / "home"))
        for command in commands:
            code = run(["--db", f"sqlite:///{db_file}", *map(str, command)])
            assert code == 0, f"preparing the database: {command} exited with {code}"
    return db_file


def copy_database(source: Path, target: Path) -> None:
    """Give a test its own copy of a prepared database (closed, so the WAL is merged)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
