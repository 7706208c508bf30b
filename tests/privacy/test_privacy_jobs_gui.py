"""The window's privacy job: at start (and every 24 h) off the GUI thread it applies the
retention policy; a missing key is shown in a dialog once."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from privacy_support import add_events, add_person, key_files

from turnstile.app import AppContext
from turnstile.config import Settings
from turnstile.storage import crypto
from turnstile.storage import repositories as repo
from turnstile.storage.models import utcnow


@pytest.fixture
def ctx(db_url: str, db):
    context = AppContext(Settings(retention_days_events=30), database_url=db_url)
    yield context
    context.close()


def test_the_job_applies_retention_in_the_background(qtbot, ctx: AppContext, db) -> None:
    from PySide6.QtWidgets import QWidget

    from turnstile.gui.main import PrivacyJobs

    add_events(db, 2, at=utcnow() - timedelta(days=60))
    add_events(db, 1)
    window = QWidget()
    qtbot.addWidget(window)
    jobs = PrivacyJobs(ctx, window)
    jobs.start()
    qtbot.waitUntil(lambda: not jobs.running, timeout=20_000)
    jobs.stop()
    assert jobs.last_error is None and jobs.last_result.events == 2
    assert jobs.timer.interval() == 24 * 3600 * 1000
    with db.session() as s:
        assert repo.count_events(s) == 1


def test_a_missing_key_is_shown_once_in_a_dialog(qtbot, ctx: AppContext, db, face_jpeg: bytes,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from PySide6.QtWidgets import QWidget

    from turnstile.gui import dialogs
    from turnstile.gui.main import PrivacyJobs

    add_person(db, "E1", "Ada", seed=1, crop=face_jpeg)
    (key_file,) = key_files()
    key_file.unlink()
    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(dialogs, "show_error",
                        lambda parent, title, exc: shown.append((title, str(exc))))
    crypto.set_backend(crypto.FileKeyBackend(key_file.parent))
    window = QWidget()
    qtbot.addWidget(window)
    jobs = PrivacyJobs(ctx, window, interval_ms=50)
    try:
        jobs.start()
        qtbot.waitUntil(lambda: jobs.last_error is not None and not jobs.running,
                        timeout=20_000)
        jobs.run_now()
        qtbot.waitUntil(lambda: not jobs.running, timeout=20_000)
    finally:
        jobs.stop()
        crypto.set_backend(None)
    assert isinstance(jobs.last_error, crypto.KeyMissingError)
    assert len(shown) == 1 and shown[0][0] == "Encryption key missing"
    assert "door stays locked" in shown[0][1]
    assert Path(key_file).exists() is False
