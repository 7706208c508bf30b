"""Dialogs of the People page: editing a person, and the bulk import with its report."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QDate, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from turnstile.app import AppContext
from turnstile.gui.dialogs import error_text
from turnstile.gui.tasks import run_task
from turnstile.gui.widgets_common import (
    MessageLabel,
    datetime_to_qdate,
    qdate_to_end,
    qdate_to_start,
)
from turnstile.gui.widgets_tasks import ProgressFn, ProgressJob
from turnstile.services.bulk_import import ImportReport, run_import
from turnstile.services.people import PersonRow
from turnstile.storage.errors import DuplicateEmployeeNumber, ValidationError

log = logging.getLogger(__name__)


def _optional_date(label: str, value: Any) -> tuple[QCheckBox, QDateEdit]:
    check = QCheckBox(label)
    edit = QDateEdit()
    edit.setCalendarPopup(True)
    edit.setDisplayFormat("yyyy-MM-dd")
    edit.setDate(datetime_to_qdate(value) if value is not None else QDate.currentDate())
    check.setChecked(value is not None)
    edit.setEnabled(value is not None)
    check.toggled.connect(edit.setEnabled)
    return check, edit


class PersonEditDialog(QDialog):
    """Edit a person's number, name, department and access period.

    The change is saved in the background by ``save(values) -> PersonRow``; a refused value
    is explained under the form and the dialog stays open.

    Attributes:
        result_row: the person as saved (after the dialog is accepted).
    """

    def __init__(self, person: PersonRow, save: Callable[[dict[str, Any]], PersonRow],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Edit {person.name}")
        self.setMinimumWidth(440)
        self.person = person
        self._save = save
        self.result_row: PersonRow | None = None
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.number_edit = QLineEdit(person.employee_number)
        self.name_edit = QLineEdit(person.name)
        self.department_edit = QLineEdit(person.department or "")
        self.from_check, self.from_date = _optional_date("Starts on", person.valid_from)
        self.until_check, self.until_date = _optional_date("Ends on", person.valid_until)
        # One width for both ticks, so the two dates line up under each other.
        width = max(self.from_check.sizeHint().width(), self.until_check.sizeHint().width())
        for check in (self.from_check, self.until_check):
            check.setFixedWidth(width)
        form.addRow("Employee number:", self.number_edit)
        form.addRow("Name:", self.name_edit)
        form.addRow("Department:", self.department_edit)
        form.addRow("Access:", _pair(self.from_check, self.from_date))
        form.addRow("", _pair(self.until_check, self.until_date))
        layout.addLayout(form)
        self.message = MessageLabel()
        layout.addWidget(self.message)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.submit)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)

    def values(self) -> dict[str, Any]:
        return {
            "employee_number": self.number_edit.text(),
            "name": self.name_edit.text(),
            "department": self.department_edit.text().strip() or None,
            "valid_from": qdate_to_start(self.from_date.date())
            if self.from_check.isChecked() else None,
            "valid_until": qdate_to_end(self.until_date.date())
            if self.until_check.isChecked() else None,
        }

    def submit(self) -> None:
        """Save in the background; close when saved."""
        values = self.values()
        self.buttons.setEnabled(False)
        self.message.info("Saving...")
        run_task(lambda: self._save(values), self._saved, self._failed)

    def _saved(self, row: PersonRow) -> None:
        self.result_row = row
        self.buttons.setEnabled(True)
        self.accept()

    def _failed(self, exc: BaseException) -> None:
        self.buttons.setEnabled(True)
        self.message.error(error_text(exc))
        if isinstance(exc, DuplicateEmployeeNumber):
            self.number_edit.setFocus()
        elif isinstance(exc, ValidationError):
            {"employee_number": self.number_edit, "name": self.name_edit,
             "department": self.department_edit, "valid_until": self.until_date,
             "valid_from": self.from_date}.get(exc.field, self.name_edit).setFocus()


def _pair(*widgets: QWidget) -> QWidget:
    host = QWidget()
    row = QHBoxLayout(host)
    row.setContentsMargins(0, 0, 0, 0)
    for widget in widgets:
        row.addWidget(widget)
    row.addStretch(1)
    return host


IMPORT_HELP = (
    "<p>The CSV file needs a first row naming the columns <b>employee_number</b>, "
    "<b>name</b> and <b>photo</b> (the photo's file name in the photo folder), and may have "
    "<b>department</b> and <b>consent</b> (yes/no). Save it from a spreadsheet as "
    "\"CSV UTF-8\".</p><p>People already enrolled (same employee number) are skipped, so "
    "running an import again only retries the rows that failed.</p>")


class BulkImportDialog(QDialog):
    """Import people from a CSV file and a photo folder, with progress and a report.

    Signals:
        import_finished(ImportReport): the import ended (completed or cancelled).
    """

    import_finished = Signal(object)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setWindowTitle("Import people from a CSV file")
        self.setMinimumSize(720, 520)
        self.report: ImportReport | None = None
        self.job: ProgressJob | None = None
        layout = QVBoxLayout(self)
        intro = QLabel(IMPORT_HELP)
        intro.setWordWrap(True)
        layout.addWidget(intro)

        form = QFormLayout()
        self.csv_edit = QLineEdit()
        self.csv_edit.setPlaceholderText("people.csv")
        csv_browse = QPushButton("Browse...")
        csv_browse.clicked.connect(self._browse_csv)
        self.folder_edit = QLineEdit()
        self.folder_edit.setPlaceholderText("The folder holding the photos")
        folder_browse = QPushButton("Browse...")
        folder_browse.clicked.connect(self._browse_folder)
        form.addRow("CSV file:", _pair_stretch(self.csv_edit, csv_browse))
        form.addRow("Photo folder:", _pair_stretch(self.folder_edit, folder_browse))
        self.consent_check = QCheckBox("Consent was collected (on paper) for rows whose consent "
                                       "column is empty")
        form.addRow("", self.consent_check)
        layout.addLayout(form)

        self.message = MessageLabel()
        layout.addWidget(self.message)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        layout.addWidget(self.summary)
        self.rejected_table = QTableWidget(0, 3)
        self.rejected_table.setHorizontalHeaderLabels(["Row", "Employee no.", "Why it was not "
                                                                              "imported"])
        header = self.rejected_table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.rejected_table.verticalHeader().hide()
        self.rejected_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.rejected_table.setWordWrap(True)
        self.rejected_table.hide()
        layout.addWidget(self.rejected_table, 1)

        buttons = QHBoxLayout()
        self.save_report_button = QPushButton("Save report...")
        self.save_report_button.clicked.connect(self._save_report)
        self.save_report_button.setEnabled(False)
        self.import_button = QPushButton("Import")
        self.import_button.setDefault(True)
        self.import_button.clicked.connect(self.start)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.reject)
        buttons.addWidget(self.save_report_button)
        buttons.addStretch(1)
        buttons.addWidget(self.import_button)
        buttons.addWidget(self.close_button)
        layout.addLayout(buttons)

    def _browse_csv(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "CSV file", str(Path.home()),
                                              "CSV files (*.csv *.txt);;All files (*)")
        if path:
            self.csv_edit.setText(path)
            if not self.folder_edit.text():
                self.folder_edit.setText(str(Path(path).parent))

    def _browse_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Photo folder", self.folder_edit.text()
                                                or str(Path.home()))
        if path:
            self.folder_edit.setText(path)

    def start(self) -> bool:
        """Start the import in the background (returns whether it started)."""
        csv_path = self.csv_edit.text().strip()
        folder = self.folder_edit.text().strip()
        if not csv_path:
            self.message.error("Choose the CSV file to import.")
            return False
        if not folder:
            self.message.error("Choose the folder that holds the photos.")
            return False
        consent = self.consent_check.isChecked()
        self.message.clear_message()
        self.import_button.setEnabled(False)

        def work(progress: ProgressFn, cancel: threading.Event) -> ImportReport:
            progress(0, 0, "Loading the face models...")

            def step(done: int, total: int, result: Any) -> None:
                status = {"imported": "imported", "skipped": "already enrolled",
                          "rejected": "not imported"}.get(result.status, result.status)
                progress(done, total, f"Row {result.row}: {status}")

            return run_import(self.ctx.enrollment, csv_path, folder, consent_given=consent,
                              progress=step, cancel=cancel)

        self.job = ProgressJob(self, "Importing people", "Importing people...", work)
        self.job.finished.connect(self._finished)
        self.job.failed.connect(self._failed)
        self.job.start()
        return True

    def _failed(self, exc: BaseException) -> None:
        self.import_button.setEnabled(True)
        self.message.error(error_text(exc))

    def _finished(self, report: ImportReport) -> None:
        self.import_button.setEnabled(True)
        self.report = report
        self.ctx.audit("import", f"file {Path(report.csv_path).name}",
                       f"desktop app; {len(report.imported)} imported, {len(report.skipped)} "
                       f"skipped, {len(report.rejected)} rejected", success=report.ok)
        self.save_report_button.setEnabled(True)
        text = report.summary()
        if report.cancelled:
            text += " The import was cancelled; import the same file again to continue."
        if report.aborted:
            text += f" The import stopped: {report.aborted}"
        if report.notes:
            text += " Note: " + "; ".join(report.notes) + "."
        self.summary.setText(text)
        if report.ok:
            self.message.success("Everyone in the file is enrolled.")
        elif report.rejected:
            self.message.warning(f"{len(report.rejected)} row(s) were not imported; fix them "
                                 f"in the file and import it again.")
        rejected = report.rejected
        self.rejected_table.setRowCount(len(rejected))
        for i, result in enumerate(rejected):
            for col, value in enumerate((str(result.row), result.employee_number,
                                         result.reason or "")):
                item = QTableWidgetItem(value)
                item.setToolTip(value)
                self.rejected_table.setItem(i, col, item)
        self.rejected_table.resizeRowsToContents()
        self.rejected_table.setVisible(bool(rejected))
        self.import_finished.emit(report)

    def _save_report(self) -> None:
        if self.report is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save the import report",
                                              str(Path.home() / "import-report.txt"),
                                              "Text files (*.txt)")
        if not path:
            return
        try:
            Path(path).write_text(self.report.to_text() + "\n", encoding="utf-8")
        except OSError as exc:
            self.message.error(f"The report could not be saved ({exc.strerror or exc}).")
        else:
            self.message.success(f"Report saved to {path}.")

    def reject(self) -> None:
        if self.job is not None and not self.job.done:
            self.job.cancel()
            return  # closes once the current row is done (the report says what was left)
        super().reject()


def _pair_stretch(edit: QWidget, button: QWidget) -> QWidget:
    host = QWidget()
    row = QHBoxLayout(host)
    row.setContentsMargins(0, 0, 0, 0)
    row.addWidget(edit, 1)
    row.addWidget(button)
    return host

