"""Fixtures of the door tests: an app context on a fresh SQLite file sharing the loaded
models, and the folder of real face photos."""

from __future__ import annotations

import pytest

from turnstile.app import AppContext
from turnstile.config import Settings


@pytest.fixture
def ctx(tmp_path, photo_pipeline):
    context = AppContext(Settings(), database_url="sqlite:///" + str(tmp_path / "t.db"))
    context._photo_pipeline = photo_pipeline  # share the loaded models between tests
    yield context
    context.close()


@pytest.fixture
def people(shared_data):
    return shared_data / "people"
