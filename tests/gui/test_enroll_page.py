"""The Enroll page driven like a receptionist would, over the real services and real faces."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from turnstile.gui.enroll_camera import (
    NO_FACE,
    READY,
    SEVERAL_FACES,
    SHORT_ADVICE,
    live_feedback,
)
from turnstile.gui.enroll_page import CONSENT_TEXT, CONSENT_TEXT_VERSION, EnrollPage
from turnstile.storage import repositories as repo
from turnstile.vision.quality import Problem, Quality
from turnstile.vision.types import Face

WAIT_MS = 30_000


@pytest.fixture
def page(models, qtbot):
    widget = EnrollPage(models)
    qtbot.addWidget(widget)
    widget.resize(1200, 720)
    widget.show()
    yield widget
    widget.shutdown()


def load(page, qtbot, path: Path) -> object:
    with qtbot.waitSignal(page.photo_analysed, timeout=WAIT_MS) as blocker:
        page.load_photo(str(path))
    return blocker.args[0]


def fill(page, qtbot, number: str, name: str, department: str = "") -> None:
    for edit, text in ((page.number_edit, number), (page.name_edit, name),
                       (page.department_edit, department)):
        edit.clear()
        if text:
            qtbot.keyClicks(edit, text)


def click(qtbot, widget) -> None:
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)


def employees(ctx) -> list:
    with ctx.db.session() as s:
        return repo.list_employees(s)


def templates(ctx, employee_id: int) -> list:
    with ctx.db.session() as s:
        return repo.list_templates(s, employee_id)


def test_enroll_a_new_person_from_a_photo_file(ctx, page, qtbot, people_dir) -> None:
    analysis = load(page, qtbot, people_dir / "Barack_Obama" / "obama.jpg")
    assert analysis.error is None and len(analysis.boxes) == 1
    assert page.preview.has_image() and len(page.preview.marks) == 1
    assert page.photo_message.kind == "success"
    assert "good for enrollment" in page.photo_message.text()
    assert not page.face_spin.isVisible()  # one face: nothing to choose

    fill(page, qtbot, "E1001", "Barack Obama", "Management")
    click(qtbot, page.enroll_button)  # consent not given yet
    assert page.message.kind == "error" and "consent" in page.message.text().lower()
    assert employees(ctx) == []

    click(qtbot, page.consent_check)
    with qtbot.waitSignal(page.enrolled, timeout=WAIT_MS) as blocker:
        click(qtbot, page.enroll_button)
    result = blocker.args[0]
    assert "is enrolled" in page.result_text.text()
    assert page.result_crop.isVisible() and not page.result_crop.pixmap().isNull()
    [person] = employees(ctx)
    assert (person.employee_number, person.name, person.department) == (
        "E1001", "Barack Obama", "Management")
    assert person.consent_at is not None and person.consent_text_version == CONSENT_TEXT_VERSION
    [template] = templates(ctx, person.id)
    assert template.source == "photo" and template.source_name == "obama.jpg"
    assert template.face_crop == result.face_crop_jpeg
    # The door can recognise them at once (the gallery was refreshed).
    probe = ctx.enrollment.check_photo(str(people_dir / "Barack_Obama" / "obama2.jpg"))
    assert ctx.galleries.gallery.identify(probe.face.embedding).employee_id == person.id
    # The form is ready for the next person.
    assert page.number_edit.text() == "" and not page.consent_check.isChecked()
    assert not page.preview.has_image()


def test_consent_text_is_shown(page) -> None:
    from PySide6.QtWidgets import QLabel

    assert any(label.text() == CONSENT_TEXT for label in page.findChildren(QLabel))


def test_a_dropped_photo_is_loaded(page, qtbot, people_dir) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(people_dir / "Joe_Biden" / "biden.jpg"))])
    target = page.preview
    enter = QDragEnterEvent(QPoint(10, 10), Qt.DropAction.CopyAction, mime,
                            Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(target, enter)
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime,
                      Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(page.photo_analysed, timeout=WAIT_MS) as blocker:
        QApplication.sendEvent(target, drop)
    assert blocker.args[0].error is None and page.preview.has_image()


def test_a_dropped_text_file_is_refused(page, tmp_path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(text))])
    enter = QDragEnterEvent(QPoint(10, 10), Qt.DropAction.CopyAction, mime,
                            Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(page.preview, enter)
    assert not enter.isAccepted()


def test_a_photo_without_a_face_is_explained_and_not_saved(ctx, page, qtbot,
                                                          tmp_path) -> None:
    blank = tmp_path / "wall.png"
    cv2.imwrite(str(blank), np.full((480, 640, 3), 180, np.uint8))
    analysis = load(page, qtbot, blank)
    assert analysis.error is not None
    assert page.photo_message.kind == "error" and "No face" in page.photo_message.text()
    fill(page, qtbot, "E1", "Nobody")
    click(qtbot, page.consent_check)
    click(qtbot, page.enroll_button)
    assert page.message.kind == "error" and "No face" in page.message.text()
    assert employees(ctx) == []


def test_a_broken_file_is_explained(page, qtbot, tmp_path) -> None:
    broken = tmp_path / "photo.jpg"
    broken.write_bytes(b"\xff\xd8 this is not really a JPEG")
    analysis = load(page, qtbot, broken)
    assert analysis.error is not None
    assert page.photo_message.kind == "error"
    assert "Traceback" not in page.photo_message.text()


def test_choose_one_face_of_a_group_photo(ctx, page, qtbot, shared_data) -> None:
    analysis = load(page, qtbot, shared_data / "group_photos" / "obama_and_biden.jpg")
    assert len(analysis.boxes) == 3 and analysis.face_index == 0
    assert page.face_spin.isVisible() and page.face_spin.maximum() == 3
    assert [m.label for m in page.preview.marks] == ["1", "2", "3"]
    assert "3 faces" in page.photo_message.text()
    with qtbot.waitSignal(page.photo_analysed, timeout=WAIT_MS) as blocker:
        page.face_spin.setValue(2)
    assert blocker.args[0].face_index == 1
    assert [m.selected for m in page.preview.marks] == [False, True, False]
    fill(page, qtbot, "E2", "Second face")
    click(qtbot, page.consent_check)
    with qtbot.waitSignal(page.enrolled, timeout=WAIT_MS):
        click(qtbot, page.enroll_button)
    [person] = employees(ctx)
    # The stored face is the second largest one, not the first.
    chosen = ctx.enrollment.check_photo(str(shared_data / "group_photos" /
                                             "obama_and_biden.jpg"), face_index=1)
    first = ctx.enrollment.check_photo(str(shared_data / "group_photos" /
                                            "obama_and_biden.jpg"), face_index=0)
    assert ctx.galleries.everyone.verify(person.id, chosen.face.embedding) > 0.99
    assert ctx.galleries.everyone.verify(person.id, first.face.embedding) < 0.95


def test_duplicate_face_needs_an_explicit_confirmation(ctx, page, qtbot, enroll,
                                                       people_dir) -> None:
    obama = enroll("E1001", "Barack Obama", "Barack_Obama/obama.jpg")
    analysis = load(page, qtbot, people_dir / "Barack_Obama" / "obama2.jpg")
    assert analysis.check.duplicate_of[0] == obama
    assert page.photo_message.kind == "warning" and "Barack Obama" in page.photo_message.text()
    fill(page, qtbot, "E2000", "Look Alike")
    click(qtbot, page.consent_check)
    click(qtbot, page.enroll_button)
    qtbot.waitUntil(lambda: page.duplicate_dialog is not None, timeout=WAIT_MS)
    dialog = page.duplicate_dialog
    assert len(employees(ctx)) == 1  # nothing saved yet
    assert not dialog.other_face.pixmap().isNull()  # the enrolled person's stored face
    assert not dialog.new_face.pixmap().isNull()
    assert not dialog.enroll_button.isEnabled()
    click(qtbot, dialog.confirm)
    assert dialog.enroll_button.isEnabled()
    with qtbot.waitSignal(page.enrolled, timeout=WAIT_MS) as blocker:
        click(qtbot, dialog.enroll_button)
    assert blocker.args[0].warnings and "E1001" in blocker.args[0].warnings[0]
    assert {e.employee_number for e in employees(ctx)} == {"E1001", "E2000"}


def test_cancelling_the_duplicate_warning_saves_nothing(ctx, page, qtbot, enroll,
                                                        people_dir) -> None:
    enroll("E1001", "Barack Obama", "Barack_Obama/obama.jpg")
    load(page, qtbot, people_dir / "Barack_Obama" / "obama3.jpg")
    page.face_spin.setValue(1)
    fill(page, qtbot, "E2000", "Look Alike")
    click(qtbot, page.consent_check)
    click(qtbot, page.enroll_button)
    qtbot.waitUntil(lambda: page.duplicate_dialog is not None, timeout=WAIT_MS)
    click(qtbot, page.duplicate_dialog.cancel_button)
    qtbot.waitUntil(lambda: page.duplicate_dialog is None)
    assert len(employees(ctx)) == 1


def test_taken_employee_number_is_shown_on_the_field(ctx, page, qtbot, enroll,
                                                     people_dir) -> None:
    enroll("E1", "Joe Biden", "Joe_Biden/biden.jpg")
    load(page, qtbot, people_dir / "Kit_Harington" / "john1.jpeg")
    fill(page, qtbot, "E1", "Kit Harington")
    click(qtbot, page.consent_check)
    with qtbot.waitSignal(page.enroll_failed, timeout=WAIT_MS):
        click(qtbot, page.enroll_button)
    assert page.message.kind == "error" and "already in use" in page.message.text()
    assert page.number_edit.hasFocus()
    assert [e.name for e in employees(ctx)] == ["Joe Biden"]
    assert page.name_edit.text() == "Kit Harington"  # nothing typed is lost


def test_add_a_photo_then_re_enroll_an_existing_person(ctx, page, qtbot, enroll,
                                                       people_dir) -> None:
    obama = enroll("E1001", "Barack Obama", "Barack_Obama/obama.jpg")
    page.refresh_people()
    qtbot.waitUntil(lambda: page.person_combo.count() == 1, timeout=WAIT_MS)
    page.start_add_photo(obama)
    assert page.mode_existing.isChecked() and page.selected_person() == obama
    assert page.enroll_button.text() == "Save photo"
    analysis = load(page, qtbot, people_dir / "Barack_Obama" / "obama2.jpg")
    assert analysis.check.duplicate_of is None  # their own face is no duplicate
    with qtbot.waitSignal(page.enrolled, timeout=WAIT_MS):
        click(qtbot, page.enroll_button)
    assert len(templates(ctx, obama)) == 2
    assert "photo was added" in page.result_text.text()

    page.start_add_photo(obama, replace=True)
    load(page, qtbot, people_dir / "Barack_Obama" / "obama1.jpg")
    with qtbot.waitSignal(page.enrolled, timeout=WAIT_MS) as blocker:
        click(qtbot, page.enroll_button)
    [only] = templates(ctx, obama)
    assert only.id == blocker.args[0].template_id and only.source_name == "obama1.jpg"
    assert "replaced" in page.result_text.text()
    assert len(employees(ctx)) == 1


def test_add_photo_needs_a_person(page, qtbot, people_dir) -> None:
    page.mode_existing.setChecked(True)
    load(page, qtbot, people_dir / "Joe_Biden" / "biden.jpg")
    click(qtbot, page.enroll_button)
    assert page.message.kind == "error" and "Choose the enrolled person" in page.message.text()


def test_camera_preview_gives_live_advice_and_takes_the_photo(ctx, page, qtbot,
                                                              shared_data) -> None:
    video = shared_data / "video" / "selfie_blinks.mp4"
    with qtbot.waitSignal(page.camera.frame_ready, timeout=WAIT_MS) as blocker:
        page.start_camera(str(video))
    assert page.camera.running and page.capture_button.isVisible()
    assert not page.enroll_button.isEnabled()  # take the photo first
    feedback = blocker.args[1]
    assert len(feedback.boxes) == 1  # the man in the selfie clip
    qtbot.waitUntil(lambda: page.preview.hint != "", timeout=WAIT_MS)
    assert page.preview.has_image()
    with qtbot.waitSignal(page.photo_analysed, timeout=WAIT_MS) as analysed:
        click(qtbot, page.capture_button)
    assert not page.camera.running
    assert analysed.args[0].error is None
    fill(page, qtbot, "E77", "Selfie Man")
    click(qtbot, page.consent_check)
    with qtbot.waitSignal(page.enrolled, timeout=WAIT_MS) as done:
        click(qtbot, page.enroll_button)
    with ctx.db.session() as s:
        template = repo.list_templates(s, done.args[0].employee_id)[0]
    assert template.source == "camera" and template.source_name is None


def test_camera_that_cannot_be_opened_is_explained(page, qtbot, tmp_path) -> None:
    with qtbot.waitSignal(page.camera.error_occurred, timeout=WAIT_MS) as blocker:
        page.start_camera(str(tmp_path / "no-such-video.mp4"))
    assert "does not exist" in blocker.args[0]
    qtbot.waitUntil(lambda: not page.camera.running, timeout=WAIT_MS)
    assert page.photo_message.kind == "error"
    assert page.camera_button.text() == "Start camera"


def _face(x: float = 100, size: float = 200) -> Face:
    landmarks = np.array([[x + 60, 80], [x + 140, 80], [x + 100, 120], [x + 100, 160],
                          [x + 20, 90], [x + 180, 90]], np.float32)
    return Face((x, 20, size, size), landmarks, 0.9)


def _quality(*problems: Problem) -> Quality:
    return Quality(80.0, 60.0, 0.0, 0.5, 120.0, 40.0, list(problems))


def test_live_feedback_words() -> None:
    assert live_feedback([], None).hint == NO_FACE
    several = live_feedback([_face(0), _face(300)], _quality())
    assert several.hint == SEVERAL_FACES and not several.ready and len(several.boxes) == 2
    assert live_feedback([_face()], _quality(Problem.TOO_SMALL)).hint == "Move closer"
    assert live_feedback([_face()], _quality(Problem.TOO_DARK)).hint.startswith("Too dark")
    assert live_feedback([_face()], _quality(Problem.TURNED)).hint == "Look at the camera"
    # Distance first: a small face is also blurred and dark, but moving closer fixes most.
    assert live_feedback([_face()], _quality(Problem.BLURRED, Problem.TOO_DARK,
                                             Problem.TOO_SMALL)).hint == "Move closer"
    good = live_feedback([_face()], _quality())
    assert good.hint == READY and good.ready and good.ok == [True]
    assert set(SHORT_ADVICE) == set(Problem)  # every problem has words


# --- messages go when they stop applying, and never move the buttons --------------------


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
