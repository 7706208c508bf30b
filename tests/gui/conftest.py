"""Fixtures of the desk pages: a real AppContext on a fresh SQLite file, real faces."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from turnstile.app import AppContext
from turnstile.services.auth import CurrentUser
from turnstile.storage import repositories as repo


@pytest.fixture
def ctx(tmp_path: Path, qapp) -> Iterator[AppContext]:
    """The app's services on ``tmp_path/t.db``, built as the app builds them."""
    from PySide6.QtCore import QThreadPool

    context = AppContext(database_url="sqlite:///" + str(tmp_path / "t.db"))
    # The desk pages are tested as an admin who has logged in (the login itself is tested in
    # tests/gui/test_login*.py, with contexts where nobody is logged in).
    context.current_user = CurrentUser(account_id=0, username="desk-test", role="admin")
    yield context
    # Background jobs of the pages must not outlive the database they read.
    QThreadPool.globalInstance().waitForDone(30_000)
    context.close()


@pytest.fixture
def models(ctx: AppContext, photo_pipeline) -> AppContext:
    """``ctx`` with the session's photo pipeline (the real models, loaded once per session
    rather than once per test; the pipeline is stateless and locked for threads)."""
    ctx._photo_pipeline = photo_pipeline
    return ctx


@pytest.fixture
def people_dir(shared_data: Path) -> Path:
    return shared_data / "people"


@pytest.fixture
def enroll(models: AppContext, people_dir: Path):
    """``enroll(number, name, photo relative to people/, **details) -> employee id``."""

    def do(number: str, name: str, photo: str, **details) -> int:
        result = models.enrollment.enroll(str(people_dir / photo), employee_number=number,
                                       name=name, consent=True, **details)
        return result.employee_id

    return do


@pytest.fixture
def add_events(ctx: AppContext):
    """``add_events([(decision, employee_id, minutes_ago, score, door, snapshot), ...])``."""

    def do(events, door_name: str = "Main entrance") -> list[int]:
        now = datetime.now(UTC)
        ids = []
        with ctx.db.session() as s:
            doors: dict[str, int] = {}
            for decision, employee_id, minutes_ago, score, door, snapshot in events:
                name = door or door_name
                if name not in doors:
                    doors[name] = repo.get_or_create_door(s, name).id
                event = repo.add_event(
                    s, door_id=doors[name], decision=decision, employee_id=employee_id,
                    at=now - timedelta(minutes=minutes_ago), score=score, threshold=0.9542,
                    liveness_score=0.9, reason=None if decision == "granted" else "refused",
                    snapshot=snapshot)
                ids.append(event.id)
        return ids

    return do
