"""The wall clock jumps (NTP correcting a door box that booted without network, daylight
saving handled badly, an admin setting the date): cooldowns, passages and the unlock time
run on the monotonic clock, so the door neither opens twice for one person nor stays open;
events carry the wall-clock time the computer believed (aware UTC), in the order they
happened."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from door_support import Portrait, empty_frames, passage_frames

import turnstile.door.station as station_module
import turnstile.storage.models as models_module
from turnstile.capture.base import CapturedFrame
from turnstile.door.station import DoorStation, load_snapshot
from turnstile.matching.door_policy import DoorPolicy
from turnstile.services.access_log import EventWriter
from turnstile.storage import repositories as repo


class JumpingWallClock:
    """The wall clock as the computer reports it, which the test moves by hours at will
    (``time.time`` and the UTC "now" the station and the storage use)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def time(self) -> float:
        return self.now().timestamp()


@pytest.fixture
def wall(monkeypatch):
    clock = JumpingWallClock()
    monkeypatch.setattr(station_module, "utcnow", clock.now)
    monkeypatch.setattr(models_module, "utcnow", clock.now)
    monkeypatch.setattr(time, "time", clock.time)
    return clock


def test_clock_jumps_change_no_door_decision_and_no_unlock_time(tmp_path, make_ctx, pipeline,
                                                                people, door, wall):
    backend, commander = door
    ctx = make_ctx(f"sqlite:///{tmp_path / 't.db'}")
    obama = ctx.enrollment.enroll(people / "Barack_Obama" / "obama.jpg", employee_number="E1",
                                  name="Barack Obama", consent=True).employee_id
    snapshot = load_snapshot(ctx.db, pipeline.model_id, pipeline.embedder.dim,
                             ctx.thresholds())
    events = EventWriter(ctx.db, "Main entrance", "none", spool_path=tmp_path / "s.jsonl")
    events.start()
    station = DoorStation(pipeline, DoorPolicy(3, cooldown_s=5.0), door=commander,
                          events=events, snapshot=snapshot)
    person = Portrait(people / "Barack_Obama" / "obama1.jpg")
    passage = passage_frames(person, 12)
    gap = empty_frames(20)  # 0.67 s away from the camera: a new passage
    t = [100.0]  # the monotonic capture clock of the camera
    seq = [0]
    decisions = []

    def play(images):
        for image in images:
            t[0] += 1 / 30
            seq[0] += 1
            _, decision = station.process(CapturedFrame(np.ascontiguousarray(image), seq[0],
                                                        t[0]), seq[0])
            if decision is not None:
                decisions.append((decision, wall.now()))

    play(passage)  # granted
    assert [d.verdict for d, _ in decisions] == ["granted"]
    assert backend.wait_for("open", 1)
    opened_at = backend.times[backend.commands.index("open")]
    wall.offset = timedelta(hours=-1)  # the clock jumps back an hour while the door is open
    assert backend.wait_for("close", 2, timeout_s=5)
    relock_s = backend.times[len(backend.commands) - 1] - opened_at
    assert 0.25 <= relock_s < 1.5, relock_s  # the 300 ms unlock, not an hour more or less

    play(gap + passage)  # back within the 5 s cooldown: no second event, no second opening
    assert [d.verdict for d, _ in decisions] == ["granted"]
    wall.offset = timedelta(days=1)  # and forward a day: the cooldown is not "over" by it
    play(gap + passage)
    assert [d.verdict for d, _ in decisions] == ["granted"]
    assert backend.count("open") == 1

    t[0] += 6.0  # the cooldown really is over (monotonic): the next passage is granted
    wall.offset = timedelta(hours=-3)
    play(gap + passage)
    assert [d.verdict for d, _ in decisions] == ["granted", "granted"]
    assert backend.wait_for("open", 2)

    assert events.flush(10)
    events.close()
    with ctx.db.session() as s:
        logged = sorted(repo.query_events(s, None), key=lambda e: e.id)  # written order
    assert [(e.decision, e.employee_id) for e in logged] == [("granted", obama)] * 2
    for event, (decision, believed) in zip(logged, decisions):
        assert event.at.tzinfo is not None
        # The time the computer believed at the decision (the second is 3 h "earlier").
        assert abs((event.at - decision.at).total_seconds()) < 1e-3
        assert abs((event.at - believed).total_seconds()) < 5
    assert logged[1].at < logged[0].at  # as the clock said; the ids keep the true order
