"""The CLI as separate processes: ``python -m turnstile`` exit codes and output, and two
processes importing into the same SQLite file at once."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess

from cli_support import (
    PROJECT_ROOT,
    count_rows,
    integrity,
    run_turnstile,
    subprocess_env,
    turnstile_command,
)

from turnstile.storage.db import open_database


def test_python_m_turnstile_enroll_identify_verify(db_url, photos):
    enrolled = run_turnstile("--db", db_url, "enroll", photos["kit"], "--number", "K-1",
                             "--name", "Kit Harington", "--consent", "--json")
    assert enrolled.returncode == 0, enrolled.stderr
    assert json.loads(enrolled.stdout)["employee_number"] == "K-1"

    known = run_turnstile("--db", db_url, "identify", photos["kit2"], "--json")
    assert known.returncode == 0, known.stderr
    assert json.loads(known.stdout)["employee_number"] == "K-1"

    no_number = run_turnstile("--db", db_url, "verify", "K-2", photos["kit2"])
    assert no_number.returncode == 1
    assert "turnstile: No employee has number 'K-2'" in no_number.stderr
    assert "Traceback" not in no_number.stderr


def _csv(path, rows):
    lines = ["employee_number,name,department,photo"]
    lines += [f"{number},{name},Staff,{photo}" for number, name, photo in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_two_processes_importing_at_once_lose_nothing(tmp_path, db_url, db_file, photos):
    folder = tmp_path / "photos"
    folder.mkdir()
    for key in ("obama", "obama1", "obama2", "kit", "kit2", "biden", "biden2", "rose", "alex",
                "lin"):
        shutil.copy(photos[key], folder / f"{key}{photos[key].suffix}")
    # Each process imports its own people (several photos of one person under different
    # numbers, hence --force); both files end with the same row, which must come out once.
    a_rows = [(f"A-{i}", f"Worker A{i}", f"{key}{photos[key].suffix}")
              for i, key in enumerate(["obama", "obama1", "obama2", "kit", "kit2", "alex"])]
    b_rows = [(f"B-{i}", f"Worker B{i}", f"{key}{photos[key].suffix}")
              for i, key in enumerate(["biden", "biden2", "rose", "lin", "alex", "obama"])]
    shared = ("S-1", "Shared Row", "lin.png")
    a_csv = _csv(tmp_path / "a.csv", [*a_rows, shared])
    b_csv = _csv(tmp_path / "b.csv", [*b_rows, shared])
    open_database(db_url).dispose()  # the database exists, as at any site

    workers = [subprocess.Popen(
        turnstile_command("--db", db_url, "import", csv_file, "--photos", folder,
                          "--consent-given", "--force", "--json"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8",
        env=subprocess_env(), cwd=PROJECT_ROOT) for csv_file in (a_csv, b_csv)]
    outputs = [worker.communicate(timeout=180) for worker in workers]
    for worker, (_out, err) in zip(workers, outputs):
        assert worker.returncode == 0, err
    reports = [json.loads(out) for out, _ in outputs]
    for report, rows in zip(reports, (a_rows, b_rows)):
        assert report["rejected"] == 0 and report["not_processed"] == 0
        assert report["imported"] == len(rows) + (report["skipped"] == 0)
    assert sorted(r["skipped"] for r in reports) == [0, 1]  # the shared row: once

    total = len(a_rows) + len(b_rows) + 1
    assert count_rows(db_file, "employees") == total
    assert count_rows(db_file, "face_templates") == total
    assert integrity(db_file) == [("ok",)]
    connection = sqlite3.connect(db_file)
    try:
        numbers = [r[0] for r in connection.execute(
            "SELECT employee_number FROM employees ORDER BY id")]
        orphans = connection.execute(
            "SELECT COUNT(*) FROM face_templates t LEFT JOIN employees e "
            "ON e.id = t.employee_id WHERE e.id IS NULL").fetchone()[0]
        assert connection.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        connection.close()
    assert orphans == 0
    assert sorted(numbers) == sorted([n for n, _, _ in a_rows + b_rows] + ["S-1"])
    # Whether the two imports overlapped in time depends on the machine's load (one may load
    # its models faster and finish first), so it is not asserted here; the storage test of
    # two writer processes (tests/storage/test_storage_concurrency.py) does assert it.
