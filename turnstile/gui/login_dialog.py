"""The login dialog: asked for when someone leaves the door page.

The check runs on the GUI thread: it takes about half a second (the password hash is made
slow on purpose) and a login is a deliberate act, so a short wait is clearer than a dialog
that can be clicked twice. The password field is emptied after every attempt and never
logged; the message says only what a person needs (wrong name or password, wait, disabled).
"""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from turnstile.app import AppContext
from turnstile.errors import TurnstileError
from turnstile.gui.dialogs import error_text
from turnstile.gui.widgets_common import MessageLabel
from turnstile.services.auth import CurrentUser, LoginError

log = logging.getLogger(__name__)


class LoginDialog(QDialog):
    """Asks for a user name and a password; emits :attr:`logged_in` and closes on success.

    Signals:
        logged_in(CurrentUser): the account that logged in.
    """

    logged_in = Signal(object)

    def __init__(self, ctx: AppContext, reason: str = "", parent: QWidget | None = None
                 ) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.user: CurrentUser | None = None
        self.setWindowTitle("Log in")
        self.setMinimumWidth(380)
        layout = QVBoxLayout(self)
        intro = QLabel(reason or "Log in to leave the door page.")
        intro.setWordWrap(True)
        layout.addWidget(intro)
        form = QFormLayout()
        self.user_edit = QLineEdit()
        self.user_edit.setObjectName("login_user")
        self.password_edit = QLineEdit()
        self.password_edit.setObjectName("login_password")
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        form.addRow("User name", self.user_edit)
        form.addRow("Password", self.password_edit)
        layout.addLayout(form)
        self.message = MessageLabel()
        layout.addWidget(self.message)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.login_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.login_button.setText("Log in")
        self.buttons.accepted.connect(self.submit)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.user_edit.setFocus()

    def submit(self) -> bool:
        """Check the typed name and password. Returns whether the login succeeded."""
        name, password = self.user_edit.text(), self.password_edit.text()
        self.password_edit.clear()  # never kept, whatever happens
        if not name.strip():
            self.message.error("Type your user name.")
            self.user_edit.setFocus()
            return False
        QGuiApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            user = self.ctx.auth.login(name, password, via="desktop app")
        except LoginError as exc:
            self.message.error(str(exc))
            self.password_edit.setFocus()
            return False
        except TurnstileError as exc:  # the database cannot be read, ...
            self.message.error(error_text(exc))
            return False
        finally:
            QGuiApplication.restoreOverrideCursor()
        self.user = user
        self.logged_in.emit(user)
        self.accept()
        return True
