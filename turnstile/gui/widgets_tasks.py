"""Long background jobs with a progress dialog that can be cancelled, and the one-time
loading of the recognition services off the GUI thread."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QProgressDialog, QWidget

from turnstile.gui.tasks import run_task

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int, str], None]
"""``progress(done, total, text)``: callable from any thread."""

PROGRESS_DIALOG_DELAY_MS = 400
"""A job that finishes sooner never shows its dialog (no flicker for small jobs)."""

class _Relay(QObject):
    progressed = Signal(int, int, str)


class ProgressJob(QObject):
    """Runs ``work(progress, cancel)`` on the thread pool behind a progress dialog.

    ``work`` receives a :data:`ProgressFn` and a :class:`threading.Event` that is set when
    the person presses Cancel (``work`` should check it between steps and return early).
    :attr:`finished` carries ``work``'s return value, :attr:`failed` the exception; both
    arrive on the GUI thread after the dialog is closed.

    Args:
        parent: the window the dialog belongs to.
        title: the dialog's title.
        label: what is being done ("Exporting the access log...").
        work: the job.
    """

    finished = Signal(object)
    failed = Signal(object)

    def __init__(self, parent: QWidget, title: str, label: str,
                 work: Callable[[ProgressFn, threading.Event], Any]) -> None:
        super().__init__(parent)
        self.cancel_event = threading.Event()
        self.done = False
        self.label = label
        self._relay = _Relay()
        self._relay.progressed.connect(self._on_progress)
        self.dialog = QProgressDialog(label, "Cancel", 0, 0, parent)
        self.dialog.setWindowTitle(title)
        self.dialog.setWindowModality(Qt.WindowModality.WindowModal)
        self.dialog.setMinimumDuration(PROGRESS_DIALOG_DELAY_MS)
        self.dialog.setAutoClose(False)
        self.dialog.setAutoReset(False)
        self.dialog.setMinimumWidth(420)
        self.dialog.canceled.connect(self.cancel)
        self._work = work

    def start(self) -> ProgressJob:
        """Start the job (returns self)."""
        self.dialog.setValue(0)
        relay = self._relay

        def report(done: int, total: int, text: str = "") -> None:
            relay.progressed.emit(int(done), int(total), text)

        run_task(lambda: self._work(report, self.cancel_event), self._on_result,
                 self._on_error)
        return self

    def cancel(self) -> None:
        """Ask the job to stop (it finishes its current step first)."""
        if not self.done:
            self.cancel_event.set()
            self.dialog.setLabelText("Cancelling after the current step...")

    def _on_progress(self, done: int, total: int, text: str) -> None:
        if self.done:
            return
        if total > 0 and self.dialog.maximum() != total:
            self.dialog.setMaximum(total)
        self.dialog.setValue(min(done, total) if total > 0 else 0)
        if not self.cancel_event.is_set():
            self.dialog.setLabelText(f"{self.label}\n{text}" if text else self.label)

    def _close(self) -> None:
        self.done = True
        # Closing a QProgressDialog emits canceled(); the job is over, so that is not news.
        self.dialog.canceled.disconnect(self.cancel)
        self.dialog.reset()
        self.dialog.hide()
        self.dialog.deleteLater()

    def _on_result(self, value: object) -> None:
        self._close()
        self.finished.emit(value)

    def _on_error(self, exc: object) -> None:
        self._close()
        self.failed.emit(exc)
