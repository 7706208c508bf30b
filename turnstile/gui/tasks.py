"""One-off background jobs (enroll from a file, export the log, rebuild the gallery) on the
global QThreadPool, with the result or the error delivered on the GUI thread."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

log = logging.getLogger(__name__)


class _Relay(QObject):
    succeeded = Signal(object)
    failed = Signal(object)


class _Job(QRunnable):
    def __init__(self, fn: Callable[[], Any], relay: _Relay) -> None:
        super().__init__()
        self.fn = fn
        self.relay = relay

    def run(self) -> None:
        try:
            result = self.fn()
        except BaseException as exc:  # delivered to the GUI thread, never lost
            log.debug("background job failed: %s", "".join(traceback.format_exception_only(exc)))
            self.relay.failed.emit(exc)
        else:
            self.relay.succeeded.emit(result)


_alive: set[_Relay] = set()


def run_task(fn: Callable[[], Any], on_result: Callable[[Any], None],
             on_error: Callable[[BaseException], None]) -> None:
    """Run ``fn()`` on the thread pool; ``on_result(value)`` or ``on_error(exc)`` is then
    called on the GUI thread (the relay lives there, so its signals are queued to it)."""
    relay = _Relay()
    _alive.add(relay)

    def done(callback: Callable[[Any], None]) -> Callable[[Any], None]:
        def call(value: Any) -> None:
            _alive.discard(relay)
            callback(value)
        return call

    relay.succeeded.connect(done(on_result))
    relay.failed.connect(done(on_error))
    QThreadPool.globalInstance().start(_Job(fn, relay))
