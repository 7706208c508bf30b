"""Fixtures of the door tests: an app context on a fresh SQLite file sharing the loaded
models, and the folder of real face photos."""

from __future__ import annotations

import pytest


@pytest.fixture
def ctx(models_ctx):
    return models_ctx


@pytest.fixture
def people(shared_data):
    return shared_data / "people"
