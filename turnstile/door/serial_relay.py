"""A USB or RS-232 relay board driven by byte sequences over a serial port (pyserial).

Cheap USB relay modules (CH340 "LCUS-1" and the like) switch on ``A0 01 01 A2`` and off on
``A0 01 00 A1`` at 9600 baud; those are the defaults. Other boards take other sequences:
both are configurable as hex text.
"""

from __future__ import annotations

import logging
from typing import Any

from turnstile.door.base import DoorError

log = logging.getLogger(__name__)

DEFAULT_OPEN_BYTES = bytes.fromhex("A00101A2")
DEFAULT_CLOSE_BYTES = bytes.fromhex("A00100A1")
DEFAULT_BAUDRATE = 9600
DEFAULT_TIMEOUT_S = 1.0
"""A write that takes longer than this means the board is gone."""


def parse_hex_bytes(text: str, what: str = "byte sequence") -> bytes:
    """``"A0 01 01 A2"`` (spaces, commas, ``0x`` prefixes allowed) -> ``b"\\xa0\\x01\\x01\\xa2"``.

    Raises:
        DoorError: the text is empty or not hexadecimal bytes.
    """
    cleaned = text.replace(",", " ").replace("0x", "").replace("0X", "")
    cleaned = "".join(cleaned.split())
    try:
        data = bytes.fromhex(cleaned)
    except ValueError:
        raise DoorError(f"The relay's {what} {text!r} is not hexadecimal bytes "
                        f"(write it like \"A0 01 01 A2\").") from None
    if not data:
        raise DoorError(f"The relay's {what} is empty.")
    return data


class SerialRelayDoor:
    """A relay on a serial port; the port is opened on the first command and reopened after
    an error (the board may have been unplugged and plugged in again).

    Args:
        port: ``/dev/ttyUSB0``, ``COM3``, or any pyserial URL (``loop://`` for tests).
        open_bytes: sent to unlock.
        close_bytes: sent to lock.
        baudrate: the board's speed.
        timeout_s: write timeout.
    """

    def __init__(self, port: str, *, open_bytes: bytes = DEFAULT_OPEN_BYTES,
                 close_bytes: bytes = DEFAULT_CLOSE_BYTES, baudrate: int = DEFAULT_BAUDRATE,
                 timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        if not port.strip():
            raise DoorError("No serial port is set for the door relay.")
        try:
            import serial  # noqa: F401  (pyserial; checked here so the error comes early)
        except ImportError:
            raise DoorError("The serial relay needs pyserial: pip install pyserial") from None
        self.port = port
        self.open_bytes = open_bytes
        self.close_bytes = close_bytes
        self.baudrate = baudrate
        self.timeout_s = timeout_s
        self.description = f"serial relay on {port}"
        self._serial: Any = None

    def open(self) -> None:
        self._send(self.open_bytes, "unlock")

    def close(self) -> None:
        self._send(self.close_bytes, "lock")

    def release(self) -> None:
        if self._serial is not None:
            try:
                self._serial.close()
            except Exception:  # noqa: BLE001 (closing a dead port may fail in any way)
                log.debug("closing the relay port failed", exc_info=True)
            self._serial = None

    def _send(self, data: bytes, action: str) -> None:
        import serial

        try:
            if self._serial is None:
                self._serial = serial.serial_for_url(
                    self.port, baudrate=self.baudrate, timeout=self.timeout_s,
                    write_timeout=self.timeout_s)
            self._serial.write(data)
            self._serial.flush()
        except Exception as exc:  # noqa: BLE001 (SerialException, OSError, termios.error...)
            self.release()
            raise DoorError(f"The door relay on {self.port} did not take the {action} command "
                            f"({exc}). Check that it is plugged in.") from exc
