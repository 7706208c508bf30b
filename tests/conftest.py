"""Shared fixtures. Qt must be told to draw offscreen before anything imports it."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Data keys of every test database in one session folder (never the user's keyring): a
# database prepared once and copied into several tests' homes still finds its key.
os.environ.setdefault("TURNSTILE_KEY_DIR", tempfile.mkdtemp(prefix="turnstile-keys-"))

import numpy as np  # noqa: E402
import pytest  # noqa: E402

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("TURNSTILE_SHARED_DATA", PROJECT_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (real faces); tests using it skip when it is absent."""
    if not (SHARED_DATA / "README.md").is_file():
        pytest.skip(f"real face data not found at {SHARED_DATA} (the ../shared/data folder)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def astronaut_bgr() -> np.ndarray:
    """A public-domain photo of a face shipped with scikit-image (Eileen Collins), as BGR."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[:, :, ::-1])


@pytest.fixture(scope="session")
def pipeline():
    """The real pipeline (door detector, shipped embedder, flip TTA)."""
    from turnstile.app import build_pipeline

    return build_pipeline()


@pytest.fixture(scope="session")
def photo_pipeline():
    """The real pipeline with the photo detector (short + full range)."""
    from turnstile.app import build_pipeline

    return build_pipeline(detector_mode="photo")


@pytest.fixture
def models_ctx(tmp_path, photo_pipeline):
    """An app context on a fresh SQLite file that shares the loaded models between tests."""
    from turnstile.app import AppContext
    from turnstile.config import Settings

    context = AppContext(Settings(), database_url="sqlite:///" + str(tmp_path / "t.db"))
    context._photo_pipeline = photo_pipeline
    yield context
    context.close()


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory,
                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Never touch the real user data/config folders."""
    monkeypatch.setenv("TURNSTILE_HOME", str(tmp_path_factory.mktemp("home")))
