"""(g) Two processes writing the same SQLite file at the same time, while a third reads."""

from __future__ import annotations

import multiprocessing
import sqlite3
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from turnstile.storage import repositories as repo
from turnstile.storage.db import Database, open_database

PER_PROCESS = 200
MODEL = "test_model@0001"


def _create_employees(url: str, prefix: str, ready: Any, errors: Any) -> None:
    """Child process: wait until both children are ready, then add employees, one
    transaction each (employee + template), as fast as possible."""
    try:
        database = open_database(url)
        rng = np.random.default_rng(ord(prefix))
        ready.wait(60)  # a Barrier(2): both begin writing together
        try:
            for i in range(PER_PROCESS):
                with database.session() as s:
                    employee = repo.create_employee(
                        s, employee_number=f"{prefix}-{i:03d}", name=f"Worker {prefix} {i}")
                    repo.add_template(s, employee.id, embedding=rng.standard_normal(128),
                                      model_id=MODEL, source="camera")
        finally:
            database.dispose()
    except BaseException:
        errors.put(f"{prefix}: {traceback.format_exc()}")
        raise


def test_two_processes_write_concurrently(db: Database, db_url: str, db_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    ready, errors = ctx.Barrier(2), ctx.Queue()
    workers = [ctx.Process(target=_create_employees, args=(db_url, prefix, ready, errors))
               for prefix in ("A", "B")]
    for worker in workers:
        worker.start()

    reads, deadline = 0, time.monotonic() + 120
    while any(worker.is_alive() for worker in workers) and time.monotonic() < deadline:
        with db.session() as s:  # WAL: reading while both write, never "database is locked"
            assert len(repo.load_gallery_rows(s, MODEL)) <= 2 * PER_PROCESS
        reads += 1
    for worker in workers:
        worker.join(10)
        if worker.is_alive():
            worker.kill()
    problems = []
    while not errors.empty():
        problems.append(errors.get())
    assert not problems, "\n".join(problems)
    assert [worker.exitcode for worker in workers] == [0, 0]

    with db.session() as s:
        assert repo.count_employees(s) == 2 * PER_PROCESS
        assert repo.count_employees(s, search="A-") == PER_PROCESS
        rows = repo.load_gallery_rows(s, MODEL)
    assert len(rows) == 2 * PER_PROCESS and len({r[1] for r in rows}) == 2 * PER_PROCESS
    assert reads > 0
    with db.session() as s:
        numbers = [e.employee_number[0] for e in sorted(repo.list_employees(s), key=lambda e: e.id)]
    # The writes really did interleave (typically ~100 switches between A and B).
    assert sum(a != b for a, b in zip(numbers, numbers[1:], strict=False)) > 1
    db.dispose()
    with sqlite3.connect(db_path) as check:
        assert check.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert check.execute("PRAGMA foreign_key_check").fetchall() == []
    check.close()
