"""Fixtures of the calibration tests: the shipped score model, a real AppContext on a fresh
SQLite file, and helpers that fill it with people and access events."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from turnstile.app import AppContext
from turnstile.resources import embedder_model_id
from turnstile.services.calibration import ScoreModel, load_score_model
from turnstile.storage import repositories as repo


@pytest.fixture(scope="session")
def score_model() -> ScoreModel:
    """The score model shipped in assets/ (sha256-checked)."""
    return load_score_model()


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[AppContext]:
    """The app's services on ``tmp_path/t.db``; no face model is loaded by these tests."""
    context = AppContext(database_url="sqlite:///" + str(tmp_path / "t.db"))
    yield context
    try:
        from PySide6.QtCore import QThreadPool

        QThreadPool.globalInstance().waitForDone(30_000)
    except ImportError:  # pragma: no cover - Qt is always installed with the app
        pass
    context.close()


@pytest.fixture
def add_people(ctx: AppContext):
    """``add_people(count, status="active")``: employees E0001... (no photos needed to be
    counted as enrolled)."""
    counter = {"n": 0}

    def do(count: int, status: str = "active") -> None:
        with ctx.db.session() as s:
            for _ in range(count):
                counter["n"] += 1
                repo.create_employee(s, employee_number=f"E{counter['n']:04d}",
                                     name=f"Person {counter['n']}", status=status)

    return do


@pytest.fixture
def add_scored_events(ctx: AppContext):
    """``add_scored_events(decision, scores, threshold, model_id=None, days_ago=1)``."""

    def do(decision: str, scores, threshold: float, model_id: str | None = None,
           days_ago: float = 1.0) -> None:
        at = datetime.now(UTC) - timedelta(days=days_ago)
        with ctx.db.session() as s:
            door = repo.get_or_create_door(s, "Main entrance").id
            for score in scores:
                repo.add_event(s, door_id=door, decision=decision, at=at, score=float(score),
                               threshold=threshold, model_id=model_id or embedder_model_id(),
                               employee_id=None)

    return do
