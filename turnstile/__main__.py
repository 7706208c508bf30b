"""Entry point: ``turnstile`` (the app) and ``turnstile VERB ...`` (the command line)."""

from __future__ import annotations

import logging
import os
import sys

# Matching is one matrix-vector product per face; OpenBLAS's threads only fight the camera,
# detector and embedder for the two cores (measured: 24 ms instead of 0.2 ms at 10k
# templates on a busy machine). Set before numpy is first imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def main(argv: list[str] | None = None) -> int:
    """Run a CLI verb, or the desktop app when none is given."""
    from turnstile import cli

    args = sys.argv[1:] if argv is None else argv
    logging.basicConfig(
        level=logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return cli.run(args)


if __name__ == "__main__":
    sys.exit(main())
