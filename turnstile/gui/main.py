"""Starting the desktop app."""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import sys
from typing import Any

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
"""Signals that close the window the normal way (a service manager stopping the station, a
shutdown, Ctrl+C in the terminal): the door page locks the door and writes the access log
before the process exits, instead of dying with the door in whatever state it was."""


def run_app(args: argparse.Namespace) -> int:
    """Start the window; returns the process exit code."""
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from turnstile import resources
    from turnstile.app import AppContext
    from turnstile.gui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Turnstile")
    app.setDesktopFileName("turnstile")  # Wayland matches the window to the menu entry
    app.setOrganizationName("Turnstile")
    icon = resources.icon_path()
    if icon is not None:
        app.setWindowIcon(QIcon(str(icon)))
    ctx = AppContext(database_url=getattr(args, "db", None))
    source = "demo" if getattr(args, "demo", False) else getattr(args, "source", None)
    window = MainWindow(ctx, source=source)
    window.show()
    restore = _close_on_signals(window)
    privacy_jobs = PrivacyJobs(ctx, window)
    privacy_jobs.start()
    try:
        return int(app.exec())
    finally:
        restore()
        privacy_jobs.stop()
        window.close()  # idempotent: stops the door station if the loop ended another way
        ctx.close()


def _close_on_signals(window: Any) -> Any:
    """Close ``window`` (through its normal close path) on SIGTERM or SIGINT.

    Python runs signal handlers only between bytecodes of the main thread, which sits in
    Qt's event loop: the signal is also written to a socket that a ``QSocketNotifier``
    watches, so the loop wakes up at once and the handler runs. Returns a function that
    restores the previous handlers.
    """
    from PySide6.QtCore import QSocketNotifier, QTimer

    previous: dict[int, Any] = {}
    receiver, sender = socket.socketpair()
    receiver.setblocking(False)
    sender.setblocking(False)
    try:
        old_fd = signal.set_wakeup_fd(sender.fileno(), warn_on_full_buffer=False)
    except ValueError:  # not the main thread (an embedding test): leave signals alone
        receiver.close()
        sender.close()
        return lambda: None
    notifier = QSocketNotifier(receiver.fileno(), QSocketNotifier.Type.Read)

    def drain() -> None:
        try:
            while receiver.recv(64):
                pass
        except OSError:
            pass

    notifier.activated.connect(drain)

    def stop(signum: int, frame: object) -> None:
        log.warning("%s received: locking the door, saving the access log and closing",
                    signal.Signals(signum).name)
        QTimer.singleShot(0, window.close)

    for sig in STOP_SIGNALS:
        previous[sig] = signal.signal(sig, stop)

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        signal.set_wakeup_fd(old_fd)
        notifier.setEnabled(False)
        receiver.close()
        sender.close()

    return restore


def privacy_job(ctx: Any) -> Any:
    """What runs at start and every 24 hours, off the GUI thread: check that the data key is
    here, encrypt rows from before encryption, apply the retention policy.

    Raises:
        KeyMissingError, KeyFileError: the key is missing or unusable (the door stays locked:
            its staff list cannot be decrypted).
    """
    from turnstile.services.privacy import protect_legacy_data
    from turnstile.services.retention import run_retention
    from turnstile.storage import crypto

    db = ctx.db
    with db.session() as s:
        key_id = crypto.active_key_id(s, create=False)
    if key_id is not None:
        crypto.keys().key(key_id)
    protect_legacy_data(db)
    return run_retention(db, ctx.settings)


class PrivacyJobs:
    """Runs :func:`privacy_job` at start and every :data:`~turnstile.services.retention.
    RETENTION_INTERVAL_S` on the thread pool; a missing or unusable key is shown in a dialog
    once (the door page already keeps the door locked when it cannot load the staff list).

    Args:
        ctx: the application context.
        parent: the window dialogs belong to.
    """

    def __init__(self, ctx: Any, parent: Any, interval_ms: int | None = None) -> None:
        from PySide6.QtCore import QTimer

        from turnstile.services.retention import RETENTION_INTERVAL_S

        self.ctx = ctx
        self.parent = parent
        self.timer = QTimer(parent)
        self.timer.setInterval(interval_ms if interval_ms is not None
                               else RETENTION_INTERVAL_S * 1000)
        self.timer.timeout.connect(self.run_now)
        self.running = False
        self.stopped = False
        self.last_result: Any = None
        self.last_error: BaseException | None = None
        self._warned = False

    def start(self) -> None:
        """Run once now, then on the timer."""
        self.timer.start()
        self.run_now()

    def stop(self) -> None:
        self.stopped = True
        self.timer.stop()

    def run_now(self) -> None:
        """Start one run on the thread pool (skipped while one is running)."""
        from turnstile.gui.tasks import run_task

        if self.running or self.stopped:
            return
        self.running = True
        ctx = self.ctx
        run_task(lambda: privacy_job(ctx), self._done, self._failed)

    def _done(self, report: Any) -> None:
        self.running = False
        self.last_result, self.last_error = report, None
        for problem in getattr(report, "problems", ()):
            log.error("retention: %s", problem)

    def _failed(self, exc: BaseException) -> None:
        from turnstile.storage.crypto import ProtectionError

        self.running = False
        self.last_error = exc
        log.error("privacy job failed: %s", exc if isinstance(exc, ProtectionError)
                  else type(exc).__name__)
        if isinstance(exc, ProtectionError) and not self._warned and not self.stopped:
            self._warned = True
            from turnstile.gui.dialogs import show_error

            show_error(self.parent, "Encryption key missing", exc)
