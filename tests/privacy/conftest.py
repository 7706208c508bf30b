"""Privacy fixtures: a fresh SQLite file per test (its key file in the per-test
TURNSTILE_HOME), real JPEG face pictures and helpers that read the raw database files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from turnstile.storage.db import Database, open_database


@pytest.fixture(autouse=True)
def _own_key_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each privacy test has its own key folder (the suite shares one otherwise), so a test
    sees exactly the keys its database made."""
    monkeypatch.setenv("TURNSTILE_KEY_DIR", str(tmp_path / "keys"))


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "turnstile.db"


@pytest.fixture
def db_url(db_path: Path) -> str:
    return f"sqlite:///{db_path}"


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = open_database(db_url)
    yield database
    database.dispose()


@pytest.fixture
def face_jpeg(astronaut_bgr: np.ndarray) -> bytes:
    """A real JPEG of a real face (the astronaut's head, 150 px)."""
    crop = cv2.resize(astronaut_bgr[0:220, 140:330], (150, 150))
    ok, buf = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return buf.tobytes()


@pytest.fixture
def snapshot_jpeg(astronaut_bgr: np.ndarray) -> bytes:
    """A real camera-like snapshot (the whole astronaut photo, 400 px)."""
    small = cv2.resize(astronaut_bgr, (400, 400))
    ok, buf = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 75])
    assert ok
    return buf.tobytes()
