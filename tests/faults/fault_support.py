"""Helpers shared by the fault tests (imported by name, like tests/door/door_support.py)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CHILD = Path(__file__).resolve().parent / "fault_child.py"


def child_env() -> dict[str, str]:
    """This checkout importable, the per-test TURNSTILE_HOME inherited."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT),
                                                      env.get("PYTHONPATH", "")]))
    env["PYTHONIOENCODING"] = "utf-8"
    return env


def run_child(*args: object, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``fault_child.py ARGS...`` to its end (or its own SIGKILL)."""
    return subprocess.run([sys.executable, str(CHILD), *map(str, args)], capture_output=True,
                          text=True, env=child_env(), cwd=PROJECT_ROOT, timeout=timeout,
                          check=False)


def turnstile_process(*args: object, **kwargs) -> subprocess.Popen[str]:
    """Start ``python -m turnstile ARGS...`` (stdout and stderr piped, text)."""
    return subprocess.Popen([sys.executable, "-m", "turnstile", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            encoding="utf-8", env=kwargs.pop("env", None) or child_env(),
                            cwd=PROJECT_ROOT, **kwargs)


def statements(out: str) -> list[str]:
    """The ``sql <n> <WORD>`` lines a child printed, as the list of first words."""
    return [line.split()[2] for line in out.splitlines() if line.startswith("sql ")]


def sqlite_rows(db_file: Path, query: str) -> list[tuple]:
    """Read with the plain sqlite3 module (not through Turnstile)."""
    connection = sqlite3.connect(db_file)
    try:
        return connection.execute(query).fetchall()
    finally:
        connection.close()


def integrity_ok(db_file: Path) -> bool:
    return sqlite_rows(db_file, "PRAGMA integrity_check") == [("ok",)]
