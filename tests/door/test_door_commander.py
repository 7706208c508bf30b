"""The door command thread: closed at start, once per passage, relocks after the unlock time,
fail-secure on errors and at exit."""

from __future__ import annotations

import threading

import pytest
from door_support import RecordingDoor

from turnstile.door import DoorCommander, LockState


@pytest.fixture
def recording_door() -> RecordingDoor:
    """A door that records every command."""
    return RecordingDoor()


class StateLog:
    def __init__(self) -> None:
        self.states: list[tuple[LockState, str]] = []
        self._cond = threading.Condition()

    def __call__(self, state: LockState, message: str) -> None:
        with self._cond:
            self.states.append((state, message))
            self._cond.notify_all()

    def wait_for(self, state: LockState, timeout_s: float = 10.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: any(s is state for s, _ in self.states),
                                       timeout_s)


def test_closed_at_start_and_at_exit(recording_door):
    door = DoorCommander(recording_door, unlock_ms=1000)
    door.start()
    assert recording_door.wait_for("close")
    assert recording_door.commands[0] == "close"
    door.shutdown()
    assert recording_door.commands[-2:] == ["close", "release"]
    assert door.state is LockState.CLOSED


def test_one_passage_opens_once_then_relocks(recording_door):
    states = StateLog()
    door = DoorCommander(recording_door, unlock_ms=80, on_state=states)
    door.start()
    door.request_open(7)
    door.request_open(7)  # the same passage again: must not reach the hardware
    assert states.wait_for(LockState.OPEN)
    assert recording_door.wait_for("close", 2)  # start + relock after the unlock time
    door.shutdown()
    assert recording_door.count("open") == 1
    assert recording_door.opens_and_closes()[:3] == ["close", "open", "close"]
    assert [s for s, _ in states.states][:2] == [LockState.OPEN, LockState.CLOSED]


def test_a_second_passage_while_open_extends_without_a_second_open(recording_door):
    door = DoorCommander(recording_door, unlock_ms=300)
    door.start()
    door.request_open(1)
    door.request_open(2)
    assert recording_door.wait_for("close", 2)
    door.shutdown()
    assert recording_door.count("open") == 1


def test_new_passage_after_relock_opens_again(recording_door):
    door = DoorCommander(recording_door, unlock_ms=50)
    door.start()
    door.request_open(1)
    assert recording_door.wait_for("close", 2)
    door.request_open(2)
    assert recording_door.wait_for("open", 2)
    door.shutdown()
    assert door.opens == 2


def test_close_request_locks_at_once(recording_door):
    door = DoorCommander(recording_door, unlock_ms=60_000)
    door.start()
    door.request_open(1)
    assert recording_door.wait_for("open")
    door.request_close("camera lost")
    assert recording_door.wait_for("close", 2)
    assert door.state is LockState.CLOSED
    door.shutdown()


def test_failed_open_leaves_the_door_closed_and_reports(recording_door):
    states = StateLog()
    recording_door.fail_open = True
    door = DoorCommander(recording_door, unlock_ms=1000, on_state=states)
    door.start()
    door.request_open(1)
    assert states.wait_for(LockState.FAULT)
    # Fail-secure: after the failed open the door was told to close.
    assert recording_door.wait_for("close", 2)
    i = recording_door.commands.index("open-failed")
    assert "close" in recording_door.commands[i + 1:]
    assert "relay not answering" in door.last_error
    assert any("relay not answering" in m for s, m in states.states if s is LockState.FAULT)
    door.shutdown()


def test_failed_close_is_retried_until_it_works(recording_door, monkeypatch):
    import turnstile.door.commander as commander

    monkeypatch.setattr(commander, "RETRY_CLOSE_S", 0.05)
    states = StateLog()
    door = DoorCommander(recording_door, unlock_ms=30, on_state=states)
    door.start()
    assert recording_door.wait_for("close")
    recording_door.fail_close = True
    door.request_open(1)
    assert recording_door.wait_for("close-failed", 2)  # relock failed, then retried
    assert states.wait_for(LockState.FAULT)
    recording_door.fail_close = False
    assert recording_door.wait_for("close", 2)
    door.shutdown()
    assert states.states[-1][0] is LockState.CLOSED


def test_rejects_a_nonsense_unlock_time(recording_door):
    with pytest.raises(ValueError):
        DoorCommander(recording_door, unlock_ms=0)


def test_shutdown_without_start_still_locks_and_releases(recording_door):
    DoorCommander(recording_door, unlock_ms=100).shutdown()
    assert recording_door.commands == ["close", "release"]


class BrokenDoor:
    """A backend that breaks its contract: raises something other than DoorError."""

    description = "broken door"

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.broken = True

    def open(self) -> None:
        self.calls.append("open")
        if self.broken:
            raise RuntimeError("driver crashed")

    def close(self) -> None:
        self.calls.append("close")
        if self.broken:
            raise RuntimeError("driver crashed")

    def release(self) -> None:
        self.calls.append("release")


def test_a_backend_raising_anything_faults_but_never_kills_the_door_thread(monkeypatch):
    import turnstile.door.commander as commander

    monkeypatch.setattr(commander, "RETRY_CLOSE_S", 0.05)
    states = StateLog()
    backend = BrokenDoor()
    door = DoorCommander(backend, unlock_ms=50, on_state=states)
    door.start()
    assert states.wait_for(LockState.FAULT)
    assert "RuntimeError: driver crashed" in door.last_error
    backend.broken = False  # the driver recovers: the retried close brings it back
    states.states.clear()
    assert states.wait_for(LockState.CLOSED)
    door.request_open(1)
    assert states.wait_for(LockState.OPEN)
    door.shutdown()
    assert backend.calls[-1] == "release"
