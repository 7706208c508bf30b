"""The door protocol every backend follows, and its error."""

from __future__ import annotations

import enum
from typing import Protocol, runtime_checkable

from turnstile.errors import TurnstileError


class DoorError(TurnstileError):
    """The door hardware (relay, GPIO pin, door controller on the network) failed or cannot
    be used. The message says what to check."""


class LockState(enum.Enum):
    """What the station believes the lock is doing."""

    CLOSED = "closed"
    """Locked (the state at start, after every passage, on any error, at exit)."""
    OPEN = "open"
    """Unlocked for a passage; relocks by itself after the unlock time."""
    FAULT = "fault"
    """The last command failed: the station keeps telling the lock to close until it can."""


@runtime_checkable
class DoorController(Protocol):
    """One door lock. Called from one thread only (the door's command thread), so a backend
    needs no locking of its own.

    Every method raises :class:`DoorError` (and nothing else) when the hardware fails.
    """

    description: str
    """Shown in the status bar, e.g. ``"serial relay on /dev/ttyUSB0"``."""

    def open(self) -> None:
        """Unlock the door (it stays unlocked until :meth:`close`)."""
        ...

    def close(self) -> None:
        """Lock the door. Must be safe to call when it is already locked."""
        ...

    def release(self) -> None:
        """Free the port, pin or connection (the door was locked just before)."""
        ...
