"""Chooses the door backend from the settings. Each backend is imported only when chosen
(pyserial and gpiozero are not needed by a station that does not use them); a backend that
cannot be built gives way to the on-screen door, with the reason, so the station still runs
with the door locked."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from turnstile.door.base import DoorController, DoorError
from turnstile.door.config import DoorConfig
from turnstile.door.simulated import SimulatedDoor

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DoorChoice:
    """The backend in use, and why it is not the configured one (None when it is)."""

    controller: DoorController
    problem: str | None = None


def build_backend(config: DoorConfig, *, door_name: str = "",
                  unlock_ms: int | None = None) -> DoorController:
    """Build the configured backend.

    Raises:
        DoorError: the backend cannot be used (missing package, bad setting, no pin).
    """
    if config.backend == "serial":
        from turnstile.door.serial_relay import SerialRelayDoor, parse_hex_bytes

        return SerialRelayDoor(
            config.serial_port,
            open_bytes=parse_hex_bytes(config.serial_open_bytes, "open sequence"),
            close_bytes=parse_hex_bytes(config.serial_close_bytes, "close sequence"),
            baudrate=config.serial_baudrate)
    if config.backend == "http":
        from turnstile.door.http_door import HttpDoor

        return HttpDoor(config.http_url, door_name=door_name, unlock_ms=unlock_ms,
                        token=config.http_token or None, timeout_s=config.http_timeout_s)
    if config.backend == "gpio":
        from turnstile.door.gpio import GpioDoor

        return GpioDoor(config.gpio_pin, active_high=config.gpio_active_high)
    return SimulatedDoor()


def create_door(config: DoorConfig | None = None, *, door_name: str = "",
                unlock_ms: int | None = None) -> DoorChoice:
    """The configured door, or the on-screen door with the reason when it cannot be built.

    Args:
        config: the door settings (default: read ``door.toml``).
        door_name: this station's door (sent to network controllers).
        unlock_ms: how long a passage unlocks the door.
    """
    if config is None:
        from turnstile.door.config import load_door_config

        try:
            config = load_door_config()
        except DoorError as exc:
            log.error("door settings unusable: %s", exc)
            return DoorChoice(SimulatedDoor("on-screen door (door settings unusable)"),
                              str(exc))
    try:
        return DoorChoice(build_backend(config, door_name=door_name, unlock_ms=unlock_ms))
    except DoorError as exc:
        log.error("door backend %r unavailable: %s", config.backend, exc)
        return DoorChoice(SimulatedDoor(f"on-screen door ({config.backend} door unavailable)"),
                          str(exc))
