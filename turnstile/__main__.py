"""Entry point: ``turnstile`` (the app) and ``turnstile VERB ...`` (the command line)."""

from __future__ import annotations

import logging
import os
import signal
import sys

# Matching is one matrix-vector product per face; OpenBLAS's threads only fight the camera,
# detector and embedder for the two cores (measured: 24 ms instead of 0.2 ms at 10k
# templates on a busy machine). Set before numpy is first imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def main(argv: list[str] | None = None) -> int:
    """Run a CLI verb, or the desktop app when none is given."""
    from turnstile import cli

    if argv is None:  # the program itself, not a caller in-process
        _terminate_like_ctrl_c()
    args = sys.argv[1:] if argv is None else argv
    logging.basicConfig(
        level=logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return cli.run(args)


def _terminate_like_ctrl_c() -> None:
    """SIGTERM (``kill``, a service manager, a shutdown) stops a command the way Ctrl+C does:
    the transaction in progress is rolled back, the database closed, exit code 130. The
    desktop app and ``turnstile door run`` install their own handlers, which also lock the
    door and write the access log. A SIGTERM that the parent set to be ignored stays so."""
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _raise_interrupt)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"{signal.Signals(signum).name} received")


if __name__ == "__main__":
    sys.exit(main())
