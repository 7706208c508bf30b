"""The first run: create the first admin account (there is no default password)."""

from __future__ import annotations

import logging

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QGuiApplication, QResizeEvent
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
from turnstile.gui.widgets_common import MessageLabel, keep_height_for_text
from turnstile.services.auth import MIN_PASSWORD_CHARS, AccountError, CurrentUser

log = logging.getLogger(__name__)


class FirstRunDialog(QDialog):
    """Creates the first admin and logs them in. The door page keeps working meanwhile;
    every other page stays closed until an admin exists.

    Signals:
        logged_in(CurrentUser): the new admin, logged in.
    """

    logged_in = Signal(object)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.user: CurrentUser | None = None
        self.setWindowTitle("Create the first admin account")
        self.setMinimumWidth(440)
        layout = QVBoxLayout(self)
        intro = QLabel(
            "Turnstile has no accounts yet. Create the administrator account now: it can "
            "enroll and delete people, see the access log, change settings and create "
            "accounts for the front desk. There is no default password; choose one of at "
            f"least {MIN_PASSWORD_CHARS} characters and keep it safe.")
        intro.setWordWrap(True)
        layout.addWidget(intro)
        form = QFormLayout()
        self.user_edit = QLineEdit()
        self.password_edit = QLineEdit()
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.confirm_edit = QLineEdit()
        self.confirm_edit.setEchoMode(QLineEdit.EchoMode.Password)
        form.addRow("User name", self.user_edit)
        form.addRow("Password", self.password_edit)
        form.addRow("Password again", self.confirm_edit)
        layout.addLayout(form)
        self.message = MessageLabel()
        layout.addWidget(self.message)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.create_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.create_button.setText("Create and log in")
        self.buttons.accepted.connect(self.submit)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)

    def event(self, event: QEvent) -> bool:
        handled = super().event(event)
        if event.type() == QEvent.Type.LayoutRequest:  # e.g. a message appeared
            keep_height_for_text(self)
        return handled

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt name)
        super().resizeEvent(event)
        keep_height_for_text(self)

    def submit(self) -> bool:
        """Create the admin from the form. Returns whether it was created."""
        name = self.user_edit.text()
        password, again = self.password_edit.text(), self.confirm_edit.text()
        if password != again:
            self.confirm_edit.clear()
            self.message.error("The two passwords differ. Type the same password twice.")
            self.confirm_edit.setFocus()
            return False
        QGuiApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            user = self.ctx.auth.create_first_admin(name, password)
        except AccountError as exc:
            self.message.error(str(exc))
            (self.user_edit if exc.field == "username" else self.password_edit).setFocus()
            return False
        except TurnstileError as exc:
            self.message.error(error_text(exc))
            return False
        finally:
            QGuiApplication.restoreOverrideCursor()
        self.password_edit.clear()
        self.confirm_edit.clear()
        self.user = user
        self.logged_in.emit(user)
        self.accept()
        return True

