"""Build the self-contained Turnstile program (a PyInstaller one-folder bundle).

    pip install '.[bundle]'                       # PyInstaller, once
    python installer/build_bundle.py [--out DIR] [--work DIR] [--archive]

The result, ``DIR/turnstile/`` (default ``dist/turnstile/``), runs on a Linux machine of the
same architecture without Python: ``DIR/turnstile/turnstile`` is the program (the window, or
``turnstile enroll ...`` and the other commands), ``install_linux.sh`` beside it installs it
with a menu entry and icon. ``--archive`` also packs it as
``DIR/turnstile-VERSION-linux-ARCH.tar.gz`` to copy to the machines. The build checks that the
frozen program starts (``--version``) and prints the bundle's size; start-up times are
measured by ``tests/bench/bench_bundle.py``.
"""

from __future__ import annotations

import argparse
import importlib.util
import platform
import subprocess
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "installer" / "turnstile.spec"
APP_NAME = "turnstile"
DEFAULT_OUT = ROOT / "dist"
DEFAULT_WORK = ROOT / "build" / "pyinstaller"
VERSION_TIMEOUT_S = 120
MIB = 1024 * 1024

EXIT_OK, EXIT_FAILED, EXIT_NOT_INSTALLED = 0, 1, 2


class BuildError(RuntimeError):
    """The bundle could not be built or does not start; the message says why."""


class PyInstallerMissing(BuildError):
    """PyInstaller is not installed in this Python."""


def project_version() -> str:
    """The version in ``turnstile/__init__.py`` (what the frozen ``--version`` must print)."""
    sys.path.insert(0, str(ROOT))
    try:
        from turnstile import __version__
    finally:
        sys.path.remove(str(ROOT))
    return __version__


def executable(bundle_dir: Path) -> Path:
    """The program inside a bundle folder (``.../turnstile/turnstile``)."""
    return bundle_dir / APP_NAME


def build(out_dir: Path = DEFAULT_OUT, work_dir: Path = DEFAULT_WORK,
          log_level: str = "WARN") -> Path:
    """Run PyInstaller on ``installer/turnstile.spec`` and check that the result starts.

    Args:
        out_dir: where the bundle folder ``turnstile/`` is written (replaced if present).
        work_dir: PyInstaller's scratch folder (kept: a rebuild reuses its cache).
        log_level: PyInstaller's log level.

    Returns:
        The bundle folder.

    Raises:
        BuildError: PyInstaller is missing or failed, or the frozen program does not start.
    """
    if importlib.util.find_spec("PyInstaller") is None:
        raise PyInstallerMissing(f"PyInstaller is not installed in {sys.executable}: "
                                 "pip install '.[bundle]'")
    command = [sys.executable, "-m", "PyInstaller", str(SPEC), "--noconfirm",
               "--distpath", str(out_dir), "--workpath", str(work_dir),
               "--log-level", log_level]
    done = subprocess.run(command, cwd=ROOT, check=False)
    if done.returncode != 0:
        raise BuildError(f"PyInstaller failed (exit {done.returncode}); its messages are above")
    bundle_dir = out_dir / APP_NAME
    check_version(bundle_dir, project_version())
    return bundle_dir


def check_version(bundle_dir: Path, version: str) -> None:
    """Run ``turnstile --version`` from the bundle; raise BuildError unless it says ``version``."""
    program = executable(bundle_dir)
    if not program.is_file():
        raise BuildError(f"{program} was not built")
    done = subprocess.run([str(program), "--version"], capture_output=True, text=True,
                          timeout=VERSION_TIMEOUT_S, check=False)
    expected = f"{APP_NAME} {version}"
    if done.returncode != 0 or done.stdout.strip() != expected:
        raise BuildError(f"the frozen program does not start: {program} --version exited "
                         f"{done.returncode}, printed {done.stdout.strip()!r} "
                         f"(expected {expected!r}); stderr: {done.stderr.strip()[-2000:]}")


def folder_size_bytes(folder: Path) -> int:
    """Bytes of the regular files under ``folder`` (symbolic links not followed)."""
    return sum(p.lstat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def archive(bundle_dir: Path, version: str, dest_dir: Path | None = None) -> Path:
    """Pack the bundle folder as ``turnstile-VERSION-linux-ARCH.tar.gz`` in ``dest_dir``
    (default: beside the folder)."""
    name = f"{APP_NAME}-{version}-{platform.system().lower()}-{platform.machine()}.tar.gz"
    target = (dest_dir or bundle_dir.parent) / name
    partial = target.with_name(target.name + ".partial")
    with tarfile.open(partial, "w:gz") as tar:
        tar.add(bundle_dir, arcname=APP_NAME)
    partial.replace(target)
    return target


def main(argv: list[str] | None = None) -> int:
    """Build the bundle, print where it is and its size."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"folder for the bundle (default: {DEFAULT_OUT})")
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK,
                        help=f"PyInstaller's scratch folder (default: {DEFAULT_WORK})")
    parser.add_argument("--archive", action="store_true",
                        help="also pack the bundle as a .tar.gz to copy to other machines")
    args = parser.parse_args(argv)
    out_dir, work_dir = args.out.resolve(), args.work.resolve()
    version = project_version()
    if importlib.util.find_spec("psycopg") is None:
        print("build_bundle: psycopg is not installed, so this bundle will only use SQLite "
              "(pip install '.[bundle]' adds the PostgreSQL driver)", file=sys.stderr)
    started_s = time.perf_counter()
    try:
        bundle_dir = build(out_dir, work_dir)
    except BuildError as exc:
        print(f"build_bundle: {exc}", file=sys.stderr)
        return EXIT_NOT_INSTALLED if isinstance(exc, PyInstallerMissing) else EXIT_FAILED
    built_s = time.perf_counter() - started_s
    print(f"Turnstile {version} bundle: {bundle_dir} "
          f"({folder_size_bytes(bundle_dir) / MIB:.0f} MiB, built in {built_s:.0f} s)")
    print(f"  run it:     {executable(bundle_dir)} [--demo]")
    print(f"  install it: {bundle_dir / 'install_linux.sh'}   (menu entry and icon)")
    if args.archive:
        packed = archive(bundle_dir, version)
        print(f"  archive:    {packed} ({packed.stat().st_size / MIB:.0f} MiB)")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
