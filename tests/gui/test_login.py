"""Logins in the real window (offscreen): the first admin, leaving the door page, a wrong
password, lockout, a front desk kept out of admin pages, idle logout and "Log out"."""

from __future__ import annotations

import logging

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog

from turnstile.gui import door_page
from turnstile.gui.first_run import FirstRunDialog
from turnstile.gui.login_dialog import LoginDialog
from turnstile.gui.main_window import MainWindow
from turnstile.services import auth as auth_module
from turnstile.services.audit import AuditFilter
from turnstile.storage import repositories as repo

ADMIN_PW = "admin password 1"
DESK_PW = "front desk password"
WAIT_MS = 10_000
DOOR, ENROLL, PEOPLE, LOG, SETTINGS, ACCOUNTS, AUDIT = range(7)


@pytest.fixture(autouse=True)
def cheap_kdf(monkeypatch: pytest.MonkeyPatch) -> None:
    """Still scrypt, with less work: these tests are about the window, not hash strength."""
    monkeypatch.setattr(auth_module, "SCRYPT_LOG2_N", 12)
    monkeypatch.setattr(auth_module, "SCRYPT_P", 1)
    monkeypatch.setattr(auth_module, "_DUMMY_HASH", None)


@pytest.fixture
def nobody(ctx):
    """The app's context with nobody logged in (the shared fixture logs in an admin)."""
    ctx.current_user = None
    return ctx


@pytest.fixture
def with_accounts(nobody):
    nobody.auth.create_first_admin("boss", ADMIN_PW)
    nobody.auth.create_account("desk", DESK_PW, "front_desk", actor="boss")
    return nobody


@pytest.fixture
def make_window(qtbot, monkeypatch):
    monkeypatch.setattr(door_page.DoorPage, "reload_gallery", lambda self: None)
    windows = []

    def make(ctx) -> MainWindow:
        win = MainWindow(ctx, source="demo")
        qtbot.addWidget(win)
        win.show()
        windows.append(win)
        return win

    yield make
    for win in windows:
        win.close()


def login(window: MainWindow, qtbot, name: str, password: str) -> LoginDialog:
    dialog = window.login_dialog
    assert isinstance(dialog, LoginDialog) and dialog.isVisible()
    dialog.user_edit.clear()
    qtbot.keyClicks(dialog.user_edit, name)
    qtbot.keyClicks(dialog.password_edit, password)
    qtbot.mouseClick(dialog.login_button, Qt.MouseButton.LeftButton)
    return dialog


def visible_titles(window: MainWindow) -> list[str]:
    return [window.nav.item(i).text() for i in range(window.nav.count())
            if not window.nav.item(i).isHidden()]


def audit(ctx, *actions: str) -> list[tuple[str, str | None, bool]]:
    entries = ctx.audit_trail.query(AuditFilter(actions=actions or None), newest_first=False)
    return [(e.actor, e.target, e.success) for e in entries]


def test_first_run_creates_the_admin_without_a_default_password(nobody, make_window,
                                                                 qtbot) -> None:
    window = make_window(nobody)
    qtbot.waitUntil(lambda: isinstance(window.login_dialog, FirstRunDialog), timeout=WAIT_MS)
    dialog = window.login_dialog
    assert dialog.password_edit.text() == ""  # nothing pre-filled
    assert window.stack.currentWidget() is window.door  # the door keeps working
    qtbot.keyClicks(dialog.user_edit, "boss")
    qtbot.keyClicks(dialog.password_edit, ADMIN_PW)
    qtbot.keyClicks(dialog.confirm_edit, "something else")
    qtbot.mouseClick(dialog.create_button, Qt.MouseButton.LeftButton)
    assert "differ" in dialog.message.text() and not nobody.auth.has_accounts()
    dialog.password_edit.clear()
    qtbot.keyClicks(dialog.password_edit, "short")
    qtbot.keyClicks(dialog.confirm_edit, "short")
    qtbot.mouseClick(dialog.create_button, Qt.MouseButton.LeftButton)
    assert "at least 10" in dialog.message.text() and not nobody.auth.has_accounts()
    dialog.password_edit.clear()
    dialog.confirm_edit.clear()
    qtbot.keyClicks(dialog.password_edit, ADMIN_PW)
    qtbot.keyClicks(dialog.confirm_edit, ADMIN_PW)
    qtbot.mouseClick(dialog.create_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.login_dialog is None, timeout=WAIT_MS)
    assert nobody.current_user.username == "boss" and nobody.current_user.role == "admin"
    assert "boss (admin)" in window.user_label.text()
    assert len(visible_titles(window)) == 7
    assert audit(nobody, "account_add", "login") == [("boss", "boss", True)] * 2


def test_leaving_the_door_page_needs_a_login(with_accounts, make_window, qtbot,
                                            caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    ctx = with_accounts
    window = make_window(ctx)
    qtbot.wait(50)
    assert window.login_dialog is None  # accounts exist: no first-run dialog
    window.nav.setCurrentRow(PEOPLE)
    assert window.stack.currentWidget() is window.door
    dialog = login(window, qtbot, "boss", "wrong password!")
    assert "Wrong user name or password" in dialog.message.text()
    assert dialog.password_edit.text() == ""  # the typed password is not kept
    assert window.stack.currentWidget() is window.door and ctx.current_user is None
    dialog.reject()
    qtbot.waitUntil(lambda: window.login_dialog is None, timeout=WAIT_MS)
    qtbot.keyClick(window, Qt.Key.Key_3, Qt.KeyboardModifier.ControlModifier)
    login(window, qtbot, "boss", ADMIN_PW)
    assert window.stack.currentWidget() is window.people
    assert ctx.current_user.username == "boss"
    # (the first entry is the first admin's own login, when the account was created)
    assert audit(ctx, "login", "login_failed")[1:] == [
        ("boss", "boss", False), ("boss", "boss", True)]
    assert ADMIN_PW not in caplog.text and "wrong password!" not in caplog.text


def test_repeated_wrong_passwords_lock_the_account(with_accounts, make_window, qtbot) -> None:
    ctx = with_accounts
    ctx.settings = type(ctx.settings)(max_failed_logins=2)
    window = make_window(ctx)
    window.nav.setCurrentRow(ENROLL)
    dialog = login(window, qtbot, "desk", "wrong password 1")
    assert dialog.message.text() == "Wrong user name or password."
    login(window, qtbot, "desk", "wrong password 2")
    assert "locked" in dialog.message.text()
    login(window, qtbot, "desk", DESK_PW)  # the right one, too late
    assert "Too many failed attempts" in dialog.message.text()
    assert ctx.current_user is None and window.stack.currentWidget() is window.door


def test_front_desk_cannot_reach_admin_pages(with_accounts, make_window, qtbot) -> None:
    ctx = with_accounts
    with ctx.db.session() as s:
        repo.create_employee(s, employee_number="E1", name="Ada Lovelace")
    window = make_window(ctx)
    window.nav.setCurrentRow(ENROLL)
    login(window, qtbot, "desk", DESK_PW)
    assert window.stack.currentWidget() is window.enroll
    assert visible_titles(window) == ["Door", "Enroll", "People"]
    for row in (LOG, SETTINGS, ACCOUNTS, AUDIT):
        window.nav.setCurrentRow(row)  # what Ctrl+4 .. Ctrl+7 do
        assert window.stack.currentWidget() is window.enroll
        assert "needs an admin account" in window.statusBar().currentMessage()
    refused = [t for a, t, ok in audit(ctx, "permission_denied") if a == "desk" and not ok]
    assert refused == ["page Access log", "page Settings", "page Accounts", "page Audit trail"]
    # Deleting people is admin work: the button is hidden and the page refuses it anyway.
    window.nav.setCurrentRow(PEOPLE)
    qtbot.waitUntil(lambda: window.people.model.rowCount() == 1, timeout=WAIT_MS)
    assert not window.people.delete_button.isVisible()
    window.people.table.selectRow(0)
    window.people.delete_selected()
    assert "needs an admin account" in window.people.message.text()
    with ctx.db.session() as s:
        assert repo.get_employee_by_number(s, "E1").name == "Ada Lovelace"


def test_idle_logout_goes_back_to_the_door(with_accounts, make_window, qtbot) -> None:
    ctx = with_accounts
    window = make_window(ctx)
    assert window.idle_timer.interval() == ctx.settings.idle_logout_min * 60_000
    window.nav.setCurrentRow(ACCOUNTS)
    login(window, qtbot, "boss", ADMIN_PW)
    assert window.stack.currentWidget() is window.accounts_page
    add = window.accounts_page.add_account()  # a dialog left open
    window.idle_timer.setInterval(300)
    window.idle_timer.start()
    qtbot.waitUntil(lambda: ctx.current_user is None, timeout=WAIT_MS)
    assert window.stack.currentWidget() is window.door
    assert not add.isVisible()
    assert "Not logged in" in window.user_label.text()
    (entry,) = ctx.audit_trail.query(AuditFilter(actions=("logout",)))
    assert entry.actor == "boss" and "idle" in entry.detail
    window.nav.setCurrentRow(ACCOUNTS)  # back in: a login again
    assert isinstance(window.login_dialog, LoginDialog)
    assert window.stack.currentWidget() is window.door


def test_activity_keeps_the_session(with_accounts, make_window, qtbot) -> None:
    ctx = with_accounts
    window = make_window(ctx)
    window.nav.setCurrentRow(PEOPLE)
    login(window, qtbot, "boss", ADMIN_PW)
    window.idle_timer.setInterval(400)
    window.idle_timer.start()
    for _ in range(6):  # 600 ms of typing, a key every 100 ms
        qtbot.wait(100)
        qtbot.keyClick(window.people.search_edit, "a")
    assert ctx.current_user is not None
    qtbot.waitUntil(lambda: ctx.current_user is None, timeout=WAIT_MS)


def test_log_out_action(with_accounts, make_window, qtbot) -> None:
    ctx = with_accounts
    window = make_window(ctx)
    assert not window.logout_action.isEnabled()
    window.nav.setCurrentRow(AUDIT)
    login(window, qtbot, "boss", ADMIN_PW)
    assert window.stack.currentWidget() is window.audit_page
    assert window.login_button.text() == "Log out"
    window.logout_action.trigger()
    assert ctx.current_user is None and window.stack.currentWidget() is window.door
    assert len(visible_titles(window)) == 7  # nothing hidden from whoever logs in next
    assert audit(ctx, "logout") == [("boss", "boss", True)]
    qtbot.mouseClick(window.login_button, Qt.MouseButton.LeftButton)
    assert isinstance(window.login_dialog, QDialog)


def test_setting_a_password_starts_typing_in_the_password_box(qtbot) -> None:
    """The user name is fixed when an admin sets someone's password: what they type goes
    into the password, not into the read-only name."""
    from turnstile.gui.accounts_page import AccountDialog

    dialog = AccountDialog("Set password for dana", lambda _: None, username="dana")
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.activateWindow()
    qtbot.waitUntil(lambda: dialog.focusWidget() is not None, timeout=5_000)
    qtbot.keyClicks(dialog.focusWidget(), "correct horse battery")
    assert dialog.password_edit.text() == "correct horse battery"
    assert dialog.user_edit.text() == "dana"
