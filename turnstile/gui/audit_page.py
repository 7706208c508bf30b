"""The Audit trail page (admins only): who did what and when, filtered, exportable as CSV."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
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
from turnstile.services import audit as audit_actions
from turnstile.services.audit import ACTIONS, AuditFilter, AuditRecord

log = logging.getLogger(__name__)

MAX_SHOWN_ROWS = 2000
"""The page shows the newest entries up to this many; the CSV export has them all."""


class AuditTableModel(RowsTableModel):
    """Audit entries, newest first."""

    COL_TIME = 0
    COL_ACTOR = 1
    COL_ACTION = 2
    COL_TARGET = 3
    COL_RESULT = 4
    COL_DETAIL = 5
    HEADERS = ("Time", "Who", "Action", "On", "Result", "Detail")

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[AuditRecord] = []

    def set_rows(self, rows: Sequence[AuditRecord]) -> None:
        """Replace every row."""
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def entry(self, row: int) -> AuditRecord:
        return self._rows[row]




    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        e = self._rows[index.row()]
        col = index.column()
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return {
                self.COL_TIME: format_local(e.at),
                self.COL_ACTOR: e.actor,
                self.COL_ACTION: e.action.replace("_", " "),
                self.COL_TARGET: e.target or "",
                self.COL_RESULT: "OK" if e.success else "Failed",
                self.COL_DETAIL: e.detail or "",
            }[col]
        if role == Qt.ItemDataRole.ForegroundRole and col == self.COL_RESULT and not e.success:
            return QBrush(QColor("#b3261e"))
        return None


class AuditPage(QWidget):
    """The audit trail with a text search, an action filter and a CSV export."""

    title = "Audit trail"

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.model = AuditTableModel(self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 20, 24, 20)
        layout.addWidget(section_title("Audit trail"))
        filters = QHBoxLayout()
        self.search_edit = QLineEdit()
        self.search_edit.setPlaceholderText("Search who, what, on what...")
        self.search_edit.setClearButtonEnabled(True)
        self.action_combo = QComboBox()
        self.action_combo.addItem("All actions", None)
        for action in ACTIONS:
            self.action_combo.addItem(action.replace("_", " ").capitalize(), action)
        self.failed_check = QCheckBox("Failures and refusals only")
        self.refresh_button = QPushButton("Refresh")
        self.export_button = QPushButton("Export CSV...")
        filters.addWidget(self.search_edit, 1)
        filters.addWidget(self.action_combo)
        filters.addWidget(self.failed_check)
        filters.addWidget(self.refresh_button)
        filters.addWidget(self.export_button)
        layout.addLayout(filters)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(AuditTableModel.COL_DETAIL, QHeaderView.ResizeMode.Stretch)
        layout.addWidget(self.table, 1)
        bottom = QHBoxLayout()
        self.count_label = QLabel()
        self.message = MessageLabel()
        bottom.addWidget(self.count_label)
        bottom.addWidget(self.message, 1)
        layout.addLayout(bottom)
        self.search_edit.returnPressed.connect(self.reload)
        self.search_edit.textChanged.connect(lambda text: text or self.reload())
        self.action_combo.currentIndexChanged.connect(lambda _i: self.reload())
        self.failed_check.toggled.connect(lambda _on: self.reload())
        self.refresh_button.clicked.connect(self.reload)
        self.export_button.clicked.connect(lambda: self.export())

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        self.reload()

    def current_filter(self) -> AuditFilter:
        """The filter the controls describe."""
        action = self.action_combo.currentData()
        return AuditFilter(text=self.search_edit.text().strip() or None,
                           actions=(action,) if action else None,
                           success=False if self.failed_check.isChecked() else None)

    def reload(self) -> None:
        """Read the newest matching entries again."""
        flt = self.current_filter()
        try:
            trail = self.ctx.audit_trail
            rows = trail.query(flt, limit=MAX_SHOWN_ROWS)
            total = trail.count(flt)
        except TurnstileError as exc:
            self.message.error(f"The audit trail could not be read: {error_text(exc)}")
            return
        self.model.set_rows(rows)
        shown = f"{len(rows)} of {total}" if total > len(rows) else str(total)
        self.count_label.setText(f"{shown} entr{'y' if total == 1 else 'ies'}")

    def export(self, path: str | Path | None = None) -> int | None:
        """Write the entries matching the filter to a CSV file (asks where when ``path`` is
        not given). Returns the number written, or None when cancelled or failed."""
        if path is None:
            chosen, _ = QFileDialog.getSaveFileName(self, "Export the audit trail",
                                                    "audit-trail.csv", "CSV files (*.csv)")
            if not chosen:
                return None
            path = chosen
        target = Path(path)
        try:
            rows = self.ctx.audit_trail.export_csv(target, self.current_filter())
        except TurnstileError as exc:
            self.message.error(error_text(exc))
            return None
        self.ctx.audit(audit_actions.AUDIT_EXPORT, f"file {target.name}",
                       f"desktop app; {rows} entries")
        self.message.success(f"Exported {rows} entr{'y' if rows == 1 else 'ies'} to {target}.")
        self.reload()
        return rows
