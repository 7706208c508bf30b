"""PostgreSQL restarted under a running station (a server update, a failover, an admin's
``systemctl restart``): the station's connections die; the door stays locked, the events
decided meanwhile wait in memory, and once the server is back the station reconnects by
itself and writes them all, in order, none twice. Everything committed before is still there.

Needs a real server: ``TURNSTILE_TEST_PG_URL`` (a role that may create databases), and a
way to restart it: ``TURNSTILE_TEST_PG_BIN`` + ``TURNSTILE_TEST_PG_DATA`` (``pg_ctl``, as
``.ci/run`` sets them) or a Debian cluster on that port (``pg_ctlcluster``). Skips, saying
why, when either is missing; with ``TURNSTILE_REQUIRE_PG=1`` it fails instead."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import uuid

import pytest
from sqlalchemy.engine import make_url

from turnstile.services.access_log import EventRecord, EventWriter
from turnstile.storage import repositories as repo
from turnstile.storage.db import open_database
from turnstile.storage.models import utcnow

PG_URL_ENV = "TURNSTILE_TEST_PG_URL"
REQUIRE_ENV = "TURNSTILE_REQUIRE_PG"


def _unavailable(reason: str) -> None:
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1: PostgreSQL is required here)", pytrace=False)
    pytest.skip(reason)


def _as_postgres(command: list[str]) -> list[str]:
    if os.geteuid() == 0 and shutil.which("runuser"):
        return ["runuser", "-u", "postgres", "--", *command]
    return command


def _restart_command(url: str) -> list[str] | None:
    """How to restart the server of ``url`` from here, or None."""
    pg_bin, pg_data = (os.environ.get("TURNSTILE_TEST_PG_BIN"),
                       os.environ.get("TURNSTILE_TEST_PG_DATA"))
    if pg_bin and pg_data:
        # The server's log goes beside its data folder (as .ci/run starts it), not to our
        # pipes, which the restarted server would otherwise hold open.
        log_file = os.path.join(os.path.dirname(os.path.abspath(pg_data)), "server.log")
        return _as_postgres([os.path.join(pg_bin, "pg_ctl"), "-D", pg_data, "-l", log_file,
                             "-m", "fast", "-w", "-s", "restart"])
    port = make_url(url).port or 5432
    if shutil.which("pg_lsclusters") and shutil.which("pg_ctlcluster"):
        listing = subprocess.run(["pg_lsclusters", "--no-header"], capture_output=True,
                                 text=True, check=False).stdout
        for line in listing.splitlines():
            fields = line.split()
            if len(fields) >= 4 and fields[2] == str(port) and fields[3] == "online":
                return ["pg_ctlcluster", fields[0], fields[1], "restart", "-m", "fast"]
    return None


@pytest.fixture
def pg_database():
    url = os.environ.get(PG_URL_ENV, "").strip()
    if not url:
        _unavailable(f"no PostgreSQL server: set {PG_URL_ENV} (.ci/run starts one)")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _unavailable("the PostgreSQL driver is not installed: pip install 'psycopg[binary]'")
    restart = _restart_command(url)
    if restart is None:
        _unavailable("cannot restart the PostgreSQL server from this test: set "
                     "TURNSTILE_TEST_PG_BIN and TURNSTILE_TEST_PG_DATA, or use a Debian "
                     "cluster (pg_ctlcluster)")
    from sqlalchemy import create_engine, text

    name = f"turnstile_fault_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    try:
        try:
            with admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
        except Exception as exc:  # noqa: BLE001
            _unavailable(f"the PostgreSQL server at {PG_URL_ENV} does not answer: "
                         f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
        yield make_url(url).set(database=name).render_as_string(hide_password=False), restart
    finally:
        try:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        finally:
            admin.dispose()


def test_station_survives_a_postgresql_restart(pg_database, door, tmp_path):
    url, restart = pg_database
    backend, commander = door
    db = open_database(url)
    errors: list[str] = []
    events = EventWriter(db, "Fault door", "none", spool_path=tmp_path / "spool.jsonl",
                         on_error=errors.append, retry_delays_s=(0.2, 0.5, 1.0))
    events.start()
    try:
        def decide(n: int) -> None:
            # What the station does for a stranger: lock (again) and queue the event.
            commander.request_close("unknown face")
            events.submit(EventRecord("unknown", utcnow(), reason=f"n{n}", score=0.4,
                                      model_id="m"))

        decide(0)
        assert events.flush(20)
        with db.session() as s:
            employee = repo.create_employee(s, employee_number="E1", name="Committed Before")

        outcome: list[int] = []
        restarting = threading.Thread(target=lambda: outcome.append(subprocess.run(
            restart, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, timeout=120, check=False).returncode))
        restarting.start()
        for n in range(1, 6):  # decisions keep coming while the server goes down and up
            decide(n)
            restarting.join(0.15)
        restarting.join(120)
        assert outcome == [0], f"restarting the server failed: {restart}"
        decide(6)
        assert events.flush(60), f"events not written after the restart: {errors}"

        with db.session() as s:  # a plain session works again too (stale connections dropped)
            assert repo.get_employee(s, employee.id).name == "Committed Before"
            logged = sorted(repo.query_events(s, None), key=lambda e: e.id)
        assert [e.reason for e in logged] == [f"n{n}" for n in range(7)]  # all, in order, once
        assert backend.count("open") == 0 and commander.state.value == "closed"
        assert not (tmp_path / "spool.jsonl").exists()
    finally:
        events.close()
        db.dispose()
