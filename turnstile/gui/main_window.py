"""The main window: a list of pages on the left, the current page on the right.

The door page runs without a login. Leaving it asks for one (or, before any account exists,
for the first admin); pages the account's role may not use are hidden and refused. After
``settings.idle_logout_min`` minutes without a key press or a mouse move the window logs out,
closes any open dialog and goes back to the door page. Logins, failed logins, logouts and
refused pages are recorded in the audit trail.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QEvent, QItemSelectionModel, QObject, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from turnstile import __version__
from turnstile.app import AppContext
from turnstile.config import Settings
from turnstile.errors import TurnstileError
from turnstile.services import audit as audit_actions
from turnstile.services.auth import ADMIN, FRONT_DESK, CurrentUser, role_label
from turnstile.storage.db import describe_url

log = logging.getLogger(__name__)

MS_PER_MIN = 60_000
_ACTIVITY_EVENTS = frozenset({
    QEvent.Type.KeyPress, QEvent.Type.MouseButtonPress, QEvent.Type.MouseMove,
    QEvent.Type.Wheel, QEvent.Type.TouchBegin,
})


class MainWindow(QMainWindow):
    """Pages: Door, Enroll, People, Access log, Settings, Accounts, Audit trail (Ctrl+1 ..
    Ctrl+7).

    Each page is a QWidget with a ``title`` attribute and an optional ``shutdown()`` that
    is called when the window closes (stop workers, close the door). :attr:`page_roles`
    gives the role each page needs (``None``: no login, the door page only).
    """

    def __init__(self, ctx: AppContext, source: str | None = None) -> None:
        super().__init__()
        self.ctx = ctx
        self.setWindowTitle(f"Turnstile {__version__}")
        self.resize(1280, 760)
        self.setMinimumSize(1024, 640)

        from turnstile.gui.accounts_page import AccountsPage
        from turnstile.gui.audit_page import AuditPage
        from turnstile.gui.door_page import DoorPage
        from turnstile.gui.enroll_page import EnrollPage
        from turnstile.gui.log_page import AccessLogPage
        from turnstile.gui.people_page import PeoplePage
        from turnstile.gui.settings_page import SettingsPage

        self.door = DoorPage(ctx, source=source)
        self.enroll = EnrollPage(ctx)
        self.people = PeoplePage(ctx)
        self.log_page = AccessLogPage(ctx)
        self.settings_page = SettingsPage(ctx)
        self.accounts_page = AccountsPage(ctx)
        self.audit_page = AuditPage(ctx)
        self.pages: list[QWidget] = [self.door, self.enroll, self.people, self.log_page,
                                     self.settings_page, self.accounts_page, self.audit_page]
        self.page_roles: list[str | None] = [None, FRONT_DESK, FRONT_DESK, ADMIN, ADMIN, ADMIN,
                                             ADMIN]
        # What the desk changes reaches the door at once, not at the next periodic reload.
        self.enroll.enrolled.connect(self.door.reload_gallery)
        self.people.person_changed.connect(self.door.reload_gallery)
        self.people.person_deleted.connect(self.door.reload_gallery)
        self.settings_page.settings_changed.connect(self._settings_changed)
        self._camera_setting = ctx.settings.camera_source
        """The camera in the settings as last saved: the door moves to another camera only
        when a save changes it (a source given on the command line stays until then)."""
        self.nav = QListWidget()
        self.nav.setObjectName("nav")
        self.nav.setFixedWidth(180)
        self.nav.setStyleSheet(
            "QListWidget#nav { font-size: 15px; border: none; background: palette(window); }"
            "QListWidget#nav::item { padding: 12px 16px; }"
            "QListWidget#nav::item:selected { background: palette(highlight);"
            " color: palette(highlighted-text); }")
        self.stack = QStackedWidget()
        for i, page in enumerate(self.pages):
            item = QListWidgetItem(getattr(page, "title", type(page).__name__))
            item.setToolTip(f"Ctrl+{i + 1}")
            self.nav.addItem(item)
            self.stack.addWidget(page)
            QShortcut(QKeySequence(f"Ctrl+{i + 1}"), self,
                      activated=lambda i=i: self.nav.setCurrentRow(i))
        self._row = 0
        self.nav.setCurrentRow(0)
        self.nav.currentRowChanged.connect(self._row_changed)

        # Who is logged in, under the page list.
        self.user_label = QLabel()
        self.user_label.setWordWrap(True)
        self.user_label.setContentsMargins(16, 8, 16, 0)
        self.login_button = QPushButton()
        self.login_button.clicked.connect(self._login_button_clicked)
        self.logout_action = QAction("Log out", self)
        self.logout_action.setShortcut(QKeySequence("Ctrl+Shift+L"))
        self.logout_action.triggered.connect(lambda: self.logout())
        self.addAction(self.logout_action)
        side = QWidget()
        side.setFixedWidth(180)
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 12)
        side_layout.addWidget(self.nav, 1)
        # Alerts from the door (an identity locked out after repeated spoofs) stay in view
        # until someone reads them; they are in the audit trail and the access log too.
        self.alert_button = QPushButton()
        self.alert_button.setObjectName("alert")
        self.alert_button.setFlat(True)
        self.alert_button.setStyleSheet("QPushButton#alert { color: #b3261e; font-weight: bold;"
                                        " text-align: left; padding: 8px 16px; }")
        self.alert_button.setToolTip("Click to dismiss (the event stays in the access log)")
        self.alert_button.clicked.connect(self._dismiss_alert)
        self._alert_message = ""
        self.alert_button.hide()
        self.door.alert_raised.connect(self._door_alert)
        side_layout.addWidget(self.alert_button)
        side_layout.addWidget(self.user_label)
        button_row = QHBoxLayout()
        button_row.setContentsMargins(16, 0, 16, 0)
        button_row.addWidget(self.login_button)
        side_layout.addLayout(button_row)

        central = QWidget()
        layout = QHBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(side)
        layout.addWidget(self.stack, 1)
        self.setCentralWidget(central)
        # The file, or the server's URL without its password.
        self.statusBar().showMessage(f"Database: {describe_url(ctx.database_url)}")
        self.nav.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

        self.login_dialog: QDialog | None = None
        self.idle_timer = QTimer(self)
        self.idle_timer.setSingleShot(True)
        self.idle_timer.setInterval(ctx.settings.idle_logout_min * MS_PER_MIN)
        self.idle_timer.timeout.connect(self._idle_timeout)
        self._activity = _ActivityFilter(self.idle_timer)
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self._activity)
        self._apply_user()
        if ctx.current_user is None:
            QTimer.singleShot(0, self._first_run_check)

    # -- navigation and logins -------------------------------------------------------------
    def _row_changed(self, row: int) -> None:
        if row < 0 or row == self._row:
            return
        needed = self.page_roles[row]
        user = self.ctx.current_user
        if needed is None or (user is not None and user.has_role(needed)):
            self._show_row(row)
            return
        self._revert_row()
        if user is None:
            dialog = self.request_login(row)
            if dialog is not None:  # cancelled or done: the menu shows the page shown
                dialog.finished.connect(self._revert_row)
            return
        title = getattr(self.pages[row], "title", "")
        self.ctx.audit(audit_actions.PERMISSION_DENIED, f"page {title}",
                       f"desktop app; needs {role_label(needed)}, account is "
                       f"{role_label(user.role)}", success=False)
        self.statusBar().showMessage(
            f"The {title} page needs an {role_label(needed)} account; you are logged in as "
            f"{role_label(user.role)}.", 10_000)

    def _show_row(self, row: int) -> None:
        self._row = row
        self.stack.setCurrentIndex(row)
        self._highlight_row()

    def _revert_row(self) -> None:
        """Highlight the page shown again, after a refused move to another one."""
        self._highlight_row()
        # A click selects the clicked row after telling us it became current (the list
        # sets the current row on mouse press, then the selection): highlight again once
        # the click is over.
        QTimer.singleShot(0, self._highlight_row)

    def _highlight_row(self) -> None:
        """Make the menu's current and highlighted (selected) row the page shown."""
        item = self.nav.item(self._row)
        if self.nav.currentRow() == self._row and self.nav.selectedItems() == [item]:
            return
        self.nav.blockSignals(True)
        self.nav.setCurrentRow(self._row, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        self.nav.blockSignals(False)

    def _has_accounts(self) -> bool | None:
        try:
            return self.ctx.auth.has_accounts()
        except TurnstileError as exc:
            log.error("The accounts could not be read: %s", type(exc).__name__)
            self.statusBar().showMessage(f"The accounts could not be read: {exc}", 15_000)
            return None

    def _first_run_check(self) -> None:
        if self.ctx.current_user is None and self.login_dialog is None \
                and self._has_accounts() is False:
            self.request_login(None)

    def request_login(self, then_row: int | None = None) -> QDialog | None:
        """Open the login dialog (or the first-admin dialog when no account exists yet),
        window-modal and not blocking; on success show page ``then_row``. Returns it."""
        if self.login_dialog is not None:
            self.login_dialog.raise_()
            return self.login_dialog
        has_accounts = self._has_accounts()
        if has_accounts is None:
            return None
        from turnstile.gui.first_run import FirstRunDialog
        from turnstile.gui.login_dialog import LoginDialog

        dialog: QDialog
        if has_accounts:
            title = getattr(self.pages[then_row], "title", "") if then_row is not None else ""
            dialog = LoginDialog(self.ctx, f"Log in to open the {title} page." if title
                                 else "", parent=self)
        else:
            dialog = FirstRunDialog(self.ctx, parent=self)
        dialog.logged_in.connect(lambda user: self._logged_in(user, then_row))
        dialog.finished.connect(lambda _result: self._login_closed(dialog))
        self.login_dialog = dialog
        dialog.open()
        return dialog

    def _login_closed(self, dialog: QDialog) -> None:
        if self.login_dialog is dialog:
            self.login_dialog = None
        dialog.deleteLater()
        if self.stack.currentWidget() is self.door:
            # 1:1 mode: the next badge scanned goes into the badge box, not into the menu
            # or the button that opened the dialog (the window gives it back its focus).
            self.door.focus_badge()

    def _logged_in(self, user: CurrentUser, then_row: int | None) -> None:
        self.ctx.current_user = user
        self._apply_user()
        if then_row is not None:
            needed = self.page_roles[then_row]
            if needed is None or user.has_role(needed):
                self._show_row(then_row)
            else:
                title = getattr(self.pages[then_row], "title", "")
                self.statusBar().showMessage(
                    f"The {title} page needs an {role_label(needed)} account.", 10_000)

    def logout(self, reason: str = "by the user") -> None:
        """Log out: close open dialogs, go back to the door page, hide nothing."""
        user = self.ctx.current_user
        if user is None:
            return
        for dialog in self.findChildren(QDialog):
            if dialog.isVisible() and dialog is not self.login_dialog:
                dialog.reject()
        self.ctx.audit(audit_actions.LOGOUT, user.username, f"desktop app; {reason}")
        self.ctx.current_user = None
        self._show_row(0)
        self._apply_user()
        self.statusBar().showMessage(f"{user.username} was logged out ({reason}).", 10_000)

    def _idle_timeout(self) -> None:
        minutes = max(1, round(self.idle_timer.interval() / MS_PER_MIN))
        self.logout(f"idle for {minutes} minute{'' if minutes == 1 else 's'}")

    def _login_button_clicked(self) -> None:
        if self.ctx.current_user is None:
            self.request_login(None)
        else:
            self.logout()

    def _apply_user(self) -> None:
        """Show what the logged-in account may use; start or stop the idle timer."""
        user = self.ctx.current_user
        for row, needed in enumerate(self.page_roles):
            hidden = user is not None and needed is not None and not user.has_role(needed)
            self.nav.item(row).setHidden(hidden)
        # Deleting people is admin work; the People page also refuses it on its own.
        self.people.delete_button.setVisible(user is None or user.may("delete_people"))
        if user is None:
            self.user_label.setText("Not logged in")
            self.login_button.setText("Log in")
            self.logout_action.setEnabled(False)
            self.idle_timer.stop()
        else:
            self.user_label.setText(f"{user.username} ({role_label(user.role)})")
            self.login_button.setText("Log out")
            self.logout_action.setEnabled(True)
            self.idle_timer.start()

    def _door_alert(self, text: str) -> None:
        # The button's label wraps badly; the full text goes in the tooltip and status bar.
        # Both are on the door screen, in view of whoever stands at the door: the door page
        # words its alerts without the person's name (the access log has it).
        self.alert_button.setText("⚠ Spoof alert")
        self.alert_button.setToolTip(f"{text}\nClick to dismiss (the event stays in the "
                                     f"access log and the audit trail).")
        self.alert_button.show()
        self._alert_message = f"Alert: {text}"
        self.statusBar().showMessage(self._alert_message)
        QApplication.alert(self)  # flashes the task bar entry

    def _dismiss_alert(self) -> None:
        self.alert_button.hide()
        if self._alert_message and self.statusBar().currentMessage() == self._alert_message:
            self.statusBar().clearMessage()

    def _settings_changed(self, settings: object) -> None:
        if isinstance(settings, Settings):
            self.door.apply_settings(settings)  # rules, liveness, 1:1 mode, snapshots
        self.door.reload_gallery()  # new thresholds
        source = getattr(settings, "camera_source", None)
        if source and source != self._camera_setting:
            # Only a camera chosen in this save moves the door: saving other settings keeps
            # the source it plays (one given on the command line, a file picked there).
            self._camera_setting = source
            if source != self.door.source:
                self.door.set_source(source)
        idle_min = getattr(settings, "idle_logout_min", None)
        if isinstance(idle_min, int):
            self.idle_timer.setInterval(idle_min * MS_PER_MIN)

    def show_page(self, page_type: type) -> QWidget:
        """Switch to the page of that class and return it (a login is asked for when
        needed: then the current page stays until it succeeds)."""
        for i, page in enumerate(self.pages):
            if isinstance(page, page_type):
                self.nav.setCurrentRow(i)
                return page
        raise LookupError(page_type.__name__)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt name)
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self._activity)
        self.idle_timer.stop()
        for page in self.pages:
            shutdown = getattr(page, "shutdown", None)
            if shutdown is not None:
                shutdown()
        super().closeEvent(event)


class _ActivityFilter(QObject):
    """Restarts the idle timer on every key press, click, mouse move or wheel turn."""

    def __init__(self, timer: QTimer) -> None:
        super().__init__()
        self.timer = timer

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        if event.type() in _ACTIVITY_EVENTS and self.timer.isActive():
            self.timer.start()
        return False
