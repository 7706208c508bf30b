"""Several door stations on one PostgreSQL database, each a separate process running
``turnstile door run`` on a real video file through OpenCV, as an IT administrator deploys
them: both doors' decisions land in one access log under the door's name, and a person
enrolled, suspended or deleted from a third process (the front desk) takes effect at a
running station within 2 s, without a restart."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "door"))

from door_support import Portrait, empty_frames, passage_frames, write_video  # noqa: E402

from turnstile.config import Settings, save_settings  # noqa: E402
from turnstile.storage import repositories as repo  # noqa: E402
from turnstile.storage.db import open_database  # noqa: E402
from turnstile.storage.models import AccessEvent, Door  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
EFFECT_LIMIT_S = 2.0
"""The issue's requirement: a change at the desk reaches every door within 2 s."""


class Station:
    """``turnstile door run --json`` in its own process; its stdout lines are collected with
    the wall-clock time they arrived."""

    def __init__(self, url: str, door: str, video: Path, *, max_seconds: float,
                 log_path: Path) -> None:
        self.door = door
        self.lines: list[dict[str, Any]] = []
        self._cond = threading.Condition()
        self._stderr = open(log_path, "w", encoding="utf-8")  # noqa: SIM115
        self.log_path = log_path
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "turnstile", "--db", url, "door", "run",
             "--source", str(video), "--door-name", door, "--loop", "--json",
             "--max-seconds", str(max_seconds)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=self._stderr, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            line["received"] = time.time()
            with self._cond:
                self.lines.append(line)
                self._cond.notify_all()

    def wait_for(self, what: str, predicate: Callable[[dict[str, Any]], bool],
                 timeout_s: float, start: int = 0) -> tuple[int, dict[str, Any]]:
        """The first line from index ``start`` on that satisfies ``predicate``."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                for i in range(start, len(self.lines)):
                    if predicate(self.lines[i]):
                        return i, self.lines[i]
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    break
                self._cond.wait(min(left, 0.2))
        pytest.fail(f"{self.door}: no {what} within {timeout_s} s; output so far: "
                    f"{self.lines[-5:]}; log: {self.log()}")

    def finish(self, timeout_s: float = 60.0, *, stop: bool = False) -> dict[str, Any]:
        """Stop the station (SIGTERM when ``stop``), wait for it, return its summary."""
        if stop and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"{self.door} did not stop within {timeout_s} s; log: {self.log()}")
        self._reader.join(5)
        self._stderr.close()
        assert code == 0, f"{self.door} exited with {code}; log: {self.log()}"
        summaries = [line for line in self.lines if line["event"] == "summary"]
        assert len(summaries) == 1, self.lines[-5:]
        return summaries[0]

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if not self._stderr.closed:
            self._stderr.close()

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-2000:]


@pytest.fixture
def stations(tmp_path: Path):
    started: list[Station] = []

    def start(url: str, door: str, video: Path, max_seconds: float) -> Station:
        station = Station(url, door, video, max_seconds=max_seconds,
                          log_path=tmp_path / f"{door.replace(' ', '_')}.log")
        started.append(station)
        return station

    yield start
    for station in started:
        station.kill()


@pytest.fixture
def station_settings() -> Settings:
    """The stations' settings (the processes read them from the test's TURNSTILE_HOME).
    The videos are composed from still photos, which the liveness check rightly refuses:
    it is off here (its own tests cover it); a short cooldown gives more decisions."""
    settings = Settings(liveness_mode="off", cooldown_s=1.0, unlock_ms=500,
                        snapshot_policy="denied")
    save_settings(settings)
    return settings


@pytest.fixture(scope="module")
def obama_video(tmp_path_factory, shared_data: Path) -> Path:
    """Obama walking up to the door and away again: 1 s of empty hall, 1.5 s at the door,
    four times (MJPG .avi, 30 fps, 640x480)."""
    portrait = Portrait(shared_data / "people/Barack_Obama/obama1.jpg")
    frames = []
    for k in range(4):
        frames += empty_frames(30, seed=k) + passage_frames(portrait, 45, seed=k)
    return write_video(tmp_path_factory.mktemp("video") / "obama_passages.avi", frames)


def _desk(url: str, *args: str) -> float:
    """A change at the front desk, made by another process on the same database; returns
    when it was committed (wall clock)."""
    done = subprocess.run([sys.executable, str(Path(__file__).with_name("desk.py")), url,
                           *args], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return float(done.stdout.strip().splitlines()[-1])


def _events_by_door(url: str) -> dict[str, list[AccessEvent]]:
    db = open_database(url)
    try:
        with db.session() as s:
            doors = {d.id: d.name for d in s.query(Door).all()}
            out: dict[str, list[AccessEvent]] = {name: [] for name in doors.values()}
            for event in repo.query_events(s, limit=10_000, newest_first=False):
                out[doors[event.door_id]].append(event)
        return out
    finally:
        db.dispose()


def test_two_stations_in_separate_processes_log_into_one_database(
        pg_url: str, shared_data: Path, obama_video: Path, station_settings: Settings,
        stations) -> None:
    _desk(pg_url, "enroll", str(shared_data / "people/Barack_Obama/obama.jpg"), "E100",
          "Barack Obama")
    selfie = shared_data / "video/selfie_blinks.mp4"  # a real phone video of someone else
    north = stations(pg_url, "North door", obama_video, 12)
    south = stations(pg_url, "South door", selfie, 12)
    north_summary = north.finish(90)
    south_summary = south.finish(90)

    events = _events_by_door(pg_url)
    assert set(events) == {"North door", "South door"}
    north_granted = [e for e in events["North door"] if e.decision == "granted"]
    assert len(north_granted) >= 2, [e.decision for e in events["North door"]]
    db = open_database(pg_url)
    with db.session() as s:
        obama = repo.get_employee_by_number(s, "E100")
    db.dispose()
    assert {e.employee_id for e in north_granted} == {obama.id}
    south_decisions = [e.decision for e in events["South door"]]
    assert "unknown" in south_decisions and "granted" not in south_decisions
    # Nothing lost, nothing counted twice: what each station says it wrote is in the log.
    for door, summary in (("North door", north_summary), ("South door", south_summary)):
        assert summary["events_unsaved"] == 0
        assert summary["events_written"] == len(events[door]) > 0
        assert sum(summary["decisions"].values()) == len(events[door])
    print(f"\nNorth door: {north_summary['frames']} frames at {north_summary['fps']:.1f} fps, "
          f"{len(events['North door'])} events; South door: {south_summary['frames']} frames "
          f"at {south_summary['fps']:.1f} fps, {len(events['South door'])} events")


def _effect_latency(station: Station, after: int, what: str,
                    predicate: Callable[[dict[str, Any]], bool], changed_at: float
                    ) -> tuple[int, float]:
    index, reload = station.wait_for(
        what, lambda line: line["event"] == "staff_reload" and predicate(line), 10.0, after)
    return index, reload["at"] - changed_at


def test_changes_made_by_another_process_reach_a_running_station_within_2_s(
        pg_url: str, shared_data: Path, obama_video: Path, station_settings: Settings,
        stations) -> None:
    door = stations(pg_url, "Loading bay", obama_video, 120)
    i, _ = door.wait_for("staff list", lambda ln: ln["event"] == "staff_reload", 60)
    i, _ = door.wait_for("decision about the stranger",
                         lambda ln: ln["event"] == "decision", 30, i)
    assert door.lines[i]["verdict"] == "unknown"  # Obama is not enrolled yet

    figures = {}
    start = len(door.lines)
    enrolled_at = _desk(pg_url, "enroll", str(shared_data / "people/Barack_Obama/obama.jpg"),
                        "E100", "Barack Obama")
    db = open_database(pg_url)
    try:
        with db.session() as s:
            person = repo.get_employee_by_number(s, "E100")
        i, figures["enrolled"] = _effect_latency(
            door, start, "reload with the new person", lambda ln: ln["allowed"] == 1,
            enrolled_at)
        i, _ = door.wait_for("a granted passage", lambda ln: ln["event"] == "decision"
                             and ln["verdict"] == "granted", 15, i)
        assert door.lines[i]["employee_id"] == person.id

        start = len(door.lines)
        suspended_at = _desk(pg_url, "suspend", "E100")
        i, figures["suspended"] = _effect_latency(
            door, start, "reload without him", lambda ln: ln["allowed"] == 0, suspended_at)
        i, _ = door.wait_for("a refused passage", lambda ln: ln["event"] == "decision"
                             and ln["verdict"] == "denied", 15, i)
        assert door.lines[i]["employee_id"] == person.id
        assert "suspended" in door.lines[i]["reason"]

        start = len(door.lines)
        deleted_at = _desk(pg_url, "delete", "E100")
        i, figures["deleted"] = _effect_latency(
            door, start, "reload after the deletion", lambda ln: ln["enrolled"] == 0,
            deleted_at)
    finally:
        db.dispose()
    summary = door.finish(30, stop=True)
    assert summary["stopped"] == "stopped"  # SIGTERM: a clean stop
    assert summary["events_unsaved"] == 0
    decisions = [e.decision for e in _events_by_door(pg_url)["Loading bay"]]
    assert {"unknown", "granted", "denied"} <= set(decisions)
    assert summary["events_written"] == len(decisions)

    print("\nchange -> in force at the running station: " + ", ".join(
        f"{k} {v:.2f} s" for k, v in figures.items()))
    for what, seconds in figures.items():
        assert 0 <= seconds <= EFFECT_LIMIT_S, f"{what}: {seconds:.2f} s"
