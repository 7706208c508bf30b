"""Plain-language error dialogs: never a traceback in front of a person."""

from __future__ import annotations

import logging

from PySide6.QtWidgets import QMessageBox, QWidget

from turnstile.errors import TurnstileError

log = logging.getLogger(__name__)


def error_text(exc: BaseException) -> str:
    """What to tell a person about an error. Our own errors already speak plainly; anything
    else is logged in full and summarised."""
    if isinstance(exc, TurnstileError):
        return str(exc)
    log.error("unexpected error", exc_info=exc)
    return ("Something went wrong that Turnstile did not expect. The details were written to "
            "the log file; please tell your administrator.")


def show_error(parent: QWidget | None, title: str, exc: BaseException) -> None:
    QMessageBox.warning(parent, title, error_text(exc))
