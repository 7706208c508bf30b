"""The on-screen door: no hardware, the door page shows the lock state. The default."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


class SimulatedDoor:
    """A door that only remembers whether it is open (the page draws it).

    Args:
        description: shown in the status bar.
    """

    def __init__(self, description: str = "on-screen door (no hardware)") -> None:
        self.description = description
        self.is_open = False

    def open(self) -> None:
        self.is_open = True
        log.info("simulated door unlocked")

    def close(self) -> None:
        self.is_open = False
        log.debug("simulated door locked")

    def release(self) -> None:
        self.is_open = False
