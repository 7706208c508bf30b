"""The one thread that talks to the door. Every command (open for a passage, close, stop)
goes through its queue, so the video never waits for a relay or a network controller, and
two commands never reach the hardware at once.

Fail-secure:

* the door is told to close when the thread starts, after each unlock time, when a command
  fails, and when the station stops;
* a failed command leaves the state FAULT, and the thread keeps telling the door to close
  (every :data:`RETRY_CLOSE_S`) until it succeeds;
* a passage opens the door at most once: a second request for the same passage is ignored,
  and a request for another passage while the door is open only extends the unlock time.
"""

from __future__ import annotations

import enum
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from turnstile.door.base import DoorController, DoorError, LockState

log = logging.getLogger(__name__)

RETRY_CLOSE_S = 2.0
"""While in FAULT, how often the door is told to close again."""
REMEMBERED_PASSAGES = 256
"""Passages remembered to refuse a second open (only the latest ones can come back)."""

StateListener = Callable[[LockState, str], None]
"""Called on the door thread with the new state and a message ('' or the error)."""


class _Kind(enum.Enum):
    OPEN = "open"
    CLOSE = "close"
    STOP = "stop"


@dataclass(frozen=True)
class _Command:
    kind: _Kind
    passage: int = 0
    reason: str = ""


class DoorCommander:
    """Owns a :class:`DoorController` and its command thread.

    Args:
        backend: the door hardware.
        unlock_ms: how long one passage unlocks the door.
        on_state: called (on the door thread) whenever the lock state changes or a command
            fails; must not block.
    """

    def __init__(self, backend: DoorController, unlock_ms: int,
                 on_state: StateListener | None = None) -> None:
        if unlock_ms <= 0:
            raise ValueError("unlock_ms must be positive")
        self.backend = backend
        self.unlock_ms = unlock_ms
        self._listeners: list[StateListener] = [on_state] if on_state else []
        self._queue: queue.Queue[_Command] = queue.Queue()
        self._state = LockState.CLOSED
        self._last_error = ""
        self._passages: deque[int] = deque(maxlen=REMEMBERED_PASSAGES)
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()
        self.opens = 0
        """How many times the hardware was told to open (for the status bar and tests)."""

    # -- called from any thread --------------------------------------------------------------
    @property
    def state(self) -> LockState:
        return self._state

    @property
    def last_error(self) -> str:
        return self._last_error

    @property
    def description(self) -> str:
        return self.backend.description

    def add_listener(self, listener: StateListener) -> None:
        """Also call ``listener(state, message)`` on every change (before :meth:`start`)."""
        self._listeners.append(listener)

    def start(self) -> None:
        """Start the thread; its first act is to close the door."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="door", daemon=True)
        self._thread.start()

    def request_open(self, passage: int) -> None:
        """Unlock for ``passage`` (never blocks). Ignored when this passage already opened
        the door."""
        self._queue.put(_Command(_Kind.OPEN, passage))

    def request_close(self, reason: str = "") -> None:
        """Lock now (never blocks): the camera was lost, an error, the operator."""
        self._queue.put(_Command(_Kind.CLOSE, reason=reason))

    def shutdown(self, timeout_s: float = 5.0) -> None:
        """Close the door, free the hardware and stop the thread (waits up to ``timeout_s``)."""
        if self._thread is None:
            if not self._stopped.is_set():
                self._stopped.set()
                self._close_and_release()
            return
        self._queue.put(_Command(_Kind.STOP))
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            log.error("the door thread did not stop within %.1f s", timeout_s)

    # -- the door thread ---------------------------------------------------------------------
    def _run(self) -> None:
        self._close("start")
        deadline: float | None = None  # when the open door relocks
        while True:
            now = time.monotonic()
            if self._state is LockState.OPEN and deadline is not None:
                wait: float | None = max(0.0, deadline - now)
            elif self._state is LockState.FAULT:
                wait = RETRY_CLOSE_S
            else:
                wait = None
            try:
                command = self._queue.get(timeout=wait)
            except queue.Empty:
                # Unlock time over, or time to retry closing a faulty door.
                self._close("unlock time over" if self._state is LockState.OPEN else "retry")
                deadline = None
                continue
            try:
                if command.kind is _Kind.STOP:
                    self._close_and_release()
                    return
                if command.kind is _Kind.CLOSE:
                    self._close(command.reason or "requested")
                    deadline = None
                elif command.kind is _Kind.OPEN:
                    deadline = self._open(command.passage, deadline)
            except Exception:  # noqa: BLE001 (the door thread must never die)
                log.exception("unexpected error in the door thread")
                self._fault("unexpected error in the door thread")

    def _open(self, passage: int, deadline: float | None) -> float | None:
        if passage in self._passages:
            log.warning("passage %d already opened the door; not opening again", passage)
            return deadline
        self._passages.append(passage)
        unlock_s = self.unlock_ms / 1000.0
        if self._state is LockState.OPEN:
            return time.monotonic() + unlock_s  # already open: just keep it open longer
        error = self._call(self.backend.open, "unlock")
        if error is not None:
            self._fault(error)
            return None
        self.opens += 1
        self._set(LockState.OPEN, "")
        return time.monotonic() + unlock_s

    def _call(self, command: Callable[[], None], action: str) -> str | None:
        """Run a backend command; the error message when it fails (any failure: a backend
        that breaks its contract must not stop this thread)."""
        try:
            command()
        except DoorError as exc:
            return str(exc)
        except Exception as exc:  # noqa: BLE001
            log.exception("the door backend failed unexpectedly to %s", action)
            return (f"The {self.backend.description} failed to {action} "
                    f"({type(exc).__name__}: {exc}).")
        return None

    def _close(self, why: str) -> None:
        error = self._call(self.backend.close, "lock")
        if error is not None:
            self._fault(error, try_close=False)
            return
        if self._state is not LockState.CLOSED or why == "start":
            log.info("door locked (%s)", why)
        self._set(LockState.CLOSED, "")

    def _fault(self, message: str, *, try_close: bool = True) -> None:
        first = self._state is not LockState.FAULT or message != self._last_error
        (log.error if first else log.debug)("door fault: %s", message)
        self._last_error = message
        if try_close:
            error = self._call(self.backend.close, "lock")
            if error is not None:
                log.debug("closing after the fault failed too: %s", error)
        self._set(LockState.FAULT, message, force=first)

    def _set(self, state: LockState, message: str, *, force: bool = False) -> None:
        changed = state is not self._state
        self._state = state
        if changed or force:
            for listener in self._listeners:
                try:
                    listener(state, message)
                except Exception:  # noqa: BLE001
                    log.exception("door state listener failed")

    def _close_and_release(self) -> None:
        self._close("station stopping")
        error = self._call(self.backend.release, "release")
        if error is not None:
            log.error("releasing the door failed: %s", error)
