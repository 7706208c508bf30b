"""Benchmark: the Access log page over 1,000,000 events in an SQLite file.

Creates (once, then reuses) a database with N synthetic events spread over a year at three
doors, then measures, each several times, and prints medians:

* the query layer: first page, a page deep in the log (keyset), the count, the per-day and
  per-hour chart counts, for no filter and for typical filters;
* the page: the time from constructing ``AccessLogPage`` until its first rows are in the
  table, and from applying a filter until the new first rows are shown (the count and the
  chart arrive later in the background and are timed separately).

Run: ``python tests/bench/bench_log_page.py [--events 1000000] [--db /tmp/log_bench.db]``
(the offscreen Qt platform is used unless QT_QPA_PLATFORM is set).
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

DOORS = ("Main entrance", "Warehouse", "Side door")
FIRST = ("Ana", "Ben", "Chloe", "David", "Emma", "Farid", "Grace", "Hugo", "Ines", "Jonas",
         "Kai", "Lea", "Mia", "Noah", "Omar", "Paula", "Quentin", "Rosa", "Sam", "Tara")
LAST = ("Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand",
        "Leroy", "Moreau", "Simon", "Laurent", "Lefebvre", "Michel", "Garcia")
DECISION_WEIGHTS = (("granted", 0.78), ("denied", 0.04), ("unknown", 0.16), ("spoof", 0.01),
                    ("error", 0.01))
N_EMPLOYEES = 300


def make_database(path: Path, n_events: int, seed: int = 7) -> None:
    """Create a migrated database at ``path`` with ``n_events`` synthetic events."""
    from turnstile.storage.db import open_database

    path.unlink(missing_ok=True)
    open_database(f"sqlite:///{path}").dispose()  # schema at head
    rng = random.Random(seed)
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    now = datetime.now(UTC).replace(tzinfo=None)
    stamp = now.strftime("%Y-%m-%d %H:%M:%S.%f")
    con.executemany("INSERT INTO doors (name, created_at) VALUES (?, ?)",
                    [(d, stamp) for d in DOORS])
    con.executemany(
        "INSERT INTO employees (employee_number, name, department, status, created_at, "
        "updated_at) VALUES (?, ?, ?, 'active', ?, ?)",
        [(f"E{i:05d}", f"{rng.choice(FIRST)} {rng.choice(LAST)}", rng.choice(
            ("Sales", "Warehouse", "Office", "IT")), stamp, stamp)
         for i in range(1, N_EMPLOYEES + 1)])
    decisions = [d for d, _ in DECISION_WEIGHTS]
    weights = [w for _, w in DECISION_WEIGHTS]
    start = now - timedelta(days=365)
    step_s = 365 * 86400 / n_events

    def rows():
        for i in range(n_events):
            at = start + timedelta(seconds=i * step_s + rng.random() * step_s)
            decision = rng.choices(decisions, weights)[0]
            door = rng.choices((1, 2, 3), (0.7, 0.2, 0.1))[0]
            if decision == "granted":
                emp, score = rng.randint(1, N_EMPLOYEES), rng.gauss(0.968, 0.008)
            elif decision == "unknown":
                emp, score = None, rng.gauss(0.915, 0.02)
            elif decision == "denied":
                emp, score = rng.randint(1, N_EMPLOYEES), rng.gauss(0.96, 0.01)
            else:
                emp, score = None, None
            yield (at.strftime("%Y-%m-%d %H:%M:%S.%f"), door, emp, decision,
                   None if decision == "granted" else "refused", score, 0.9542,
                   rng.uniform(0.6, 1.0), "dlib_resnet_v1")

    sql = ("INSERT INTO access_events (at, door_id, employee_id, decision, reason, score, "
           "threshold, liveness_score, model_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
    batch: list[tuple] = []
    for row in rows():
        batch.append(row)
        if len(batch) == 50_000:
            con.executemany(sql, batch)
            batch.clear()
    if batch:
        con.executemany(sql, batch)
    con.commit()
    con.close()


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def bench_queries(url: str, repeat: int) -> None:
    from turnstile.services import access_log_query as q
    from turnstile.storage.db import open_database

    db = open_database(url)
    now = datetime.now(UTC)
    filters = {
        "no filter": None,
        "last 7 days": q.EventFilter(start=now - timedelta(days=7)),
        "denied+unknown": q.EventFilter(decisions=["denied", "unknown"]),
        "spoof (rare)": q.EventFilter(decisions=["spoof"]),
        "one person": q.EventFilter(employee_id=42),
        "door 3": q.EventFilter(door_id=3),
        "door 3, 30 days, granted": q.EventFilter(start=now - timedelta(days=30), door_id=3,
                                                   decisions=["granted"]),
    }
    print(f"{'filter':28} {'page1':>8} {'deep':>8} {'count':>8} {'per-day':>8} {'per-hour':>9}"
          "   (ms, medians)")
    for name, flt in filters.items():
        first = q.fetch_events(db, flt)
        page1 = median_ms(lambda flt=flt: q.fetch_events(db, flt), repeat)
        deep_key = first[-1].key if first else None
        # a page 200 pages down: walk there once, then time reading the next page
        key = deep_key
        for _ in range(200 if name == "no filter" else 0):
            page = q.fetch_events(db, flt, after=key)
            if not page:
                break
            key = page[-1].key
        deep = median_ms(lambda flt=flt, key=key: q.fetch_events(db, flt, after=key), repeat)
        count = median_ms(lambda flt=flt: q.count_events(db, flt), repeat)
        day = median_ms(lambda flt=flt: q.decision_counts(db, flt, bucket="day"), repeat)
        hour = median_ms(lambda flt=flt: q.decision_counts(db, flt, bucket="hour"), repeat)
        print(f"{name:28} {page1:8.1f} {deep:8.1f} {count:8.1f} {day:8.1f} {hour:9.1f}")
    db.dispose()


PAGE_FILTERS = (
    ("all time, everything", {"period": "All time"}),
    ("7 days, refused, door 1", {"period": "Last 7 days", "decisions": ["denied", "unknown",
                                                                        "spoof", "error"],
                                 "door_id": 1}),
    ("all time, unknown faces", {"period": "All time", "decisions": ["unknown"]}),
    ("all time, one person", {"period": "All time", "employee_id": 42}),
    ("12 months, door 3", {"period": "Last 12 months", "door_id": 3}),
)


def bench_page(url: str, repeat: int) -> None:
    """Time the page itself: rows shown, count shown, chart drawn (medians, ms)."""
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from turnstile.app import AppContext
    from turnstile.gui.log_page import AccessLogPage

    app = QApplication.instance() or QApplication(sys.argv[:1])

    def wait_until(condition: Callable[[], bool], timeout_s: float = 120.0) -> None:
        deadline = time.perf_counter() + timeout_s
        loop = QEventLoop()
        while not condition():
            if time.perf_counter() > deadline:
                raise TimeoutError("the page did not answer in time")
            QTimer.singleShot(1, loop.quit)
            loop.exec()

    def measure(page: AccessLogPage, start: float) -> tuple[float, float, float]:
        wait_until(lambda: page.model.rowCount() > 0 or (page.model.exhausted
                                                         and not page.model.loading))
        rows = (time.perf_counter() - start) * 1000
        wait_until(lambda: page.count_known)
        count = (time.perf_counter() - start) * 1000
        wait_until(lambda: not page.chart_busy)
        chart = (time.perf_counter() - start) * 1000
        return rows, count, chart

    ctx = AppContext(database_url=url)
    ctx.db  # noqa: B018 - open (and check the schema) once, outside the timings
    results: dict[str, list[tuple[float, float, float]]] = {}
    for _ in range(repeat):
        start = time.perf_counter()
        page = AccessLogPage(ctx)
        page.resize(1366, 768)
        page.show()
        results.setdefault("open (last 7 days)", []).append(measure(page, start))
        for name, kwargs in PAGE_FILTERS:
            start = time.perf_counter()
            page.set_filter(**kwargs)
            results.setdefault(f"filter: {name}", []).append(measure(page, start))
        # Scrolling: the time to get the next page of 500 rows deep in the log.
        page.set_filter(period="All time")
        measure(page, time.perf_counter())
        for _page in range(20):
            before = page.model.rowCount()
            start = time.perf_counter()
            page.model.fetchMore()
            wait_until(lambda before=before, page=page: page.model.rowCount() > before)
        ms = (time.perf_counter() - start) * 1000
        results.setdefault("scroll: 21st page of 500 rows", []).append((ms, ms, ms))
        page.shutdown()
        page.deleteLater()
        app.processEvents()
    ctx.close()
    print(f"\n{'page (AccessLogPage, offscreen)':36} {'rows shown':>11} {'count shown':>12} "
          f"{'chart drawn':>12}   (ms, medians of {repeat})")
    for name, values in results.items():
        rows, count, chart = (statistics.median(v[i] for v in values) for i in range(3))
        print(f"{name:36} {rows:11.1f} {count:12.1f} {chart:12.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, default=Path("/tmp/turnstile_log_bench.db"))
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--rebuild", action="store_true", help="recreate the database")
    args = parser.parse_args()
    url = f"sqlite:///{args.db}"
    existing = 0
    if args.db.exists() and not args.rebuild:
        con = sqlite3.connect(args.db)
        try:
            existing = con.execute("SELECT count(*) FROM access_events").fetchone()[0]
        except sqlite3.Error:
            existing = 0
        con.close()
    if existing != args.events:
        t = time.perf_counter()
        make_database(args.db, args.events)
        print(f"created {args.events:,} events in {time.perf_counter() - t:.1f} s "
              f"({args.db.stat().st_size / 1e6:.0f} MB)")
    print(f"database: {args.db} ({args.events:,} events)")
    bench_queries(url, args.repeat)
    bench_page(url, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
