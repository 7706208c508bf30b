"""SIGTERM on a running station (a service manager stopping it, the computer shutting
down): the door is told to lock, the access events still waiting are written, and the
program exits on its own. Run for real: ``turnstile door run`` and the desktop app (offscreen)
as separate processes, each driving an HTTP door controller served by the test, so every
command the door received is seen."""

from __future__ import annotations

import json
import signal
import sqlite3
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fault_support import sqlite_rows, turnstile_process

from turnstile.config import config_dir


class DoorController:
    """A network door controller: records each command POSTed to it."""

    def __init__(self) -> None:
        self.commands: list[tuple[float, str]] = []
        self.changed = threading.Condition()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server name)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                command = json.loads(body or b"{}").get("command", "?")
                with outer.changed:
                    outer.commands.append((time.monotonic(), command))
                    outer.changed.notify_all()
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/door"

    def wait_for(self, command: str, after: float = 0.0, timeout_s: float = 60.0) -> bool:
        with self.changed:
            return self.changed.wait_for(
                lambda: any(c == command and t > after for t, c in self.commands), timeout_s)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def controller():
    door = DoorController()
    folder = config_dir()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "door.toml").write_text(f'backend = "http"\nhttp_url = "{door.url}"\n',
                                      encoding="utf-8")
    yield door
    door.close()


def _wait_line(stream, predicate, timeout_s: float, seen: list[str]) -> str | None:
    """Read lines until one matches (the reader runs on a thread: no blocking forever)."""
    found: list[str] = []
    done = threading.Event()

    def read() -> None:
        for line in stream:
            seen.append(line)
            if predicate(line):
                found.append(line)
                done.set()
                return
        done.set()

    threading.Thread(target=read, daemon=True).start()
    done.wait(timeout_s)
    return found[0] if found else None


class Lock:
    """Another program holding the database's write lock, so events stay pending."""

    def __init__(self, db_file) -> None:
        self.connection = sqlite3.connect(db_file, isolation_level=None, timeout=10)
        self.connection.execute("BEGIN IMMEDIATE")

    def release(self) -> None:
        self.connection.execute("ROLLBACK")
        self.connection.close()


def _stop(process, lock: Lock, controller: DoorController, seen: list[str]):
    """SIGTERM with an event pending; the lock goes away a moment later."""
    sent = time.monotonic()
    process.send_signal(signal.SIGTERM)
    time.sleep(0.5)  # the station is now shutting down with its event still queued
    lock.release()
    try:
        code = process.wait(timeout=60)
    except Exception:
        process.kill()
        raise
    assert controller.wait_for("close", after=sent, timeout_s=1), \
        f"the door was not told to lock after SIGTERM: {controller.commands}"
    assert controller.commands[-1][1] == "close"
    assert not any(c == "open" for _, c in controller.commands)
    return code


def test_headless_station_locks_the_door_and_writes_pending_events_on_sigterm(
        tmp_path, controller):
    db_file = tmp_path / "t.db"
    process = turnstile_process("door", "run", "--source", "demo", "--door-name", "Front",
                                "--db", f"sqlite:///{db_file}", "--json")
    seen: list[str] = []
    lock = None
    try:
        assert _wait_line(process.stdout, lambda line: '"start"' in line, 120, seen), seen
        assert controller.wait_for("close", timeout_s=60)  # locked as it starts
        lock = Lock(db_file)
        decided = _wait_line(process.stdout, lambda line: '"unknown"' in line, 60, seen)
        assert decided, f"no decision from the demo stranger: {seen}"
        code = _stop(process, lock, controller, seen)
        lock = None
    finally:
        if lock is not None:
            lock.release()
        if process.poll() is None:
            process.kill()
    stderr = process.stderr.read()
    assert code == 0, stderr[-3000:]
    rows = sqlite_rows(db_file, "SELECT decision, reason FROM access_events")
    assert ("unknown", "not an enrolled person") in rows, (rows, stderr[-2000:])


def test_desktop_app_locks_the_door_and_writes_pending_events_on_sigterm(tmp_path,
                                                                       controller):
    db_file = tmp_path / "t.db"
    process = turnstile_process("-v", "--db", f"sqlite:///{db_file}", "--demo")
    seen: list[str] = []
    lock = None
    try:
        assert controller.wait_for("close", timeout_s=120), "the app never locked the door"
        lock = Lock(db_file)
        decided = _wait_line(process.stderr, lambda line: "door decision: unknown" in line,
                             60, seen)
        assert decided, "".join(seen[-30:])
        code = _stop(process, lock, controller, seen)
        lock = None
    finally:
        if lock is not None:
            lock.release()
        if process.poll() is None:
            process.kill()
    assert code == 0, "".join(seen[-30:])
    rows = sqlite_rows(db_file, "SELECT decision, reason FROM access_events")
    assert ("unknown", "not an enrolled person") in rows, rows
