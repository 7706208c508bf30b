"""Reading and writing the door hardware settings (``door.toml``) for the Settings page, and
testing a door configuration before it is saved.

The file format and its validation belong to :mod:`turnstile.door.config`; this module only
writes a :class:`~turnstile.door.config.DoorConfig` back in that format, atomically (the
same temporary-file-then-rename as the main settings).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from turnstile.config import SettingsError, write_text_atomically
from turnstile.door.base import DoorError
from turnstile.door.config import DoorConfig, door_config_path
from turnstile.door.factory import create_door

log = logging.getLogger(__name__)

TEST_OPEN_MAX_MS = 3000
"""The door test (:func:`try_door`) unlocks for the unlock time, but never longer than this."""


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    text = str(value)
    escaped = []
    for ch in text:
        if ch in ('"', "\\"):
            escaped.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            escaped.append(f"\\u{ord(ch):04X}")
        else:
            escaped.append(ch)
    return '"' + "".join(escaped) + '"'


def dump_door_config(config: DoorConfig) -> str:
    """The TOML text of a door configuration (every field, so the file documents itself)."""
    lines = ["# Turnstile door hardware. Written by the app; comments are not kept.", ""]
    for item in dataclasses.fields(DoorConfig):
        lines.append(f"{item.name} = {_toml_value(getattr(config, item.name))}")
    return "\n".join(lines) + "\n"


def save_door_config(config: DoorConfig, path: Path | str | None = None) -> Path:
    """Write ``door.toml`` atomically.

    Raises:
        SettingsError: the file cannot be written.
    """
    file = Path(path) if path is not None else door_config_path()
    try:
        write_text_atomically(file, dump_door_config(config))
    except OSError as exc:
        raise SettingsError(f"The door settings {file} cannot be written: "
                            f"{exc.strerror or exc}") from exc
    log.info("door settings saved to %s", file)
    return file


@dataclass(frozen=True)
class DoorTestResult:
    """What "test the door" did."""

    description: str
    open_ms: int


def try_door(config: DoorConfig, door_name: str, unlock_ms: int) -> DoorTestResult:
    """Build the configured door, unlock it briefly and lock it again (blocking: run it in
    the background). The door is told to close whatever happens.

    Raises:
        DoorError: the door cannot be built, or a command failed.
    """
    choice = create_door(config, door_name=door_name, unlock_ms=unlock_ms)
    if choice.problem is not None:
        raise DoorError(choice.problem)
    door = choice.controller
    open_ms = min(unlock_ms, TEST_OPEN_MAX_MS)
    try:
        door.open()
        time.sleep(open_ms / 1000)
    finally:
        try:
            door.close()
        finally:
            door.release()
    return DoorTestResult(door.description, open_ms)
