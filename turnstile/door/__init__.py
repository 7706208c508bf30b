"""Door output: the :class:`DoorController` protocol, its backends (on-screen, serial relay,
HTTP controller, GPIO) chosen by :func:`create_door`, and the :class:`DoorCommander` thread
every command goes through. Backends are imported only when chosen."""

from turnstile.door.base import DoorController, DoorError, LockState
from turnstile.door.commander import DoorCommander
from turnstile.door.config import DoorConfig, load_door_config
from turnstile.door.factory import DoorChoice, create_door
from turnstile.door.simulated import SimulatedDoor

__all__ = [
    "DoorChoice",
    "DoorCommander",
    "DoorConfig",
    "DoorController",
    "DoorError",
    "LockState",
    "SimulatedDoor",
    "create_door",
    "load_door_config",
]
