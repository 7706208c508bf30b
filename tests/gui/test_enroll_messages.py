"""Messages on the Enroll page go when they stop applying, and never move the buttons
(real widgets and real faces, offscreen)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication

from turnstile.gui.enroll_page import EnrollPage

WAIT_MS = 30_000


@pytest.fixture
def page(models, qtbot):
    widget = EnrollPage(models)
    qtbot.addWidget(widget)
    widget.resize(1200, 720)
    widget.show()
    yield widget
    widget.shutdown()


def load(page, qtbot, path: Path) -> None:
    with qtbot.waitSignal(page.photo_analysed, timeout=WAIT_MS):
        page.load_photo(str(path))


def click(qtbot, widget) -> None:
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)


def test_choose_a_photo_first_goes_when_a_photo_is_loaded(page, qtbot, people_dir) -> None:
    click(qtbot, page.enroll_button)
    assert page.message.isVisible() and "Choose a photo first" in page.message.text()
    load(page, qtbot, people_dir / "Barack_Obama" / "obama.jpg")
    assert page.photo_message.kind == "success"
    assert not page.message.isVisible() and page.message.text() == ""


def test_saved_goes_when_the_next_photo_is_loaded(page, qtbot, people_dir) -> None:
    load(page, qtbot, people_dir / "Barack_Obama" / "obama.jpg")
    qtbot.keyClicks(page.number_edit, "E1")
    qtbot.keyClicks(page.name_edit, "Barack Obama")
    click(qtbot, page.consent_check)
    with qtbot.waitSignal(page.enrolled, timeout=WAIT_MS):
        click(qtbot, page.enroll_button)
    assert page.message.text() == "Saved." and page.result_crop.isVisible()
    load(page, qtbot, people_dir / "Joe_Biden" / "biden.jpg")
    assert not page.message.isVisible() and page.message.text() == ""
    assert not page.result_crop.isVisible() and page.result_text.text() == ""


def test_a_camera_error_goes_when_the_mode_changes(page, qtbot, tmp_path) -> None:
    with qtbot.waitSignal(page.camera.error_occurred, timeout=WAIT_MS):
        page.start_camera(str(tmp_path / "no-such-video.mp4"))
    qtbot.waitUntil(lambda: not page.camera.running, timeout=WAIT_MS)
    assert page.photo_message.kind == "error"
    click(qtbot, page.mode_existing)
    assert not page.photo_message.isVisible() and page.photo_message.text() == ""


def test_a_form_error_goes_when_the_form_is_fixed(page, qtbot, people_dir) -> None:
    load(page, qtbot, people_dir / "Barack_Obama" / "obama.jpg")
    click(qtbot, page.enroll_button)
    assert page.message.kind == "error" and "employee number" in page.message.text()
    qtbot.keyClicks(page.number_edit, "E1")
    assert not page.message.isVisible()
    page.mode_existing.setChecked(True)
    click(qtbot, page.enroll_button)
    assert "Choose the enrolled person" in page.message.text()
    page.mode_new.setChecked(True)  # that was about the other form
    assert not page.message.isVisible()


def _buttons_y(page) -> tuple[int, int]:
    QApplication.processEvents()
    return (page.open_button.mapTo(page, QPoint(0, 0)).y(),
            page.camera_button.mapTo(page, QPoint(0, 0)).y())


def test_messages_do_not_move_the_photo_buttons(page, qtbot, people_dir) -> None:
    where = _buttons_y(page)
    page.photo_message.info("Reading the photo...")
    assert _buttons_y(page) == where
    page.photo_message.error("This face cannot be enrolled: " + "the face is too small; " * 12)
    assert _buttons_y(page) == where
    page.photo_message.clear_message()
    assert _buttons_y(page) == where
    load(page, qtbot, people_dir / "Barack_Obama" / "obama.jpg")
    click(qtbot, page.enroll_button)  # the form's message
    assert page.message.isVisible() and _buttons_y(page) == where
