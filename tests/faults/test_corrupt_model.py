"""A model file damaged on disk (a bad copy, a disk error, a truncated update): the program
says which file and what to do, exits with code 1 without a traceback, and the door stays
locked. Run on a real installed-like tree: the package copied with its assets, one of them
damaged."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from door_support import RecordingDoor
from PySide6.QtCore import QThread

from turnstile import resources
from turnstile.door import DoorCommander
from turnstile.errors import ModelFileError
from turnstile.gui.vision_worker import VisionWorker, default_pipeline
from turnstile.matching.door_policy import DoorPolicy


def _damaged_install(tmp_path, model: resources.ModelFile, how: str):
    """A copy of the package whose ``assets/`` has ``model`` truncated or bit-flipped
    (the other files are links to the real ones)."""
    package = tmp_path / "site" / "turnstile"
    shutil.copytree(resources.__file__.rsplit(os.sep, 1)[0], package,
                    ignore=shutil.ignore_patterns("__pycache__", "assets"))
    assets = package / "assets"
    assets.mkdir()
    for item in resources.assets_dir().iterdir():
        (assets / item.name).symlink_to(item)
    (assets / model.filename).unlink()
    data = bytearray((resources.assets_dir() / model.filename).read_bytes())
    if how == "truncated":
        data = data[: len(data) // 3]
    else:
        data[len(data) // 2] ^= 0x10
    (assets / model.filename).write_bytes(bytes(data))
    return package.parent, assets / model.filename


@pytest.mark.parametrize(("model", "how"), [
    (resources.EMBEDDER, "truncated"),
    (resources.DETECTOR_FULL_RANGE, "bit flip"),
    (resources.CONFIRM_EMBEDDER, "bit flip"),
])
def test_cli_with_a_damaged_model_exits_1_naming_the_file(tmp_path, shared_data, model, how):
    site, damaged = _damaged_install(tmp_path, model, how)
    env = dict(os.environ, PYTHONPATH=str(site), PYTHONIOENCODING="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "turnstile", "--db", f"sqlite:///{tmp_path / 't.db'}",
         "enroll", str(shared_data / "people" / "Barack_Obama" / "obama.jpg"),
         "--number", "E1", "--name", "Barack Obama", "--consent"],
        capture_output=True, text=True, encoding="utf-8", env=env, cwd=tmp_path, timeout=120,
        check=False)
    assert done.returncode == 1, done.stderr[-3000:]
    assert str(damaged) in done.stderr
    assert "corrupt" in done.stderr and "Reinstall" in done.stderr
    assert "Traceback" not in done.stderr
    # Nothing was half-written: the person is not there.
    listing = subprocess.run(
        [sys.executable, "-m", "turnstile", "--db", f"sqlite:///{tmp_path / 't.db'}",
         "employees", "list", "--json"], capture_output=True, text=True, env=env,
        cwd=tmp_path, timeout=120, check=False)
    assert listing.returncode == 0 and listing.stdout.strip() == "[]"


def test_door_with_a_damaged_model_reports_it_and_stays_locked(qtbot, tmp_path, monkeypatch):
    _, damaged = _damaged_install(tmp_path, resources.DETECTOR_SHORT_RANGE, "bit flip")
    monkeypatch.setattr(resources, "assets_dir", lambda: damaged.parent)
    with pytest.raises(ModelFileError):
        default_pipeline()  # what the door's worker builds at start
    door = RecordingDoor()
    commander = DoorCommander(door, unlock_ms=300)
    commander.start()
    worker = VisionWorker("demo", DoorPolicy(3), door=commander)
    thread = QThread()
    worker.moveToThread(thread)
    thread.started.connect(worker.start)
    errors: list[str] = []
    worker.error_occurred.connect(errors.append)
    with qtbot.waitSignal(worker.error_occurred, timeout=30_000):
        thread.start()
    assert door.wait_for("close", 2)  # the start close and the "models missing" close
    with qtbot.waitSignal(thread.finished, timeout=10_000):
        worker.request_stop()
    thread.wait()
    commander.shutdown()
    assert "could not be loaded" in errors[0] and str(damaged) in errors[0]
    assert "Reinstall" in errors[0]
    assert door.count("open") == 0 and door.commands[-2:] == ["close", "release"]
