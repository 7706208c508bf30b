"""Typed settings, stored as TOML in the user config folder.

The file is read with :mod:`tomllib` and written by the small writer below (the settings are
flat scalars, so no TOML library is needed), atomically: a temporary file in the same folder
is written, flushed to disk and then renamed over the old file with :func:`os.replace`, so a
crash never leaves half a file.

A key that is missing from the file takes its default; a key this version does not know is
logged and ignored (a file written by a newer version must not stop an older one); a key
with a bad value raises :class:`SettingsError` naming the key.

Folders: the environment variable ``TURNSTILE_HOME``, when set, is used as both the data
folder and the config folder (tests and the CLI use it to isolate a run). Otherwise the
platform's user folders are used (``platformdirs``).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import platformdirs

from turnstile.errors import TurnstileError

log = logging.getLogger(__name__)

APP_NAME = "turnstile"
HOME_ENV = "TURNSTILE_HOME"
"""Environment variable that, when set, replaces both the data and the config folder."""
CONFIG_FILENAME = "config.toml"
DATABASE_FILENAME = "turnstile.db"

SnapshotPolicy = Literal["all", "denied", "none"]
"""Which access events keep a camera snapshot: every event, refusals only, or none."""
SNAPSHOT_POLICIES: tuple[str, ...] = get_args(SnapshotPolicy)
LivenessModeName = Literal["passive", "challenge", "off"]
LIVENESS_MODES: tuple[str, ...] = get_args(LivenessModeName)
DoorModeName = Literal["identify", "verify"]
DOOR_MODES: tuple[str, ...] = get_args(DoorModeName)
MAX_SPOOF_ATTEMPTS = 100
MAX_SPOOF_LOCKOUT_MIN = 24 * 60.0

MAX_DOOR_NAME_CHARS = 200
"""Same limit as the ``doors.name`` column."""
MAX_UNLOCK_MS = 60_000
"""A door held open for more than a minute is a misconfiguration, not a setting."""
MAX_RETENTION_DAYS = 36_500
"""Retention periods are at most a hundred years; "keep forever" is ``None``."""
MAX_IDLE_LOGOUT_MIN = 240
"""An operator idle for four hours has left; a longer idle logout is not a setting."""
MAX_FAILED_LOGINS_LIMIT = 100
THRESHOLD_RANGE = (-1.0, 1.0)
"""Match scores are cosine similarities, so a threshold outside [-1, 1] can never matter."""


class SettingsError(TurnstileError, ValueError):
    """The settings file or a settings value is invalid.

    Attributes:
        key: the offending key, or ``None`` when the whole file is unreadable.
    """

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True)
class Settings:
    """Everything a user can configure. Instances are always valid (checked on creation).

    Change a value with :func:`dataclasses.replace`, which validates again.

    Attributes:
        database_url: SQLAlchemy URL; ``None`` means the SQLite file
            :func:`default_database_url`.
        camera_source: a device index (``"0"``), a video file or a stream URL.
        door_name: the name of the door this station controls (shown in the access log).
        snapshot_policy: which access events keep a camera snapshot.
        accept_threshold: score at or beyond which a face is accepted; ``None`` uses the
            model's default (the direction, similarity or distance, is the model's).
        reject_threshold: score at or beyond which a face is rejected outright; ``None``
            uses the model's default.
        frames_to_confirm: consecutive agreeing frames needed before a decision.
        cooldown_s: seconds before the same person can trigger the door again.
        unlock_ms: how long the door stays unlocked.
        idle_logout_min: minutes without a key press or mouse move after which the window
            logs the operator out and goes back to the door page.
        max_failed_logins: failed logins in a row that lock an account (15 minutes, or
            until an admin enables it again).
        retention_days_snapshots: camera snapshots older than this many days are erased
            (the events stay); ``None`` keeps them.
        retention_days_events: access events older than this many days are deleted;
            ``None`` keeps them.
        retention_days_suspended: people suspended for longer than this many days are
            deleted with their templates; ``None`` keeps them.
        liveness_mode: ``"passive"`` (a natural blink and no sign of a photo or screen before
            the door opens), ``"challenge"`` (the door also asks for a blink or a head turn)
            or ``"off"`` (no liveness check: a photo of an employee opens the door).
        spoof_max_attempts: failed liveness checks in a row after which the identity that
            was presented is locked out at this door.
        spoof_lockout_min: how long that lockout lasts, in minutes.
        door_mode: ``"identify"`` (1:N: the face alone says who it is) or ``"verify"``
            (1:1: the person first types an employee number or scans a badge that types it,
            then the face is compared with that person only; for large sites, see README).
        thresholds_model: the face model ``accept_threshold`` and ``reject_threshold`` were
            set for (``None``: the search model, as in settings written before the
            confirming model existed); thresholds set for another model than the one that
            decides are not applied, since each model has its own score scale.
    """

    database_url: str | None = None
    camera_source: str = "0"
    door_name: str = "Main entrance"
    snapshot_policy: SnapshotPolicy = "denied"
    accept_threshold: float | None = None
    reject_threshold: float | None = None
    frames_to_confirm: int = 3
    cooldown_s: float = 5.0
    unlock_ms: int = 3000
    idle_logout_min: int = 5
    max_failed_logins: int = 5
    retention_days_snapshots: int | None = None
    retention_days_events: int | None = None
    retention_days_suspended: int | None = None
    liveness_mode: LivenessModeName = "passive"
    spoof_max_attempts: int = 3
    spoof_lockout_min: float = 10.0
    door_mode: DoorModeName = "identify"
    thresholds_model: str | None = None

    def __post_init__(self) -> None:
        _validate(self)

    def effective_database_url(self) -> str:
        """Return :attr:`database_url`, or the default SQLite file when it is unset."""
        return self.database_url or default_database_url()


def _home_override() -> Path | None:
    value = os.environ.get(HOME_ENV, "").strip()
    return Path(value).expanduser() if value else None


def data_dir() -> Path:
    """Return the folder for the database, snapshots and logs (not created here)."""
    home = _home_override()
    if home is not None:
        return home
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def config_dir() -> Path:
    """Return the folder holding the settings file (not created here)."""
    home = _home_override()
    if home is not None:
        return home
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def config_path() -> Path:
    """Return the path of the settings file."""
    return config_dir() / CONFIG_FILENAME


def default_database_url() -> str:
    """Return the URL of the SQLite file ``turnstile.db`` in the data folder."""
    # as_posix(): "sqlite:///C:/Users/..." is understood on Windows, backslashes are not needed.
    return f"sqlite:///{(data_dir() / DATABASE_FILENAME).resolve().as_posix()}"


# --- validation ---------------------------------------------------------------------------


def _fail(key: str, message: str) -> SettingsError:
    return SettingsError(f"Setting {key!r} {message}", key)


def _check_number(key: str, value: Any, *, integer: bool) -> None:
    # bool is an int in Python, but "true" is never a sensible number of frames.
    allowed: tuple[type, ...] = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, allowed):
        kind = "a whole number" if integer else "a number"
        raise _fail(key, f"must be {kind}, not {type(value).__name__} {value!r}.")
    if isinstance(value, float) and not math.isfinite(value):
        raise _fail(key, f"must be a finite number, not {value!r}.")


def _validate(s: Settings) -> None:
    if s.database_url is not None:
        if not isinstance(s.database_url, str) or not s.database_url.strip():
            raise _fail("database_url", "must be a non-empty text (a database URL) or left out.")
    if not isinstance(s.camera_source, str) or not s.camera_source.strip():
        raise _fail("camera_source", "must be a non-empty text: a device number, file or URL.")
    if not isinstance(s.door_name, str) or not s.door_name.strip():
        raise _fail("door_name", "must be a non-empty text.")
    if len(s.door_name.strip()) > MAX_DOOR_NAME_CHARS:
        raise _fail("door_name", f"must be at most {MAX_DOOR_NAME_CHARS} characters long.")
    if s.snapshot_policy not in SNAPSHOT_POLICIES:
        raise _fail("snapshot_policy",
                    f"must be one of {', '.join(SNAPSHOT_POLICIES)}; got {s.snapshot_policy!r}.")
    low, high = THRESHOLD_RANGE
    for key in ("accept_threshold", "reject_threshold"):
        value = getattr(s, key)
        if value is not None:
            _check_number(key, value, integer=False)
            if not low <= value <= high:
                raise _fail(key, f"must be between {low:g} and {high:g} (a similarity), "
                                 f"not {value}.")
    if (s.accept_threshold is not None and s.reject_threshold is not None
            and s.reject_threshold > s.accept_threshold):
        raise _fail("reject_threshold",
                    f"({s.reject_threshold}) must not be above accept_threshold "
                    f"({s.accept_threshold}): below the reject threshold a face is unknown, "
                    f"above the accept threshold it is recognised.")
    _check_number("frames_to_confirm", s.frames_to_confirm, integer=True)
    if s.frames_to_confirm < 1:
        raise _fail("frames_to_confirm", f"must be at least 1, not {s.frames_to_confirm}.")
    _check_number("cooldown_s", s.cooldown_s, integer=False)
    if s.cooldown_s < 0:
        raise _fail("cooldown_s", f"must not be negative, not {s.cooldown_s}.")
    _check_number("unlock_ms", s.unlock_ms, integer=True)
    if not 1 <= s.unlock_ms <= MAX_UNLOCK_MS:
        raise _fail("unlock_ms", f"must be between 1 and {MAX_UNLOCK_MS}, not {s.unlock_ms}.")
    _check_number("idle_logout_min", s.idle_logout_min, integer=True)
    if not 1 <= s.idle_logout_min <= MAX_IDLE_LOGOUT_MIN:
        raise _fail("idle_logout_min", f"must be between 1 and {MAX_IDLE_LOGOUT_MIN} minutes, "
                                       f"not {s.idle_logout_min}.")
    _check_number("max_failed_logins", s.max_failed_logins, integer=True)
    if not 1 <= s.max_failed_logins <= MAX_FAILED_LOGINS_LIMIT:
        raise _fail("max_failed_logins", f"must be between 1 and {MAX_FAILED_LOGINS_LIMIT}, "
                                         f"not {s.max_failed_logins}.")
    if s.door_mode not in DOOR_MODES:
        raise _fail("door_mode", f"must be one of {', '.join(DOOR_MODES)}; got {s.door_mode!r}.")
    if s.liveness_mode not in LIVENESS_MODES:
        raise _fail("liveness_mode",
                    f"must be one of {', '.join(LIVENESS_MODES)}; got {s.liveness_mode!r}.")
    _check_number("spoof_max_attempts", s.spoof_max_attempts, integer=True)
    if not 1 <= s.spoof_max_attempts <= MAX_SPOOF_ATTEMPTS:
        raise _fail("spoof_max_attempts",
                    f"must be between 1 and {MAX_SPOOF_ATTEMPTS}, not {s.spoof_max_attempts}.")
    _check_number("spoof_lockout_min", s.spoof_lockout_min, integer=False)
    if not 0 < s.spoof_lockout_min <= MAX_SPOOF_LOCKOUT_MIN:
        raise _fail("spoof_lockout_min",
                    f"must be above 0 and at most {MAX_SPOOF_LOCKOUT_MIN:g} minutes, "
                    f"not {s.spoof_lockout_min}.")
    for key in ("retention_days_snapshots", "retention_days_events", "retention_days_suspended"):
        days = getattr(s, key)
        if days is not None:
            _check_number(key, days, integer=True)
            if not 1 <= days <= MAX_RETENTION_DAYS:
                raise _fail(key, f"must be between 1 and {MAX_RETENTION_DAYS} days (or left "
                                 f"out to keep forever), not {days}.")


_FIELDS = {f.name: f for f in dataclasses.fields(Settings)}
_FLOAT_KEYS = {"accept_threshold", "reject_threshold", "cooldown_s"}


def settings_from_dict(data: dict[str, Any], *, source: str = "settings") -> Settings:
    """Build validated :class:`Settings` from a mapping (e.g. a parsed TOML file).

    Missing keys take their defaults; unknown keys are logged and ignored.

    Raises:
        SettingsError: a value has the wrong type or is out of range (names the key).
    """
    known: dict[str, Any] = {}
    for key, value in data.items():
        if key not in _FIELDS:
            log.warning("Ignoring unknown setting %r in %s", key, source)
            continue
        if key in _FLOAT_KEYS and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)  # "cooldown_s = 5" is a float too
        known[key] = value
    return Settings(**known)


# --- reading and writing ------------------------------------------------------------------


def load_settings(path: Path | str | None = None) -> Settings:
    """Read the settings file; a missing file gives the defaults.

    Args:
        path: the file to read instead of :func:`config_path`.

    Raises:
        SettingsError: the file cannot be read, is not valid TOML, or holds a bad value
            (the message names the file and the key).
    """
    file = Path(path) if path is not None else config_path()
    try:
        data = read_toml_file(file)
    except OSError as exc:
        raise SettingsError(f"Settings file {file} cannot be read: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise SettingsError(f"Settings file {file} is not valid TOML: {exc}") from exc
    if data is None:
        log.info("No settings file at %s; using defaults", file)
        return Settings()
    try:
        return settings_from_dict(data, source=str(file))
    except SettingsError as exc:
        raise SettingsError(f"{exc} (in {file})", exc.key) from None


def _toml_string(value: str) -> str:
    out = ['"']
    for ch in value:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch in "\b\t\n\f\r":
            out.append({"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)  # finite (validated); repr round-trips exactly
    if isinstance(value, str):
        return _toml_string(value)
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def dump_settings(settings: Settings) -> str:
    """Return the TOML text for ``settings``. Keys whose value is ``None`` are left out."""
    lines = ["# Turnstile settings. Written by the app; comments are not kept.", ""]
    for name in _FIELDS:
        value = getattr(settings, name)
        if value is None:
            lines.append(f"# {name} = (not set: default)")
        else:
            lines.append(f"{name} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def save_settings(settings: Settings, path: Path | str | None = None) -> Path:
    """Write the settings file atomically (temporary file, fsync, :func:`os.replace`).

    Args:
        settings: what to write (validated again, in case it was built around the checks).
        path: the file to write instead of :func:`config_path`; its folder is created.

    Returns:
        The path written.

    Raises:
        SettingsError: a value is invalid, or the file cannot be written.
    """
    _validate(settings)
    file = Path(path) if path is not None else config_path()
    try:
        write_text_atomically(file, dump_settings(settings))
    except OSError as exc:
        raise SettingsError(
            f"Settings file {file} cannot be written: {exc.strerror or exc}"
        ) from exc
    log.info("Settings saved to %s", file)
    return file


def read_toml_file(file: Path) -> dict[str, Any] | None:
    """The contents of a TOML file, or None when there is no such file.

    Raises:
        OSError: the file exists but cannot be read.
        ValueError: it is not UTF-8 TOML (``tomllib.TOMLDecodeError`` is a ValueError).
    """
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        return None
    return tomllib.loads(raw.decode("utf-8"))


def write_text_atomically(file: Path, text: str) -> None:
    """Write a text file so that a crash or a full disk leaves the old file or the new one,
    never half of either (temporary file, fsync, rename).

    Raises:
        OSError: the folder or the file cannot be written.
    """
    file.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{file.name}.", suffix=".tmp", dir=file.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as tmp:
            tmp.write(text)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp_name, file)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
