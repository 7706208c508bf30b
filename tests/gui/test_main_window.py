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


# -- 1:1 mode: a USB badge reader types into the door's window ---------------------------------

ENROLL, SETTINGS = 1, 4


def scan(window, text: str) -> None:
    """What a USB badge reader does: the characters of ``text``, then Enter, as key events to
    the window, which Qt hands to whichever widget has the keyboard focus."""
    from PySide6.QtTest import QTest

    handle = window.windowHandle()
    for character in text:
        QTest.keyClick(handle, character)
    QTest.keyClick(handle, Qt.Key.Key_Return)


def click_menu(window: MainWindow, row: int, qtbot) -> None:
    item = window.nav.visualItemRect(window.nav.item(row)).center()
    qtbot.mouseClick(window.nav.viewport(), Qt.MouseButton.LeftButton, pos=item)


@pytest.fixture
def badge_door(ctx, qtbot, monkeypatch):
    """``make()``: the window of a 1:1 door (``door_mode = "verify"``); ``window.claims``
    records the numbers the door page was given."""
    import dataclasses

    monkeypatch.setattr(door_page.DoorPage, "reload_gallery", lambda self: None)
    ctx.settings = dataclasses.replace(ctx.settings, door_mode="verify")
    windows = []

    def make() -> MainWindow:
        win = MainWindow(ctx, source="demo")
        qtbot.addWidget(win)
        win.show()
        qtbot.waitUntil(win.isActiveWindow, timeout=5_000)  # keys go to the active window
        win.claims = []
        win.door.claim_requested.connect(win.claims.append)
        windows.append(win)
        return win

    yield make
    for win in windows:
        win.close()


def at_the_door(window: MainWindow) -> bool:
    return window.stack.currentWidget() is window.door and window.login_dialog is None \
        and highlighted(window) == ["Door"]


@pytest.mark.parametrize("who", ["nobody", "admin"])
def test_a_badge_scanned_at_start_up_goes_into_the_badge_box(badge_door, request, who):
    if who == "nobody":
        request.getfixturevalue("logged_out")
    window = badge_door()
    assert window.focusWidget() is window.door.badge_input
    scan(window, "E-500")
    assert window.claims == ["E-500"]
    assert at_the_door(window)


def test_a_scan_goes_into_the_badge_box_whatever_had_the_focus(badge_door, qtbot):
    window = badge_door()  # an admin is logged in: the menu could switch pages
    control = Qt.KeyboardModifier.ControlModifier
    # Back from another page, by keyboard and with the mouse.
    qtbot.keyClick(window, Qt.Key.Key_3, control)
    assert window.stack.currentWidget() is window.people
    qtbot.keyClick(window, Qt.Key.Key_1, control)
    scan(window, "E-501")
    click_menu(window, PEOPLE, qtbot)
    assert window.stack.currentWidget() is window.people
    click_menu(window, DOOR, qtbot)
    assert window.focusWidget() is window.door.badge_input
    scan(window, "E-502")
    # A click in the menu on the page shown leaves the keyboard focus in the menu: its
    # type-ahead search ("E": Enroll) must not get the scan.
    click_menu(window, DOOR, qtbot)
    assert window.focusWidget() is window.nav
    scan(window, "E-503")
    # Nor may the Log out button (Space clicks it), nor the menu's arrow keys.
    window.login_button.setFocus()
    scan(window, "E 504")
    window.nav.setFocus()
    qtbot.keyClick(window.windowHandle(), Qt.Key.Key_Down)
    scan(window, "E-505")
    assert window.claims == ["E-501", "E-502", "E-503", "E 504", "E-505"]
    assert at_the_door(window) and window.ctx.current_user is not None
    # Shortcuts stay shortcuts.
    qtbot.keyClick(window.windowHandle(), Qt.Key.Key_2, control)
    assert window.stack.currentWidget() is window.enroll


def test_nobody_logged_in_a_scan_opens_no_login_dialog(badge_door, logged_out, qtbot):
    window = badge_door()
    click_menu(window, DOOR, qtbot)  # the keyboard focus is in the menu
    scan(window, "E-500")
    assert window.claims == ["E-500"] and at_the_door(window)
    # After a login dialog is cancelled, the next scan goes into the box too.
    qtbot.mouseClick(window.login_button, Qt.MouseButton.LeftButton)
    assert window.login_dialog is not None
    window.login_dialog.reject()
    qtbot.waitUntil(lambda: window.login_dialog is None, timeout=5_000)
    qtbot.waitUntil(lambda: window.focusWidget() is window.door.badge_input, timeout=5_000)
    scan(window, "E-501")
    click_menu(window, ENROLL, qtbot)  # a refused page: the dialog asks for a login
    assert window.login_dialog is not None
    window.login_dialog.reject()
    qtbot.waitUntil(lambda: window.login_dialog is None, timeout=5_000)
    scan(window, "E-502")
    assert window.claims == ["E-500", "E-501", "E-502"] and at_the_door(window)


def test_the_badge_box_has_the_focus_once_settings_switch_to_one_to_one(window, qtbot):
    import dataclasses

    qtbot.waitUntil(window.isActiveWindow, timeout=5_000)
    claims: list[str] = []
    window.door.claim_requested.connect(claims.append)
    click_menu(window, SETTINGS, qtbot)
    assert window.stack.currentWidget() is window.settings_page
    window.settings_page.settings_changed.emit(
        dataclasses.replace(window.ctx.settings, door_mode="verify"))
    click_menu(window, DOOR, qtbot)
    assert window.focusWidget() is window.door.badge_input
    scan(window, "E-500")
    assert claims == ["E-500"] and at_the_door(window)


def test_an_identifying_door_leaves_the_keyboard_alone(window, qtbot):
    """1:N mode has no badge box: the menu keeps its keys."""
    qtbot.waitUntil(window.isActiveWindow, timeout=5_000)
    click_menu(window, DOOR, qtbot)
    qtbot.keyClick(window.windowHandle(), Qt.Key.Key_Down)
    assert window.stack.currentWidget() is window.enroll


# -- the door banner at the smallest window -----------------------------------------------------

LONG_TITLES = [
    ("Please turn your head slightly to your left, then back.",
     "Making sure a live person is at the door.", False),
    ("Please scan your badge or type your employee number.", "", False),
    ("Welcome, Alexander Maximilian Fitzgerald-Habsburg", "Please come in.", True),
    ("Access denied", "The face does not match this employee number. Please ask at "
                      "reception.", False),
]


def _shows_all_of(label) -> bool:
    """Whether the label's whole text is drawn inside it (a label that does not wrap is
    cut at its right edge)."""
    rect = label.contentsRect()
    flags = int(label.alignment().value)
    if label.wordWrap():
        flags |= int(Qt.TextFlag.TextWordWrap.value)
    needed = label.fontMetrics().boundingRect(rect, flags, label.text())
    return needed.width() <= rect.width() and needed.height() <= rect.height()


@pytest.mark.parametrize("size", [(1024, 640), (1280, 760)])
def test_the_door_banner_shows_its_whole_title(window, qtbot, size):
    import dataclasses

    from PySide6.QtGui import QColor, QPixmap

    door = window.door
    door.apply_settings(dataclasses.replace(window.ctx.settings, door_mode="verify"))
    door.worker.faces_found.disconnect(door._on_report)  # only the texts below are shown
    window.resize(*size)
    qtbot.waitUntil(lambda: (window.width(), window.height()) == size, timeout=5_000)
    photo = QPixmap(100, 100)
    photo.fill(QColor("gray"))
    for title, detail, with_photo in LONG_TITLES:
        door._set_banner("checking", title, detail, photo if with_photo else None)
        # (once the layout has settled)
        qtbot.waitUntil(lambda: _shows_all_of(door.banner_title)
                        and _shows_all_of(door.banner_detail), timeout=2_000)
        assert door.banner_title.geometry().right() < door.door_pill.geometry().left()
        # The picture keeps most of the page.
        bottom = door.video.mapTo(window, door.video.rect().bottomLeft()).y()
        assert door.video.height() >= 240 and bottom < window.height(), title
