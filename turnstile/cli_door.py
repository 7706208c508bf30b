"""``turnstile door run``: a door station without a window (see :mod:`turnstile.door.headless`).

Examples::

    turnstile door run --source 0 --door-name "Loading bay" \\
        --db postgresql+psycopg://turnstile@db.example/turnstile
    turnstile door run --source hall.mp4 --door-name "Test door" --max-seconds 60 --json

Each decision and each staff list put in force is printed as one line on stdout (``--json``:
one JSON object a line, for scripts and supervisors). Names never appear there, only
employee ids: the output usually ends up in a system log. SIGTERM or Ctrl+C stops the
station cleanly: the door is locked and the access log written before it exits.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from turnstile.app import AppContext
    from turnstile.door.headless import StaffReload
    from turnstile.door.station import StationDecision


def add_parsers(verbs: Any, groups: dict[str, Any], common: list[argparse.ArgumentParser]
                ) -> None:
    """Add ``door run`` to the command line (see :data:`turnstile.cli._EXTENSIONS`)."""
    door = verbs.add_parser("door", help="run a door station without a window")
    actions = door.add_subparsers(dest="door_verb", metavar="ACTION", required=True)
    run = actions.add_parser(
        "run", parents=common, help="recognise people at a door from a camera, without a window",
        description="Run a door station without a screen: camera -> recognition -> door and "
                    "access log. Staff changes made anywhere (the desk, other stations) take "
                    "effect within a second.")
    run.add_argument("--source", metavar="SOURCE", default=argparse.SUPPRESS,
                     help="the camera: a webcam index (0), a video file, a stream URL or "
                          "'demo' (default: the settings' camera)")
    run.add_argument("--door-name", metavar="NAME", default=None,
                     help="this door's name in the access log (default: the settings')")
    run.add_argument("--max-seconds", metavar="S", type=_positive_float, default=None,
                     help="stop after S seconds (default: run until stopped)")
    run.add_argument("--max-frames", metavar="N", type=int, default=None,
                     help="stop after N frames")
    run.add_argument("--loop", action="store_true",
                     help="play a video file again when it ends (default: stop there)")
    run.add_argument("--fast", action="store_true",
                     help="read a video file as fast as it can be processed, not at its "
                          "frame rate")
    run.add_argument("--json", action="store_true",
                     help="print one JSON object per line (decisions, staff reloads, summary)")


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def door_run(args: argparse.Namespace, ctx: AppContext) -> int:
    """Run the headless station until the limits given, SIGTERM or Ctrl+C."""
    from turnstile.cli import EXIT_OK, CommandError
    from turnstile.config import SettingsError
    from turnstile.door.headless import HeadlessDoor

    source = "demo" if getattr(args, "demo", False) else (
        getattr(args, "source", None) or ctx.settings.camera_source)
    if args.max_frames is not None and args.max_frames <= 0:
        raise CommandError("--max-frames must be more than 0.")
    out = _Output(args.json)
    try:
        station = HeadlessDoor(ctx, source, door_name=args.door_name,
                               realtime=not args.fast, loop=args.loop,
                               on_decision=out.decision, on_reload=out.reload)
    except SettingsError as exc:
        raise CommandError(f"--door-name: {exc}") from None
    out.say(f"door {station.door_name!r}: starting on {source} "
            f"(database {ctx.db.where})", kind="start", door=station.door_name)
    if ctx.settings.door_mode == "verify":
        # 1:1 mode: a USB badge reader (or a keypad) types the number and Enter on stdin.
        out.say("1:1 mode: reading employee numbers from standard input, one a line",
                kind="badges")
        threading.Thread(target=_read_badges, args=(station, sys.stdin), daemon=True,
                         name="badges").start()
    with _stop_on_signals(station.request_stop):
        summary = station.run(max_seconds=args.max_seconds, max_frames=args.max_frames)
    if station.door_problem:
        out.say(f"door hardware not used: {station.door_problem}", kind="door_problem")
    out.summary(station.door_name, summary)
    return EXIT_OK


def _read_badges(station: Any, stream: Any) -> None:
    for line in stream:
        number = line.strip()
        if number:
            station.claim(number)


HANDLERS: dict[tuple[str, ...], Callable[[argparse.Namespace, AppContext], int]] = {
    ("door",): door_run,
}
ROLES: dict[tuple[str, ...], str | None] = {("door",): None}
"""The door runs unattended, as the door page does without a login: it changes nobody's
access and shows nothing beyond employee ids (a service manager starts it as the data
folder's owner)."""


class _Output:
    """Lines on stdout, flushed at once (a supervisor or a test reads them live)."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self._lock = threading.Lock()  # decisions and reloads come from two threads

    def _emit(self, text: str, data: dict[str, Any]) -> None:
        with self._lock:
            print(json.dumps(data) if self.as_json else text, flush=True)

    def say(self, text: str, *, kind: str, **data: Any) -> None:
        self._emit(text, {"event": kind, "message": text, **data})

    def decision(self, d: StationDecision) -> None:
        who = f"employee {d.employee_id}" if d.employee_id is not None else "nobody known"
        reason = f": {d.reason}" if d.reason else ""
        self._emit(f"{d.at.isoformat(timespec='seconds')} {d.verdict} {who}{reason}",
                   {"event": "decision", "verdict": d.verdict, "employee_id": d.employee_id,
                    "reason": d.reason, "score": d.score, "passage": d.passage,
                    "at": d.at.isoformat()})

    def reload(self, r: StaffReload) -> None:
        self._emit(f"staff list {r.generation} in force: {r.allowed} may pass, "
                   f"{r.enrolled} enrolled ({r.load_s * 1000:.0f} ms)",
                   {"event": "staff_reload", "generation": r.generation,
                    "allowed": r.allowed, "enrolled": r.enrolled, "at": r.at,
                    "load_s": r.load_s, "changed": r.changed})

    def summary(self, door_name: str, s: Any) -> None:
        verdicts = ", ".join(f"{n} {v}" for v, n in sorted(s.decisions.items())) or "none"
        fps = s.frames / s.seconds if s.seconds > 0 else 0.0
        self._emit(f"door {door_name!r} stopped ({s.stopped}): {s.frames} frames in "
                   f"{s.seconds:.1f} s ({fps:.1f} fps); decisions: {verdicts}; "
                   f"{s.events_written} events logged"
                   + (f", {s.events_unsaved} saved for the next start"
                      if s.events_unsaved else ""),
                   {"event": "summary", "door": door_name, "stopped": s.stopped,
                    "frames": s.frames, "seconds": s.seconds, "fps": fps,
                    "decisions": dict(s.decisions), "reloads": s.reloads,
                    "events_written": s.events_written,
                    "events_unsaved": s.events_unsaved})


@contextmanager
def _stop_on_signals(stop: Callable[[], None]) -> Iterator[None]:
    """SIGTERM and SIGINT ask the station to stop (it then locks the door and writes the
    log); handlers are only installed from the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous[sig] = signal.signal(sig, lambda *_: stop())
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sys.stdout.flush()
