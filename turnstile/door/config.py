"""Which door hardware this station drives, read from ``door.toml`` in the config folder.

The file is optional; without it the on-screen (simulated) door is used. Example::

    backend = "serial"          # simulated | serial | http | gpio
    serial_port = "/dev/ttyUSB0"
    serial_baudrate = 9600
    serial_open_bytes = "A0 01 01 A2"
    serial_close_bytes = "A0 01 00 A1"

    # backend = "http"
    # http_url = "http://192.168.1.50/door"
    # http_token = "..."        # sent as a bearer token
    # http_timeout_s = 2.0

    # backend = "gpio"          # needs: pip install 'turnstile[gpio]'
    # gpio_pin = 17
    # gpio_active_high = true

The unlock time is the station setting ``unlock_ms`` (``config.toml``).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from turnstile.config import config_dir, read_toml_file
from turnstile.door.base import DoorError
from turnstile.door.serial_relay import parse_hex_bytes

log = logging.getLogger(__name__)

DOOR_CONFIG_FILENAME = "door.toml"
BACKENDS = ("simulated", "serial", "http", "gpio")


@dataclass(frozen=True)
class DoorConfig:
    """The door hardware settings (see the module docstring for the file format)."""

    backend: str = "simulated"
    serial_port: str = ""
    serial_baudrate: int = 9600
    serial_open_bytes: str = "A0 01 01 A2"
    serial_close_bytes: str = "A0 01 00 A1"
    http_url: str = ""
    http_token: str = ""
    http_timeout_s: float = 2.0
    gpio_pin: int | str = 17
    gpio_active_high: bool = True

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise DoorError(f"Door backend {self.backend!r} is not one of "
                            f"{', '.join(BACKENDS)}.")
        if self.backend == "serial":
            if not self.serial_port.strip():
                raise DoorError("The serial door needs serial_port (e.g. /dev/ttyUSB0 or "
                                "COM3).")
            parse_hex_bytes(self.serial_open_bytes, "open sequence")
            parse_hex_bytes(self.serial_close_bytes, "close sequence")
        if self.backend == "http" and not self.http_url.strip():
            raise DoorError("The HTTP door needs http_url.")
        if isinstance(self.serial_baudrate, bool) or not isinstance(self.serial_baudrate, int) \
                or self.serial_baudrate <= 0:
            raise DoorError(f"serial_baudrate must be a positive whole number, not "
                            f"{self.serial_baudrate!r}.")
        if not isinstance(self.http_timeout_s, int | float) or isinstance(
                self.http_timeout_s, bool) or not math.isfinite(self.http_timeout_s) \
                or self.http_timeout_s <= 0:
            raise DoorError(f"http_timeout_s must be a positive number, not "
                            f"{self.http_timeout_s!r}.")


def door_config_path() -> Path:
    return config_dir() / DOOR_CONFIG_FILENAME


def door_config_from_dict(data: dict[str, Any]) -> DoorConfig:
    """Build a :class:`DoorConfig`; unknown keys are logged and ignored.

    Raises:
        DoorError: a value is invalid.
    """
    known = {f.name for f in dataclasses.fields(DoorConfig)}
    values = {}
    for key, value in data.items():
        if key not in known:
            log.warning("Ignoring unknown door setting %r", key)
            continue
        values[key] = value
    try:
        return DoorConfig(**values)
    except TypeError as exc:
        raise DoorError(f"The door settings are not valid ({exc}).") from None


def load_door_config(path: Path | str | None = None) -> DoorConfig:
    """Read ``door.toml``; a missing file means the on-screen door.

    Raises:
        DoorError: the file cannot be read, is not TOML, or holds a bad value.
    """
    file = Path(path) if path is not None else door_config_path()
    try:
        data = read_toml_file(file)
    except OSError as exc:
        raise DoorError(f"The door settings {file} cannot be read ({exc.strerror}).") from exc
    except ValueError as exc:
        raise DoorError(f"The door settings {file} are not valid TOML ({exc}).") from None
    if data is None:
        return DoorConfig()
    try:
        return door_config_from_dict(data)
    except DoorError as exc:
        raise DoorError(f"{exc} (in {file})") from None
