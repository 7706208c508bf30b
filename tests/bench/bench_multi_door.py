"""Benchmark: 8 doors writing access events into one PostgreSQL database. Prints figures,
never pass/fail.

Each door is its own process, as in a building: its own connection pool, the real
:class:`~turnstile.services.access_log.EventWriter` (its thread, its retries, its snapshot
encoding) and the real staff-change check (:class:`~turnstile.services.change_watch.
ChangeWatcher`, twice a second). A door "sees" 30 frames a second and, to load the database
far beyond what a door does (one decision per person passing, every few seconds at most),
takes a decision on *every* frame: granted, denied or unknown in the proportions of a
working day, refusals with a 640x480 frame that the writer encodes into a snapshot
(snapshot policy "denied"). Two phases:

* ``paced``: 8 doors x 30 decisions/s (240 events/s offered) for ``--seconds``;
* ``flat out``: the same doors submitting as fast as their writers write (at most
  :data:`FLAT_OUT_IN_FLIGHT` waiting at a door): the most the database takes.

Reported: events/s written (sustained, over the phase), the largest backlog a door had, and
the write latency (median, p99, max): from the decision being handed to the writer until
its transaction committed, and the database transaction alone.

    python tests/bench/bench_multi_door.py [--db postgresql+psycopg://u:pw@host/db]
        [--doors 8] [--fps 30] [--seconds 20] [--snapshot-policy denied]

``--db`` (default: ``$TURNSTILE_TEST_PG_URL``) names a server and a role that may create
databases: a fresh database is created for the run and dropped afterwards.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

DECISIONS = (("granted", 0.80), ("unknown", 0.15), ("denied", 0.05))
FLAT_OUT_IN_FLIGHT = 8


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def door_process(url: str, index: int, fps: float, seconds: float, policy: str, spool: str,
                 start: mp.Event, results: mp.Queue) -> None:  # type: ignore[type-arg]
    """One door: pace decisions at ``fps`` (0: flat out) for ``seconds``."""
    import numpy as np

    from turnstile.services.access_log import EventRecord, EventWriter
    from turnstile.services.change_watch import WATCH_INTERVAL_S, ChangeWatcher
    from turnstile.storage.db import open_database
    from turnstile.storage.models import utcnow

    db = open_database(url, migrate=False)
    submitted_at: dict[int, float] = {}
    latencies: list[float] = []
    tx_s: list[float] = []

    class TimedWriter(EventWriter):
        def _write(self, item):  # noqa: ANN001, ANN202 (times the database transaction)
            t0 = time.perf_counter()
            event_id = super()._write(item)
            tx_s.append(time.perf_counter() - t0)
            return event_id

    def written(event_id: int, record: EventRecord) -> None:
        t = submitted_at.pop(id(record), None)
        if t is not None:
            latencies.append(time.perf_counter() - t)

    writer = TimedWriter(db, f"Bench door {index + 1}", policy, spool_path=Path(spool),
                         on_written=written)
    watcher = ChangeWatcher(db)
    stop = threading.Event()
    checks: list[float] = []

    def watch() -> None:
        while not stop.is_set():
            t0 = time.perf_counter()
            watcher.check()
            checks.append(time.perf_counter() - t0)
            stop.wait(WATCH_INTERVAL_S)

    rng = np.random.default_rng(index)
    # A wall with a little sensor noise, as a door camera sees it (~15 kB as a snapshot).
    wall = np.linspace(170, 110, 480, dtype=np.float32)[:, None, None] * np.ones((1, 640, 3))
    frame = np.clip(wall + rng.normal(0, 3, wall.shape), 0, 255).astype(np.uint8)
    names, weights = zip(*DECISIONS)
    writer.start()
    watch_thread = threading.Thread(target=watch, daemon=True)
    start.wait()
    watch_thread.start()
    t0 = time.perf_counter()
    n = 0
    backlog = 0
    while True:
        now = time.perf_counter()
        if now - t0 >= seconds:
            break
        if fps > 0:
            due = t0 + n / fps
            if due > now:
                time.sleep(due - now)
        else:
            # Flat out, but closed-loop: a few events in flight per door, so the figure is
            # what the database takes, not how fast a queue can grow.
            while writer.pending >= FLAT_OUT_IN_FLIGHT:
                time.sleep(0.0005)
        decision = str(rng.choice(names, p=weights))
        record = EventRecord(decision, utcnow(), employee_id=None, score=0.97,
                             threshold=0.9539, model_id="bench",
                             reason=None if decision == "granted" else "bench refusal")
        submitted_at[id(record)] = time.perf_counter()
        writer.submit(record, frame)
        n += 1
        if n % 30 == 0:
            backlog = max(backlog, writer.pending)
    offered_s = time.perf_counter() - t0
    writer.flush(timeout_s=120)
    drained_s = time.perf_counter() - t0
    stop.set()
    watch_thread.join(2)
    writer.close()
    db.dispose()
    results.put({"door": index, "submitted": n, "written": writer.written,
                 "offered_s": offered_s, "drained_s": drained_s, "backlog": backlog,
                 "latency_s": latencies, "tx_s": tx_s, "check_s": checks})


def run_phase(url: str, doors: int, fps: float, seconds: float, policy: str,
              folder: Path) -> list[dict]:
    ctx = mp.get_context("spawn")
    start = ctx.Event()
    results: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    procs = [ctx.Process(target=door_process,
                         args=(url, i, fps, seconds, policy, str(folder / f"spool{i}.jsonl"),
                               start, results))
             for i in range(doors)]
    for p in procs:
        p.start()
    time.sleep(3.0)  # let every door import and connect before the clock starts
    start.set()
    out = [results.get(timeout=seconds + 300) for _ in procs]
    for p in procs:
        p.join(30)
    return out


def report(title: str, rows: list[dict]) -> None:
    submitted = sum(r["submitted"] for r in rows)
    written = sum(r["written"] for r in rows)
    offered_s = max(r["offered_s"] for r in rows)
    drained_s = max(r["drained_s"] for r in rows)
    latency = [x for r in rows for x in r["latency_s"]]
    tx = [x for r in rows for x in r["tx_s"]]
    checks = [x for r in rows for x in r["check_s"]]
    print(f"\n{title}: {len(rows)} doors")
    print(f"  offered   {submitted} events in {offered_s:.1f} s = "
          f"{submitted / offered_s:.0f} events/s")
    print(f"  written   {written} events, all in the database after {drained_s:.1f} s = "
          f"{written / drained_s:.0f} events/s sustained; largest backlog at a door: "
          f"{max(r['backlog'] for r in rows)} events")
    print(f"  latency   decision -> committed: median {statistics.median(latency) * 1000:.1f} "
          f"ms, p99 {percentile(latency, 0.99) * 1000:.1f} ms, max {max(latency) * 1000:.0f} ms")
    print(f"            database transaction: median {statistics.median(tx) * 1000:.1f} ms, "
          f"p99 {percentile(tx, 0.99) * 1000:.1f} ms, max {max(tx) * 1000:.0f} ms")
    if checks:
        print(f"  staff-change check ({len(checks)} made): median "
              f"{statistics.median(checks) * 1000:.1f} ms, p99 "
              f"{percentile(checks, 0.99) * 1000:.1f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default=os.environ.get("TURNSTILE_TEST_PG_URL"),
                        help="PostgreSQL server URL (a role that may create databases)")
    parser.add_argument("--doors", type=int, default=8)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--snapshot-policy", default="denied",
                        choices=("all", "denied", "none"))
    parser.add_argument("--skip-flat-out", action="store_true")
    args = parser.parse_args()
    if not args.db:
        parser.error("give --db or set TURNSTILE_TEST_PG_URL")

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from turnstile.storage.db import open_database

    name = f"turnstile_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.db, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
        settings = {k: c.execute(text(f"SHOW {k}")).scalar()
                    for k in ("server_version", "fsync", "synchronous_commit", "shared_buffers")}
    url = make_url(args.db).set(database=name).render_as_string(hide_password=False)
    os.environ.setdefault("TURNSTILE_HOME", tempfile.mkdtemp(prefix="bench_multi_door_"))
    try:
        open_database(url).dispose()  # migrate once, before the doors start
        print(f"PostgreSQL {settings['server_version']} on this machine ({os.cpu_count()} "
              f"cores, doors and server sharing them); fsync={settings['fsync']}, "
              f"synchronous_commit={settings['synchronous_commit']}, "
              f"shared_buffers={settings['shared_buffers']}; snapshot policy "
              f"{args.snapshot_policy}")
        with tempfile.TemporaryDirectory() as tmp:
            report(f"paced: {args.fps:g} decisions/s per door for {args.seconds:g} s",
                   run_phase(url, args.doors, args.fps, args.seconds, args.snapshot_policy,
                             Path(tmp)))
            if not args.skip_flat_out:
                report(f"flat out: no pause between decisions, {args.seconds:g} s",
                       run_phase(url, args.doors, 0.0, args.seconds, args.snapshot_policy,
                                 Path(tmp)))
        engine = create_engine(url)
        with engine.connect() as c:
            count = c.execute(text("SELECT count(*) FROM access_events")).scalar()
            doors = c.execute(text("SELECT count(*) FROM doors")).scalar()
        engine.dispose()
        print(f"\naccess log after both phases: {count} events from {doors} doors")
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
