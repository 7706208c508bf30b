"""Fixtures for the fault tests: a context on a fresh SQLite file sharing the loaded models,
a recording door behind the real door commander, real face streams."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "door"))

from door_support import RecordingDoor  # noqa: E402

from turnstile.app import AppContext  # noqa: E402
from turnstile.config import Settings  # noqa: E402
from turnstile.door import DoorCommander  # noqa: E402


@pytest.fixture
def make_ctx(photo_pipeline):
    """``make_ctx(url)``: an application context on that database, with the photo models
    already loaded (shared between tests); closed at the end of the test."""
    made = []

    def make(url: str) -> AppContext:
        context = AppContext(Settings(), database_url=url)
        context._photo_pipeline = photo_pipeline
        made.append(context)
        return context

    yield make
    for context in made:
        context.close()


@pytest.fixture
def door():
    """A recording door driven by the real door commander (unlock 300 ms)."""
    backend = RecordingDoor()
    commander = DoorCommander(backend, unlock_ms=300)
    commander.start()
    assert backend.wait_for("close")  # the commander locks the door as it starts
    yield backend, commander
    commander.shutdown()


@pytest.fixture(scope="module")
def people(shared_data):
    return shared_data / "people"
