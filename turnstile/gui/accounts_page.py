"""The Accounts page (admins only): who may operate Turnstile, with which role.

Accounts are disabled rather than deleted, so the audit trail keeps naming people who
existed. The last enabled admin cannot be disabled or made front desk. Every change is
recorded in the audit trail by :class:`~turnstile.services.auth.AuthService`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QGuiApplication, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from turnstile.app import AppContext
from turnstile.errors import TurnstileError
from turnstile.gui.dialogs import error_text
from turnstile.gui.table_models import AnyIndex, RowsTableModel
from turnstile.gui.widgets_common import MessageLabel, format_local, section_title
from turnstile.services.auth import (
    ADMIN,
    FRONT_DESK,
    MIN_PASSWORD_CHARS,
    AccountInfo,
    role_label,
)
from turnstile.storage.models import utcnow

log = logging.getLogger(__name__)



def account_state(account: AccountInfo, now: datetime | None = None) -> str:
    """``Active``, ``Disabled`` or ``Locked`` (too many failed logins)."""
    if account.disabled:
        return "Disabled"
    if account.locked(now) and account.failed_count > 0:
        return "Locked"
    return "Active"


class AccountsTableModel(RowsTableModel):
    """Accounts, one per row."""

    COL_USER = 0
    COL_ROLE = 1
    COL_STATE = 2
    COL_LAST_LOGIN = 3
    COL_CREATED = 4
    HEADERS = ("User name", "Role", "State", "Last login", "Created")

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[AccountInfo] = []
        self._now: datetime | None = None

    def set_rows(self, rows: Sequence[AccountInfo], now: datetime | None = None) -> None:
        """Replace every row."""
        self.beginResetModel()
        self._rows = list(rows)
        self._now = now
        self.endResetModel()

    def account(self, row: int) -> AccountInfo:
        return self._rows[row]

    def row_of(self, username: str) -> int:
        for i, account in enumerate(self._rows):
            if account.username == username:
                return i
        return -1




    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        a = self._rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if col == self.COL_USER:
                return a.username
            if col == self.COL_ROLE:
                return role_label(a.role).capitalize()
            if col == self.COL_STATE:
                return account_state(a, self._now)
            if col == self.COL_LAST_LOGIN:
                return format_local(a.last_login, with_seconds=False) if a.last_login \
                    else "Never"
            if col == self.COL_CREATED:
                return format_local(a.created_at, with_seconds=False)
        if role == Qt.ItemDataRole.ForegroundRole and col == self.COL_STATE:
            state = account_state(a, self._now)
            if state != "Active":
                return QBrush(QColor("#b3261e"))
        return None


class AccountDialog(QDialog):
    """A new account (user name, role, password twice) or a new password for one.

    Args:
        on_submit: called by OK with the dialog; returns an error to show (the dialog stays
            open) or ``None`` (it closes).
    """

    def __init__(self, title: str, on_submit: Callable[[AccountDialog], str | None],
                 username: str | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.on_submit = on_submit
        self.setWindowTitle(title)
        self.setMinimumWidth(400)
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.user_edit = QLineEdit(username or "")
        self.user_edit.setReadOnly(username is not None)
        if username is not None:  # typing starts in the password, not the fixed name
            self.user_edit.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.role_combo = QComboBox()
        self.role_combo.addItem("Front desk (enroll and edit people)", FRONT_DESK)
        self.role_combo.addItem("Admin (everything)", ADMIN)
        self.password_edit = QLineEdit()
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.password_edit.setPlaceholderText(f"at least {MIN_PASSWORD_CHARS} characters")
        self.confirm_edit = QLineEdit()
        self.confirm_edit.setEchoMode(QLineEdit.EchoMode.Password)
        form.addRow("User name", self.user_edit)
        if username is None:
            form.addRow("Role", self.role_combo)
        form.addRow("Password", self.password_edit)
        form.addRow("Password again", self.confirm_edit)
        layout.addLayout(form)
        self.message = MessageLabel()
        layout.addWidget(self.message)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def accept(self) -> None:
        if self.password_edit.text() != self.confirm_edit.text():
            self.confirm_edit.clear()
            self.message.error("The two passwords differ. Type the same password twice.")
            return
        error = self.on_submit(self)
        if error:
            self.message.error(error)
            return
        self.password_edit.clear()
        self.confirm_edit.clear()
        super().accept()


class AccountsPage(QWidget):
    """List, add, disable / enable accounts, set passwords and roles."""

    title = "Accounts"

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.model = AccountsTableModel(self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 20, 24, 20)
        layout.addWidget(section_title("Accounts"))
        note = QLabel("Who may leave the door page. A front desk enrolls and edits people; "
                      "an admin may do everything. Accounts are disabled, never deleted, so "
                      "the audit trail keeps its names.")
        note.setWordWrap(True)
        layout.addWidget(note)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        layout.addWidget(self.table, 1)
        row = QHBoxLayout()
        self.add_button = QPushButton("Add account...")
        self.password_button = QPushButton("Set password...")
        self.disable_button = QPushButton("Disable")
        self.role_button = QPushButton("Make admin")
        for button in (self.add_button, self.password_button, self.disable_button,
                       self.role_button):
            row.addWidget(button)
        row.addStretch(1)
        layout.addLayout(row)
        self.message = MessageLabel()
        layout.addWidget(self.message)
        self.add_button.clicked.connect(lambda: self.add_account())
        self.password_button.clicked.connect(lambda: self.set_password())
        self.disable_button.clicked.connect(self.toggle_disabled)
        self.role_button.clicked.connect(self.toggle_role)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self._selection_changed()

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        self.reload()

    def reload(self) -> None:
        """Read the accounts again (keeps the selection)."""
        keep = self.selected()
        try:
            self.model.set_rows(self.ctx.auth.list_accounts(), utcnow())
        except TurnstileError as exc:
            self.message.error(f"The accounts could not be read: {error_text(exc)}")
            return
        if keep is not None:
            self.select(keep.username)
        self._selection_changed()

    def selected(self) -> AccountInfo | None:
        rows = self.table.selectionModel().selectedRows()
        return self.model.account(rows[0].row()) if rows else None

    def select(self, username: str) -> bool:
        row = self.model.row_of(username)
        if row >= 0:
            self.table.selectRow(row)
        return row >= 0

    def _selection_changed(self, *args: Any) -> None:
        account = self.selected()
        for button in (self.password_button, self.disable_button, self.role_button):
            button.setEnabled(account is not None)
        if account is not None:
            self.disable_button.setText("Enable" if account.disabled
                                        or account_state(account) == "Locked" else "Disable")
            self.role_button.setText("Make front desk" if account.role == ADMIN
                                     else "Make admin")

    def _busy(self, fn: Any) -> Any:
        QGuiApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            return fn()
        finally:
            QGuiApplication.restoreOverrideCursor()

    # -- actions ---------------------------------------------------------------------------
    def add_account(self) -> AccountDialog:
        """Open the dialog for a new account (window-modal, not blocking; returns it)."""

        def submit(dialog: AccountDialog) -> str | None:
            try:
                info = self._busy(lambda: self.ctx.auth.create_account(
                    dialog.user_edit.text(), dialog.password_edit.text(),
                    dialog.role_combo.currentData(), actor=self.ctx.actor))
            except TurnstileError as exc:
                return error_text(exc)
            self.reload()
            self.select(info.username)
            self.message.success(f"Account {info.username} created "
                                 f"({role_label(info.role)}).")
            return None

        dialog = AccountDialog("Add an account", submit, parent=self)
        dialog.open()
        return dialog

    def set_password(self) -> AccountDialog | None:
        """Open the dialog for a new password of the selected account."""
        account = self.selected()
        if account is None:
            return None

        def submit(dialog: AccountDialog) -> str | None:
            try:
                self._busy(lambda: self.ctx.auth.change_password(
                    account.username, dialog.password_edit.text(), actor=self.ctx.actor))
            except TurnstileError as exc:
                return error_text(exc)
            self.reload()
            self.message.success(f"The password of {account.username} was changed.")
            return None

        dialog = AccountDialog(f"New password for {account.username}", submit,
                               account.username, parent=self)
        dialog.open()
        return dialog

    def toggle_disabled(self) -> None:
        """Disable the selected account, or enable it (which also ends a lockout)."""
        account = self.selected()
        if account is None:
            return
        enable = account.disabled or account_state(account) == "Locked"
        try:
            info = self.ctx.auth.set_disabled(account.username, not enable,
                                              actor=self.ctx.actor)
        except TurnstileError as exc:
            self.message.error(error_text(exc))
            return
        self.reload()
        self.message.success(f"Account {info.username} is "
                             f"{'disabled' if info.disabled else 'enabled'}.")

    def toggle_role(self) -> None:
        """Make the selected account an admin, or a front desk."""
        account = self.selected()
        if account is None:
            return
        role = FRONT_DESK if account.role == ADMIN else ADMIN
        try:
            info = self.ctx.auth.set_role(account.username, role, actor=self.ctx.actor)
        except TurnstileError as exc:
            self.message.error(error_text(exc))
            return
        self.reload()
        self.message.success(f"Account {info.username} is now {role_label(info.role)}.")
