"""CLI fixtures: the real ``turnstile`` command on a fresh SQLite file in ``tmp_path``, real
photos from ``../shared/data`` (the tests skip when that folder is absent)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from cli_support import PHOTOS, Outcome

from turnstile.cli import run


@pytest.fixture
def photos(shared_data: Path) -> dict[str, Path]:
    """Real photos by short name (read in place, never copied into the repository)."""
    return {key: shared_data.joinpath(*parts) for key, parts in PHOTOS.items()}


@pytest.fixture
def blank_photo(tmp_path: Path) -> Path:
    """A grey 640x480 picture with some texture and no face."""
    rng = np.random.default_rng(3)
    image = np.full((480, 640, 3), 128, np.uint8)
    image += rng.integers(0, 20, image.shape, dtype=np.uint8)
    path = tmp_path / "blank.png"
    cv2.imwrite(str(path), image)
    return path


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    return tmp_path / "data" / "turnstile.db"


@pytest.fixture
def db_url(db_file: Path) -> str:
    return f"sqlite:///{db_file}"


@pytest.fixture
def cli(db_url: str, capsys: pytest.CaptureFixture[str]) -> Callable[..., Outcome]:
    """Run ``turnstile --db <tmp db> ARGS...`` in this process, as a user would type it."""

    def invoke(*args: object) -> Outcome:
        capsys.readouterr()
        code = run(["--db", db_url, *map(str, args)])
        captured = capsys.readouterr()
        return Outcome(code, captured.out, captured.err)

    return invoke
