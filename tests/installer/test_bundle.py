"""The self-contained program: build the PyInstaller bundle once, then use it as an office
would, on a machine where nothing but the bundle is installed.

Building takes about a minute on two cores (it runs in CI). To test a bundle you already
built, point ``TURNSTILE_BUNDLE_DIR`` at its folder (the one holding the ``turnstile``
program)::

    python installer/build_bundle.py --out /tmp/tb
    TURNSTILE_BUNDLE_DIR=/tmp/tb/turnstile python -m pytest tests/installer -m slow

The frozen program runs with a clean environment: no ``PYTHONPATH``, no virtualenv on
``PATH``, its working folder outside the checkout, data in a fresh ``TURNSTILE_HOME``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from turnstile import __version__

pytestmark = pytest.mark.slow

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BUNDLE_ENV = "TURNSTILE_BUNDLE_DIR"
RUN_TIMEOUT_S = 180
GUI_TIMEOUT_S = 120
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
EXIT_OK, EXIT_ERROR, EXIT_NO = 0, 1, 3
UNREACHABLE_PG_URL = "postgresql+psycopg://turnstile@127.0.0.1:1/turnstile"
"""Nothing listens on port 1: the frozen program must get as far as trying to connect."""


def _load_build_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "build_bundle", PROJECT_ROOT / "installer" / "build_bundle.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build_bundle = _load_build_script()


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The bundle folder: the one in ``TURNSTILE_BUNDLE_DIR``, or a fresh build (removed after)."""
    given = os.environ.get(BUNDLE_ENV)
    if given:
        folder = Path(given).resolve()
        if not build_bundle.executable(folder).is_file():
            pytest.fail(f"{BUNDLE_ENV}={given} holds no 'turnstile' program")
        yield folder
        return
    if importlib.util.find_spec("PyInstaller") is None:
        pytest.fail("PyInstaller is missing: pip install '.[test]' (or '.[bundle]') installs it")
    root = tmp_path_factory.mktemp("bundle")
    try:
        yield build_bundle.build(root / "dist", root / "work")
    finally:
        shutil.rmtree(root, ignore_errors=True)  # ~500 MB


@pytest.fixture
def frozen_env(tmp_path: Path) -> dict[str, str]:
    """What a machine without Python gives the program: no Python paths, no virtualenv."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PYTHON") and k not in ("VIRTUAL_ENV", "QT_PLUGIN_PATH")}
    env["PATH"] = "/usr/local/bin:/usr/bin:/bin"
    env["TURNSTILE_HOME"] = str(tmp_path / "home")
    env["QT_QPA_PLATFORM"] = "offscreen"
    return env


def _run(bundle: Path, args: list[str], env: dict[str, str], cwd: Path,
         timeout_s: float = RUN_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(build_bundle.executable(bundle)), *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout_s, check=False)


def _explain(done: subprocess.CompletedProcess[str]) -> str:
    return f"exit {done.returncode}\nstdout: {done.stdout[-3000:]}\nstderr: {done.stderr[-3000:]}"


def test_frozen_program_prints_its_version(bundle_dir: Path, frozen_env: dict[str, str],
                                           tmp_path: Path) -> None:
    done = _run(bundle_dir, ["--version"], frozen_env, tmp_path)
    assert done.returncode == EXIT_OK, _explain(done)
    assert done.stdout.strip() == f"turnstile {__version__}"


def test_frozen_cli_enrolls_then_identifies_from_photos(
        bundle_dir: Path, frozen_env: dict[str, str], tmp_path: Path,
        shared_data: Path) -> None:
    people = shared_data / "people"
    db = f"sqlite:///{tmp_path / 'office' / 'turnstile.db'}"

    enrolled = _run(bundle_dir, ["--db", db, "enroll", str(people / "Barack_Obama/obama.jpg"),
                                 "--number", "E-100", "--name", "Barack Obama", "--consent"],
                    frozen_env, tmp_path)
    assert enrolled.returncode == EXIT_OK, _explain(enrolled)
    assert "E-100" in enrolled.stdout

    known = _run(bundle_dir, ["--db", db, "identify", str(people / "Barack_Obama/obama2.jpg"),
                              "--json"], frozen_env, tmp_path)
    assert known.returncode == EXIT_OK, _explain(known)
    answer = json.loads(known.stdout)
    assert (answer["answer"], answer["employee_number"]) == ("granted", "E-100")

    stranger = _run(bundle_dir, ["--db", db, "identify", str(people / "Joe_Biden/biden.jpg"),
                                 "--json"], frozen_env, tmp_path)
    assert stranger.returncode == EXIT_NO, _explain(stranger)
    answer = json.loads(stranger.stdout)
    assert answer["granted"] is False and answer["employee_number"] is None


def test_frozen_gui_shows_main_window(bundle_dir: Path, frozen_env: dict[str, str],
                                      tmp_path: Path, record_property) -> None:
    env = {**frozen_env, "TURNSTILE_SMOKE_TEST": "1",
           "TURNSTILE_SMOKE_TIMEOUT_S": str(GUI_TIMEOUT_S // 2)}
    db = f"sqlite:///{tmp_path / 'gui.db'}"
    started_s = time.perf_counter()
    done = _run(bundle_dir, ["--db", db, "--demo"], env, tmp_path, timeout_s=GUI_TIMEOUT_S)
    elapsed_s = time.perf_counter() - started_s
    record_property("gui_start_to_exit_s", round(elapsed_s, 2))
    assert done.returncode == EXIT_OK, _explain(done)
    assert f"main window shown ('Turnstile {__version__}'" in done.stdout, _explain(done)
    # The window opened the database it was given (created and migrated there).
    assert (tmp_path / "gui.db").is_file()


def test_frozen_gui_shows_main_window_on_an_x_server(bundle_dir: Path,
                                                     frozen_env: dict[str, str],
                                                     tmp_path: Path) -> None:
    """What a desktop PC uses: Qt's xcb platform and the X libraries shipped in the bundle."""
    xvfb_run = shutil.which("xvfb-run")
    if xvfb_run is None or shutil.which("Xvfb") is None:
        pytest.skip("no X server to test with: Debian's xvfb package provides one")
    env = {**frozen_env, "QT_QPA_PLATFORM": "xcb", "TURNSTILE_SMOKE_TEST": "1",
           "TURNSTILE_SMOKE_TIMEOUT_S": str(GUI_TIMEOUT_S // 2)}
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    done = subprocess.run(
        [xvfb_run, "-a", "-s", "-screen 0 1600x900x24", str(build_bundle.executable(bundle_dir)),
         "--db", f"sqlite:///{tmp_path / 'x11.db'}", "--demo"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=GUI_TIMEOUT_S,
        check=False)
    assert done.returncode == EXIT_OK, _explain(done)
    assert f"main window shown ('Turnstile {__version__}'" in done.stdout, _explain(done)


def test_frozen_program_carries_the_postgresql_driver(bundle_dir: Path,
                                                      frozen_env: dict[str, str],
                                                      tmp_path: Path) -> None:
    done = _run(bundle_dir, ["--db", UNREACHABLE_PG_URL, "employees", "list"],
                frozen_env, tmp_path)
    assert done.returncode == EXIT_ERROR, _explain(done)
    # A missing driver would be a different error; this one comes from the connection attempt.
    assert "cannot be reached" in done.stderr, _explain(done)
    assert "Connection refused" in done.stderr, _explain(done)


@pytest.fixture
def fresh_pg_url() -> Iterator[str]:
    """A new, empty PostgreSQL database on the CI server (skips without one)."""
    url = os.environ.get("TURNSTILE_TEST_PG_URL")
    if not url:
        pytest.skip("no PostgreSQL server: TURNSTILE_TEST_PG_URL is not set (.ci/run sets it)")
    psycopg = pytest.importorskip("psycopg")
    from sqlalchemy.engine import make_url

    base = make_url(url)
    name = f"turnstile_bundle_{uuid.uuid4().hex[:10]}"
    conninfo = base.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_frozen_program_migrates_and_uses_postgresql(
        bundle_dir: Path, frozen_env: dict[str, str], tmp_path: Path, fresh_pg_url: str,
        shared_data: Path) -> None:
    photo = shared_data / "people" / "Kit_Harington"
    enrolled = _run(bundle_dir, ["--db", fresh_pg_url, "enroll", str(sorted(photo.iterdir())[0]),
                                 "--number", "E-7", "--name", "Kit Harington", "--consent"],
                    frozen_env, tmp_path)
    assert enrolled.returncode == EXIT_OK, _explain(enrolled)
    listed = _run(bundle_dir, ["--db", fresh_pg_url, "employees", "list", "--json"],
                  frozen_env, tmp_path)
    assert listed.returncode == EXIT_OK, _explain(listed)
    assert "E-7" in listed.stdout


def test_install_script_adds_menu_entry_and_icon_then_removes_them(
        bundle_dir: Path, frozen_env: dict[str, str], tmp_path: Path) -> None:
    home = tmp_path / "user"
    env = {**frozen_env, "HOME": str(home)}
    env.pop("XDG_DATA_HOME", None)
    data_file = home / ".local" / "share" / "turnstile" / "turnstile.db"
    data_file.parent.mkdir(parents=True)
    data_file.write_bytes(b"the office's database")
    script = bundle_dir / "install_linux.sh"
    assert script.is_file(), "install_linux.sh must ship inside the bundle"

    done = subprocess.run(["bash", str(script)], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=RUN_TIMEOUT_S, check=False)
    assert done.returncode == EXIT_OK, _explain(done)

    program = home / ".local" / "opt" / "turnstile" / "turnstile"
    entry = home / ".local" / "share" / "applications" / "turnstile.desktop"
    icon = home / ".local/share/icons/hicolor/256x256/apps/turnstile.png"
    fields = dict(line.split("=", 1) for line in entry.read_text().splitlines() if "=" in line)
    assert fields["Exec"] == str(program) and fields["Icon"] == "turnstile"
    assert fields["Type"] == "Application" and fields["Name"] == "Turnstile"
    assert icon.read_bytes().startswith(PNG_MAGIC)
    validator = shutil.which("desktop-file-validate")
    if validator:
        checked = subprocess.run([validator, str(entry)], capture_output=True, text=True,
                                 check=False)
        assert checked.returncode == 0 and not checked.stdout.strip(), checked.stdout
    # What the menu entry runs, and the command on PATH, are the installed program.
    for command in (fields["Exec"], str(home / ".local" / "bin" / "turnstile")):
        ran = subprocess.run([command, "--version"], env=env, capture_output=True, text=True,
                             timeout=RUN_TIMEOUT_S, check=False)
        assert ran.stdout.strip() == f"turnstile {__version__}", _explain(ran)

    removed = subprocess.run(["bash", str(script), "--uninstall"], env=env, cwd=tmp_path,
                             capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False)
    assert removed.returncode == EXIT_OK, _explain(removed)
    assert not program.exists() and not entry.exists() and not icon.exists()
    assert not (home / ".local" / "bin" / "turnstile").is_symlink()
    assert data_file.read_bytes() == b"the office's database"  # data is never touched


def test_build_refuses_an_assets_file_the_spec_does_not_list(tmp_path: Path) -> None:
    """A model added to assets/ but not to the spec must stop the build, not ship without it."""
    assert importlib.util.find_spec("PyInstaller"), "pip install '.[test]' installs PyInstaller"
    fake_root = tmp_path / "checkout"
    for folder in ("installer", "turnstile", "assets"):
        shutil.copytree(PROJECT_ROOT / folder, fake_root / folder,
                        ignore=shutil.ignore_patterns("__pycache__"))
    (fake_root / "assets" / "new_model.tflite").write_bytes(b"not listed")
    done = subprocess.run(
        [sys.executable, "-m", "PyInstaller", str(fake_root / "installer" / "turnstile.spec"),
         "--noconfirm", "--distpath", str(tmp_path / "dist"), "--workpath", str(tmp_path / "w")],
        cwd=fake_root, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False)
    assert done.returncode != 0
    assert "new_model.tflite" in done.stdout + done.stderr
    assert not (tmp_path / "dist" / "turnstile").exists()
