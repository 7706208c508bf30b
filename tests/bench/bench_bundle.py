"""Benchmark: size and start-up time of the self-contained program. Figures, not pass/fail.

Builds the PyInstaller bundle into a temporary folder (or takes one already built), then
prints its size on disk (and packed as .tar.gz with ``--archive``) and the medians of several
runs of:

- ``turnstile --version``: the bootloader unpacking nothing (one-folder) and starting Python;
- the window: ``turnstile --demo`` offscreen, from spawning the process until it reports the
  main window on screen (``TURNSTILE_SMOKE_TEST=1``, see ``installer/launcher.py``), and until
  it has closed again;
- ``turnstile identify PHOTO`` on a fresh database: a command that loads the models;

and the same window start from source with this Python, for comparison. The first run of
each is shown apart: it reads the files from disk, the others from the page cache.

    python tests/bench/bench_bundle.py [--bundle DIR] [--runs 5] [--data ../shared/data]
                                       [--archive]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MIB = 1024 * 1024
TIMEOUT_S = 300
SHOWN_RE = re.compile(r"main window shown .* after ([0-9.]+) s")


def _load_build_script():
    spec = importlib.util.spec_from_file_location("build_bundle",
                                                  ROOT / "installer" / "build_bundle.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build_bundle = _load_build_script()


def clean_env(home: Path) -> dict[str, str]:
    """The environment of a machine without Python, data in ``home``."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PYTHON") and k not in ("VIRTUAL_ENV", "QT_PLUGIN_PATH")}
    env.update(PATH="/usr/local/bin:/usr/bin:/bin", TURNSTILE_HOME=str(home),
               QT_QPA_PLATFORM="offscreen", OPENBLAS_NUM_THREADS="1")
    return env


def timed(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, str]:
    """Run ``command``; return (wall seconds, stdout). Raises on a non-zero exit (other than
    3, the CLI's "no" answer)."""
    start = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=TIMEOUT_S, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 3):
        raise RuntimeError(f"{command} exited {done.returncode}: {done.stderr[-2000:]}")
    return elapsed, done.stdout


def time_to_window(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Start the window (smoke-test mode); return (seconds from spawn until it reports the
    main window on screen, seconds from spawn to exit)."""
    start = time.perf_counter()
    with subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, text=True) as proc:
        assert proc.stdout is not None
        shown_s = None
        for line in proc.stdout:
            if shown_s is None and SHOWN_RE.search(line):
                shown_s = time.perf_counter() - start
        code = proc.wait(timeout=TIMEOUT_S)
    if code != 0 or shown_s is None:
        raise RuntimeError(f"{command} exited {code} without showing the main window")
    return shown_s, time.perf_counter() - start


def report(label: str, seconds: list[float]) -> None:
    rest = seconds[1:] or seconds
    print(f"  {label:<40} first {seconds[0]:5.2f} s   median of the next {len(rest)}: "
          f"{statistics.median(rest):5.2f} s   (min {min(rest):.2f}, max {max(rest):.2f})")


def measure(bundle: Path, runs: int, photo: Path | None, scratch: Path) -> None:
    program = str(build_bundle.executable(bundle))
    env = clean_env(scratch / "home")
    gui_env = {**env, "TURNSTILE_SMOKE_TEST": "1"}

    version = [timed([program, "--version"], env, scratch)[0] for _ in range(runs + 1)]
    report("turnstile --version", version)

    for label, prefix, make_command, run_env in (
            ("bundle", "gui", lambda db: [program, "--db", db, "--demo"], gui_env),
            ("source", "src", lambda db: [sys.executable, str(ROOT / "installer" / "launcher.py"),
                                          "--db", db, "--demo"],
             {**gui_env, "PYTHONPATH": str(ROOT), "PATH": os.environ.get("PATH", "")})):
        shown, process = [], []
        for i in range(runs + 1):
            db = f"sqlite:///{scratch / f'{prefix}{i}.db'}"
            shown_s, exit_s = time_to_window(make_command(db), run_env, scratch)
            shown.append(shown_s)
            process.append(exit_s)
        report(f"window: spawn to main window ({label})", shown)
        report(f"window: spawn to exit ({label})", process)

    if photo is not None:
        identify = []
        for i in range(runs + 1):
            db = f"sqlite:///{scratch / f'cli{i}.db'}"
            identify.append(timed([program, "--db", db, "identify", str(photo)], env,
                                  scratch)[0])
        report(f"turnstile identify {photo.name}", identify)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", type=Path, default=None,
                        help="a built bundle folder (default: build one in a temporary folder)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs after the first")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data",
                        help="real photos for the identify timing (skipped when absent)")
    parser.add_argument("--archive", action="store_true",
                        help="also pack the bundle as .tar.gz and report that size")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="turnstile-bench-bundle-") as tmp:
        scratch = Path(tmp)
        bundle = args.bundle.resolve() if args.bundle else None
        if bundle is None:
            start = time.perf_counter()
            bundle = build_bundle.build(scratch / "dist", scratch / "work")
            print(f"built in {time.perf_counter() - start:.0f} s")
        version = build_bundle.project_version()
        print(f"Turnstile {version} bundle {bundle}")
        print(f"  size on disk: {build_bundle.folder_size_bytes(bundle) / MIB:.0f} MiB "
              f"in {sum(1 for p in bundle.rglob('*') if p.is_file())} files")
        if args.archive:
            packed = build_bundle.archive(bundle, version, dest_dir=scratch)
            print(f"  packed (.tar.gz): {packed.stat().st_size / MIB:.0f} MiB")
        photo = args.data / "people" / "Barack_Obama" / "obama.jpg"
        measure(bundle, args.runs, photo if photo.is_file() else None, scratch)
    return 0


if __name__ == "__main__":
    sys.exit(main())
