"""The main window: every page is there, reachable by keyboard, and what the desk changes
reaches the door page at once."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from turnstile.gui import door_page
from turnstile.gui.main_window import MainWindow


@pytest.fixture
def window(qtbot, ctx, monkeypatch):
    reloads: list[int] = []
    monkeypatch.setattr(door_page.DoorPage, "reload_gallery", lambda self: reloads.append(1))
    win = MainWindow(ctx, source="demo")
    qtbot.addWidget(win)
    win.show()
    win.reloads = reloads
    yield win
    win.close()


def test_pages_and_keyboard_navigation(window, qtbot):
    titles = [window.nav.item(i).text() for i in range(window.nav.count())]
    assert titles == ["Door", "Enroll", "People", "Access log", "Settings", "Accounts",
                      "Audit trail"]
    qtbot.keyClick(window, Qt.Key.Key_3, Qt.KeyboardModifier.ControlModifier)
    assert window.stack.currentWidget() is window.people
    qtbot.keyClick(window, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert window.stack.currentWidget() is window.door


def test_the_status_bar_names_the_database_file_not_its_url(window, ctx):
    from turnstile.storage.db import sqlite_file_path

    path = sqlite_file_path(ctx.database_url)
    assert window.statusBar().currentMessage() == f"Database: {path}"


def test_desk_changes_reload_the_door_gallery(window):
    before = len(window.reloads)
    window.people.person_changed.emit(1)
    window.people.person_deleted.emit(1)
    window.enroll.enrolled.emit(object())
    assert len(window.reloads) == before + 3


def test_a_door_alert_stays_in_view_until_dismissed(window, qtbot):
    assert not window.alert_button.isVisible()
    window.door.alert_raised.emit("Barack Obama's identity was presented by 3 spoofs in a row "
                                  "at this door and is locked out here for 10 min.")
    assert window.alert_button.isVisible()
    assert "locked out" in window.alert_button.toolTip()
    assert "locked out" in window.statusBar().currentMessage()
    qtbot.mouseClick(window.alert_button, Qt.MouseButton.LeftButton)
    assert not window.alert_button.isVisible()


# -- fixes from driving the real app -----------------------------------------------------------

DOOR, PEOPLE = 0, 2


@pytest.fixture
def video_window(qtbot, ctx, pipeline, tmp_path, monkeypatch):
    """The window started with ``--source VIDEO`` while the settings say camera "0"."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "door"))
    from door_support import RecordingDoor, empty_frames, write_video

    video = write_video(tmp_path / "video.avi", empty_frames(600))
    original = door_page.DoorPage.__init__

    def with_test_parts(self, ctx, parent=None, **kwargs):
        original(self, ctx, parent, door_backend=RecordingDoor(),
                 pipeline_factory=lambda: pipeline, **kwargs)

    monkeypatch.setattr(door_page.DoorPage, "__init__", with_test_parts)
    monkeypatch.setattr(door_page.DoorPage, "reload_gallery", lambda self: None)
    assert ctx.settings.camera_source == "0"
    win = MainWindow(ctx, source=str(video))
    qtbot.addWidget(win)
    win.show()
    win.video = str(video)
    yield win
    win.close()


def test_saving_settings_keeps_the_camera_given_on_the_command_line(video_window, qtbot):
    window, door = video_window, video_window.door
    qtbot.waitUntil(lambda: door.video.has_picture, timeout=20_000)
    window.nav.setCurrentRow(4)  # Settings (an admin is logged in)
    assert window.stack.currentWidget() is window.settings_page
    assert window.settings_page.save()  # nothing changed
    assert door.source == window.video
    qtbot.wait(500)
    assert door.video.has_picture and door.banner_kind != "error"
    # Which source the door uses, and why it is not the settings' camera.
    qtbot.waitUntil(lambda: "fps" in door.status_camera.text(), timeout=20_000)
    assert "video.avi" in door.status_camera.text()
    assert "command line" in door.status_camera.text()
    # Picking another camera in the settings does move the door.
    window.settings_page.camera_combo.setCurrentText("97")
    assert window.settings_page.save()
    assert door.source == "97"
    qtbot.waitUntil(lambda: door.banner_kind == "error", timeout=20_000)
    assert "command line" not in door.status_camera.text()


@pytest.fixture
def logged_out(ctx, monkeypatch):
    from turnstile.services import auth as auth_module

    monkeypatch.setattr(auth_module, "SCRYPT_LOG2_N", 12)
    monkeypatch.setattr(auth_module, "SCRYPT_P", 1)
    monkeypatch.setattr(auth_module, "_DUMMY_HASH", None)
    ctx.current_user = None
    ctx.auth.create_first_admin("boss", "admin password 1")
    ctx.auth.create_account("desk", "front desk password", "front_desk", actor="boss")
    return ctx


def highlighted(window: MainWindow) -> list[str]:
    return [item.text() for item in window.nav.selectedItems()]


def test_a_refused_click_in_the_side_menu_leaves_the_shown_page_highlighted(
        logged_out, qtbot, monkeypatch):
    monkeypatch.setattr(door_page.DoorPage, "reload_gallery", lambda self: None)
    window = MainWindow(logged_out, source="demo")
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    people = window.nav.visualItemRect(window.nav.item(PEOPLE)).center()
    qtbot.mouseClick(window.nav.viewport(), Qt.MouseButton.LeftButton, pos=people)
    dialog = window.login_dialog
    assert dialog is not None
    dialog.reject()  # Cancel
    qtbot.waitUntil(lambda: window.login_dialog is None, timeout=5_000)
    qtbot.wait(50)
    assert window.stack.currentWidget() is window.door
    assert window.nav.currentRow() == DOOR and highlighted(window) == ["Door"]
    # Logging in later (the button, no page asked for) leaves the door page shown.
    qtbot.mouseClick(window.login_button, Qt.MouseButton.LeftButton)
    dialog = window.login_dialog
    qtbot.keyClicks(dialog.user_edit, "desk")
    qtbot.keyClicks(dialog.password_edit, "front desk password")
    qtbot.mouseClick(dialog.login_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: logged_out.current_user is not None, timeout=5_000)
    assert window.stack.currentWidget() is window.door and highlighted(window) == ["Door"]
    # A click on a page the account may use still goes there.
    qtbot.mouseClick(window.nav.viewport(), Qt.MouseButton.LeftButton, pos=people)
    assert window.stack.currentWidget() is window.people and highlighted(window) == ["People"]
    window.close()


def test_the_spoof_alert_does_not_name_anyone_on_the_door_screen(window, qtbot):
    from datetime import UTC, datetime

    from turnstile.door.station import StationDecision

    alert = ("Barack Obama's identity was presented by 3 spoofs in a row at this door and is "
             "locked out here for 10 min.")
    window.door._on_decision(StationDecision(
        "spoof", 4, 7, "Barack Obama", "no blink seen. Identity locked out for 10 min after 3 "
        "spoofs in a row.", 0.82, datetime.now(UTC), seq=10**9, source_generation=10**9,
        alert=alert))
    assert window.alert_button.isVisible()
    shown = (window.statusBar().currentMessage(), window.alert_button.text(),
             window.alert_button.toolTip(), window.door.banner_detail.text())
    assert all("Obama" not in text for text in shown), shown
    assert "locked out" in window.statusBar().currentMessage()
    assert "Access log" in window.statusBar().currentMessage()
    qtbot.mouseClick(window.alert_button, Qt.MouseButton.LeftButton)
    assert "Alert" not in window.statusBar().currentMessage()
