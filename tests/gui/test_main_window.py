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
    assert titles == ["Door", "Enroll", "People", "Access log", "Settings"]
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
