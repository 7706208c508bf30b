"""Service fixtures: a fresh SQLite file per test and, for enrollment, the real models."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from turnstile.app import AppContext
from turnstile.storage.db import Database, open_database


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'data' / 'turnstile.db'}"


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = open_database(db_url)
    yield database
    database.dispose()


@pytest.fixture
def ctx(db_url: str) -> Iterator[AppContext]:
    """The application context on this test's database (real models, loaded on first use)."""
    context = AppContext(database_url=db_url)
    yield context
    context.close()
