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
