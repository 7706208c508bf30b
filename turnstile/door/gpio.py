"""A relay on a GPIO pin (Raspberry Pi and similar) through gpiozero, an optional extra:
``pip install 'turnstile[gpio]'``."""

from __future__ import annotations

import logging
from typing import Any

from turnstile.door.base import DoorError

log = logging.getLogger(__name__)


class GpioDoor:
    """Drives one output pin: active = unlocked.

    Args:
        pin: the pin (gpiozero naming: ``17``, ``"GPIO17"``, ``"BOARD11"``).
        active_high: whether the relay switches on a high level (most modules: True; some
            opto-isolated boards switch on low).

    Raises:
        DoorError: gpiozero is not installed, or the pin cannot be used here.
    """

    def __init__(self, pin: int | str, *, active_high: bool = True) -> None:
        try:
            from gpiozero import OutputDevice
        except ImportError:
            raise DoorError("The GPIO door needs gpiozero, which is not installed: "
                            "pip install 'turnstile[gpio]'") from None
        try:
            # initial_value=False: the pin comes up inactive, i.e. locked.
            self._device: Any = OutputDevice(pin, active_high=active_high, initial_value=False)
        except Exception as exc:  # noqa: BLE001 (gpiozero raises many kinds of errors)
            raise DoorError(f"GPIO pin {pin} cannot be used for the door ({exc}).") from None
        self.pin = pin
        self.description = f"GPIO relay on pin {pin}"

    def open(self) -> None:
        self._set(True)

    def close(self) -> None:
        self._set(False)

    def release(self) -> None:
        try:
            self._device.off()
            self._device.close()
        except Exception:  # noqa: BLE001
            log.debug("releasing the GPIO pin failed", exc_info=True)

    def _set(self, active: bool) -> None:
        try:
            if active:
                self._device.on()
            else:
                self._device.off()
        except Exception as exc:  # noqa: BLE001
            raise DoorError(f"GPIO pin {self.pin} could not be switched ({exc}).") from None
