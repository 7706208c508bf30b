"""A plain text progress bar for long CLI work (stderr, so ``--json`` output stays clean)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    """Draws ``label [#####.....] 512/1000  41.2/s  eta 12 s`` on one terminal line.

    When the stream is not a terminal it prints a line every 10 % instead, so logs stay short.

    Args:
        total: number of steps.
        label: text in front of the bar.
        stream: where to draw (stderr by default).
    """

    def __init__(self, total: int, label: str = "", stream: TextIO | None = None) -> None:
        self.total = max(total, 1)
        self.label = label
        self.stream = stream or sys.stderr
        self.done = 0
        self._start = time.perf_counter()
        self._last_draw = 0.0
        self._last_decile = -1
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def advance(self, steps: int = 1) -> None:
        self.done += steps
        now = time.perf_counter()
        if self._tty:
            if now - self._last_draw >= 0.1 or self.done >= self.total:
                self._last_draw = now
                self._draw(now, "\r")
        else:
            decile = self.done * 10 // self.total
            if decile != self._last_decile:
                self._last_decile = decile
                self._draw(now, "")
                self.stream.write("\n")

    def close(self) -> None:
        if self._tty:
            self._draw(time.perf_counter(), "\r")
            self.stream.write("\n")
        self.stream.flush()

    def _draw(self, now: float, prefix: str) -> None:
        elapsed = max(now - self._start, 1e-9)
        rate = self.done / elapsed
        eta = (self.total - self.done) / rate if rate > 0 else 0.0
        filled = int(30 * self.done / self.total)
        bar = "#" * filled + "." * (30 - filled)
        self.stream.write(
            f"{prefix}{self.label} [{bar}] {self.done}/{self.total}  {rate:.1f}/s  eta {eta:.0f} s"
        )
        self.stream.flush()
