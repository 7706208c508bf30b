"""What the bundled ``turnstile`` executable runs: the same ``main()`` as ``pip install``.

One more thing, only when ``TURNSTILE_SMOKE_TEST=1`` is set (the installer's smoke test, or an
administrator checking a new machine): the window starts as usual and, once the main window is
on screen, the program prints ``turnstile: main window shown (...)`` and exits 0. If no main
window appears within ``TURNSTILE_SMOKE_TIMEOUT_S`` seconds (default 60) it prints why and
exits 1. The check needs Qt, so it lives here and not in the ``turnstile`` package (only
``turnstile.gui`` imports PySide6 there); it changes nothing when the variable is unset.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import time

SMOKE_ENV = "TURNSTILE_SMOKE_TEST"
SMOKE_TIMEOUT_ENV = "TURNSTILE_SMOKE_TIMEOUT_S"
DEFAULT_SMOKE_TIMEOUT_S = 60.0
POLL_MS = 50
MAIN_WINDOW_CLASS = "MainWindow"
SMOKE_EXIT_FAILED = 1


def _arm_smoke_test(started_s: float) -> None:
    """Make the window quit (0) once the main window is exposed, or (1) after the timeout.

    ``turnstile.gui.main.run_app`` reuses an existing ``QApplication``, so creating it here
    lets a timer watch the real start-up path without changing it. The timer only fires once
    an event loop runs, i.e. after ``window.show()``; a modal dialog before the main window
    (its own event loop) simply keeps the poll going.
    """
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    timeout_s = float(os.environ.get(SMOKE_TIMEOUT_ENV) or DEFAULT_SMOKE_TIMEOUT_S)
    timer = QTimer(app)
    timer.setInterval(POLL_MS)

    def poll() -> None:
        elapsed_s = time.perf_counter() - started_s
        for widget in app.topLevelWidgets():
            handle = widget.windowHandle()
            if (type(widget).__name__ == MAIN_WINDOW_CLASS and widget.isVisible()
                    and handle is not None and handle.isExposed()):
                timer.stop()
                print(f"turnstile: main window shown ({widget.windowTitle()!r}, "
                      f"{widget.width()}x{widget.height()}) after {elapsed_s:.2f} s",
                      flush=True)
                # Close it the way a user would, so the pages shut down their workers.
                widget.close()
                app.exit(0)
                return
        if elapsed_s > timeout_s:
            timer.stop()
            shown = [type(w).__name__ for w in app.topLevelWidgets() if w.isVisible()]
            print(f"turnstile: no main window after {timeout_s:.0f} s "
                  f"(visible windows: {shown or 'none'})", file=sys.stderr, flush=True)
            app.exit(SMOKE_EXIT_FAILED)

    timer.timeout.connect(poll)
    timer.start()


def launch() -> int:
    """Run Turnstile (a CLI verb, or the window when none is given)."""
    started_s = time.perf_counter()
    from turnstile.__main__ import main

    argv = sys.argv[1:]
    if os.environ.get(SMOKE_ENV) == "1" and not _is_cli_verb(argv):
        _arm_smoke_test(started_s)
    return main(argv)


def _is_cli_verb(argv: list[str]) -> bool:
    """True when the arguments name a command (the window is started without one)."""
    from turnstile import cli

    try:  # silently: main() parses (and answers --help/--version) again
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            args, _ = cli.build_parser().parse_known_args(argv)
    except SystemExit:  # --help, --version, or a bad command line: no window either way
        return True
    return getattr(args, "verb", None) is not None


if __name__ == "__main__":
    sys.exit(launch())
