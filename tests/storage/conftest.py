"""Storage fixtures: a fresh SQLite file per test, in ``tmp_path``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from turnstile.storage.db import Database, open_database


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """Path of the (not yet created) database file."""
    return tmp_path / "data" / "turnstile.db"


@pytest.fixture
def db_url(db_path: Path) -> str:
    """SQLAlchemy URL of :func:`db_path`."""
    return f"sqlite:///{db_path}"


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    """A database at head in a fresh file."""
    database = open_database(db_url)
    yield database
    database.dispose()
