"""The People page: everyone enrolled, searchable and sortable, with what the desk does to
a person (edit, suspend/activate, add a photo, re-enroll, delete) and the bulk import."""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QItemSelectionModel, QSize, Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from turnstile.app import AppContext
from turnstile.gui.dialogs import error_text
from turnstile.gui.people_dialogs import BulkImportDialog, PersonEditDialog
from turnstile.gui.table_models import (
    ID_ROLE,
    STATE_COLORS,
    THUMBNAIL_PX,
    PeopleFilterProxy,
    PeopleTableModel,
)
from turnstile.gui.tasks import run_task
from turnstile.gui.widgets_common import (
    MessageLabel,
    crop_label,
    format_date,
    section_title,
    set_crop,
)
from turnstile.services.people import PeopleService, PersonRow

log = logging.getLogger(__name__)

DETAIL_CROP_PX = 150
STATE_FILTERS = ("Everyone", "Active", "Suspended", "Expired", "Not valid yet", "No photo")


class PeoplePage(QWidget):
    """Everyone enrolled.

    Signals:
        people_loaded(int): the list was (re)loaded (number of people).
        person_changed(int): a person was edited, suspended or activated (their id).
        person_deleted(int): a person was deleted (their id).
        add_photo_requested(int, bool): "Add photo" / "Re-enroll" was chosen (id, replace);
            the page also switches the main window to the Enroll page itself.
    """

    title = "People"

    people_loaded = Signal(int)
    person_changed = Signal(int)
    person_deleted = Signal(int)
    add_photo_requested = Signal(int, bool)
    action_failed = Signal(object)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None, **kwargs: object) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.service = PeopleService.for_context(ctx)
        self.model = PeopleTableModel(self)
        self.proxy = PeopleFilterProxy(self)
        self.proxy.setSourceModel(self.model)
        self._busy = False
        self._loaded_once = False
        self.import_dialog: BulkImportDialog | None = None
        self._build()
        self._selection_changed()

    # -- layout ----------------------------------------------------------------------------
    def _build(self) -> None:
        root = QVBoxLayout(self)
        root.setContentsMargins(16, 16, 16, 12)
        root.setSpacing(10)
        top = QHBoxLayout()
        self.search_edit = QLineEdit()
        self.search_edit.setPlaceholderText("Search by name, employee number or department "
                                            "(Ctrl+F)")
        self.search_edit.setClearButtonEnabled(True)
        self.search_edit.textChanged.connect(self._search_changed)
        QShortcut(QKeySequence.StandardKey.Find, self, activated=self.search_edit.setFocus)
        self.state_combo = QComboBox()
        self.state_combo.addItems(STATE_FILTERS)
        self.state_combo.setToolTip("Show only people in this state")
        self.state_combo.currentTextChanged.connect(self._state_changed)
        self.import_button = QPushButton("Import from CSV...")
        self.import_button.clicked.connect(self.open_import)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip("Read the list again (F5)")
        self.refresh_button.clicked.connect(self.reload)
        QShortcut(QKeySequence(Qt.Key.Key_F5), self, activated=self.reload)
        top.addWidget(self.search_edit, 3)
        top.addWidget(QLabel("Show:"))
        top.addWidget(self.state_combo)
        top.addStretch(1)
        top.addWidget(self.import_button)
        top.addWidget(self.refresh_button)
        root.addLayout(top)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(PeopleTableModel.COL_NAME, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setIconSize(QSize(THUMBNAIL_PX, THUMBNAIL_PX))
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(THUMBNAIL_PX + 6)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setHighlightSections(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(PeopleTableModel.COL_NAME, QHeaderView.ResizeMode.Stretch)
        widths = {PeopleTableModel.COL_PHOTO: THUMBNAIL_PX + 16,
                  PeopleTableModel.COL_NUMBER: 110, PeopleTableModel.COL_DEPARTMENT: 130,
                  PeopleTableModel.COL_STATUS: 100, PeopleTableModel.COL_VALID_UNTIL: 96,
                  PeopleTableModel.COL_PHOTOS: 60, PeopleTableModel.COL_ENROLLED: 96}
        for col, width in widths.items():
            self.table.setColumnWidth(col, width)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.table.doubleClicked.connect(lambda _index: self.edit_selected())
        QShortcut(QKeySequence(Qt.Key.Key_Delete), self.table, activated=self.delete_selected)
        QShortcut(QKeySequence(Qt.Key.Key_Return), self.table, activated=self.edit_selected)
        splitter.addWidget(self.table)
        splitter.addWidget(self._details_panel())
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 0)
        splitter.setCollapsible(0, False)
        splitter.setSizes([820, 300])
        root.addWidget(splitter, 1)

        bottom = QHBoxLayout()
        self.count_label = QLabel()
        self.message = MessageLabel()
        bottom.addWidget(self.count_label)
        bottom.addSpacing(16)
        bottom.addWidget(self.message, 1)
        root.addLayout(bottom)

    def _details_panel(self) -> QWidget:
        panel = QFrame()
        panel.setFrameShape(QFrame.Shape.StyledPanel)
        panel.setMinimumWidth(270)
        panel.setMaximumWidth(380)
        layout = QVBoxLayout(panel)
        layout.setContentsMargins(14, 14, 14, 14)
        self.detail_crop = crop_label(DETAIL_CROP_PX, "Select a person")
        layout.addWidget(self.detail_crop, 0, Qt.AlignmentFlag.AlignHCenter)
        self.detail_name = section_title("")
        self.detail_name.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        self.detail_name.setWordWrap(True)
        layout.addWidget(self.detail_name)
        self.detail_state = QLabel()
        self.detail_state.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        self.detail_state.setWordWrap(True)
        layout.addWidget(self.detail_state)
        grid = QGridLayout()
        grid.setHorizontalSpacing(10)
        self._detail_values: dict[str, QLabel] = {}
        for row, key in enumerate(("Employee no.", "Department", "Access from", "Access until",
                                   "Photos", "Enrolled", "Consent")):
            label = QLabel(f"{key}:")
            label.setStyleSheet("color: #555;")
            value = QLabel()
            value.setWordWrap(True)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            grid.addWidget(label, row, 0, Qt.AlignmentFlag.AlignTop)
            grid.addWidget(value, row, 1)
            self._detail_values[key] = value
        grid.setColumnStretch(1, 1)
        layout.addLayout(grid)
        layout.addSpacing(8)

        self.edit_button = QPushButton("Edit details...")
        self.edit_button.setToolTip("Change number, name, department or access dates (Enter)")
        self.edit_button.clicked.connect(self.edit_selected)
        self.status_button = QPushButton("Suspend")
        self.status_button.clicked.connect(self.toggle_status_selected)
        self.add_photo_button = QPushButton("Add a photo...")
        self.add_photo_button.setToolTip("Add another photo of this person (helps the door "
                                         "recognise them, e.g. with and without glasses)")
        self.add_photo_button.clicked.connect(lambda: self.request_photo(replace=False))
        self.reenroll_button = QPushButton("Re-enroll...")
        self.reenroll_button.setToolTip("Replace all stored photos with a new one")
        self.reenroll_button.clicked.connect(lambda: self.request_photo(replace=True))
        self.delete_button = QPushButton("Delete...")
        self.delete_button.setToolTip("Delete the person, their photos and their snapshots "
                                      "(Delete)")
        self.delete_button.setStyleSheet("QPushButton { color: #b3261e; }")
        self.delete_button.clicked.connect(self.delete_selected)
        buttons = QGridLayout()
        buttons.addWidget(self.edit_button, 0, 0)
        buttons.addWidget(self.status_button, 0, 1)
        buttons.addWidget(self.add_photo_button, 1, 0)
        buttons.addWidget(self.reenroll_button, 1, 1)
        buttons.addWidget(self.delete_button, 2, 0, 1, 2)
        layout.addLayout(buttons)
        layout.addStretch(1)
        return panel

    # -- loading ---------------------------------------------------------------------------
    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        self.reload()

    def reload(self) -> None:
        """Read everyone again in the background, keeping the selection."""
        keep = self.selected_id()
        self.refresh_button.setEnabled(False)
        run_task(self.service.list_people, lambda rows: self._loaded(rows, keep),
                 self._load_failed)

    def _loaded(self, rows: list[PersonRow], keep: int | None) -> None:
        self.refresh_button.setEnabled(True)
        self.model.set_rows(rows)
        self._loaded_once = True
        self._update_count()
        if keep is None or not self.select_person(keep):
            # Something is always selected when there is someone: the panel is never blank.
            first = self.proxy.index(0, 0)
            if first.isValid():
                self.select_person(int(first.data(ID_ROLE)))
        self._selection_changed()
        self.people_loaded.emit(len(rows))

    def _load_failed(self, exc: BaseException) -> None:
        self.refresh_button.setEnabled(True)
        self.message.error(f"The list of people could not be read: {error_text(exc)}")

    def _update_count(self) -> None:
        shown, total = self.proxy.rowCount(), self.model.rowCount()
        word = "person" if total == 1 else "people"
        self.count_label.setText(f"{total} {word}" if shown == total
                                 else f"{shown} of {total} {word} shown")

    def _search_changed(self, text: str) -> None:
        self.proxy.set_search(text)
        self._update_count()
        self._selection_changed()

    def _state_changed(self, text: str) -> None:
        self.proxy.set_state(None if text == STATE_FILTERS[0] else text)
        self._update_count()
        self._selection_changed()

    # -- selection -------------------------------------------------------------------------
    def selected_id(self) -> int | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        value = rows[0].data(ID_ROLE)
        return int(value) if value is not None else None

    def selected_person(self) -> PersonRow | None:
        employee_id = self.selected_id()
        if employee_id is None:
            return None
        row = self.model.row_of(employee_id)
        return self.model.row_at(row) if row >= 0 else None

    def select_person(self, employee_id: int) -> bool:
        """Select (and scroll to) a person; False when they are not shown."""
        row = self.model.row_of(employee_id)
        if row < 0:
            return False
        index = self.proxy.mapFromSource(self.model.index(row, 0))
        if not index.isValid():
            return False
        self.table.selectionModel().select(
            index, QItemSelectionModel.SelectionFlag.ClearAndSelect
            | QItemSelectionModel.SelectionFlag.Rows)
        self.table.setCurrentIndex(index)
        self.table.scrollTo(index)
        return True

    def _selection_changed(self, *args: Any) -> None:
        person = self.selected_person()
        enabled = person is not None and not self._busy
        for button in (self.edit_button, self.status_button, self.add_photo_button,
                       self.reenroll_button, self.delete_button):
            button.setEnabled(enabled)
        if person is None:
            set_crop(self.detail_crop, None, "Select a person" if self.model.rowCount()
                     else "Nobody is enrolled yet")
            self.detail_name.setText("")
            self.detail_state.setText("")
            for value in self._detail_values.values():
                value.setText("")
            self.status_button.setText("Suspend")
            return
        set_crop(self.detail_crop, person.face_crop)
        self.detail_name.setText(person.name)
        state = person.state(self.model.now)
        color = STATE_COLORS.get(state)
        self.detail_state.setText(state)
        self.detail_state.setStyleSheet(f"color: {color.name()}; font-weight: bold;"
                                        if color is not None else "")
        values = {
            "Employee no.": person.employee_number,
            "Department": person.department or "-",
            "Access from": format_date(person.valid_from) or "no limit",
            "Access until": format_date(person.valid_until) or "no limit",
            "Photos": str(person.templates),
            "Enrolled": format_date(person.created_at),
            "Consent": format_date(person.consent_at) or "not recorded",
        }
        for key, text in values.items():
            self._detail_values[key].setText(text)
        self.status_button.setText("Activate" if person.status == "suspended" else "Suspend")

    # -- actions ---------------------------------------------------------------------------
    def _run(self, fn: Any, on_result: Any, busy_text: str) -> None:
        """Run a change in the background (the galleries are refreshed there too)."""
        self._busy = True
        self._selection_changed()
        self.message.info(busy_text)

        def done(value: Any) -> None:
            self._busy = False
            on_result(value)
            self._selection_changed()

        def failed(exc: BaseException) -> None:
            self._busy = False
            self.message.error(error_text(exc))
            self._selection_changed()
            self.action_failed.emit(exc)

        run_task(fn, done, failed)

    def edit_selected(self) -> PersonEditDialog | None:
        """Open the edit dialog of the selected person (returns it; it is not modal)."""
        person = self.selected_person()
        if person is None or self._busy:
            return None

        def save(values: dict[str, Any]) -> PersonRow:
            return self.service.update_person(person.id, **values)

        dialog = PersonEditDialog(person, save, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def accepted() -> None:
            row = dialog.result_row
            if row is not None:
                self.model.update_row(row)
                self.select_person(row.id)
                self._selection_changed()
                self.message.success(f"{row.name}: details saved.")
                self.ctx.audit("edit", f"employee {row.employee_number}",
                               f"desktop app; id {row.id}")
                self.person_changed.emit(row.id)

        dialog.accepted.connect(accepted)
        self.edit_dialog = dialog
        dialog.open()
        return dialog

    def toggle_status_selected(self) -> None:
        """Suspend the selected person, or activate them when suspended."""
        person = self.selected_person()
        if person is None or self._busy:
            return
        status = "active" if person.status == "suspended" else "suspended"

        def done(row: PersonRow) -> None:
            self.model.update_row(row)
            self._selection_changed()
            what = ("suspended: the door stays shut for them" if status == "suspended"
                    else "active again")
            self.message.success(f"{row.name} is now {what}.")
            self.ctx.audit("suspend" if status == "suspended" else "activate",
                           f"employee {row.employee_number}", f"desktop app; id {row.id}")
            self.person_changed.emit(row.id)

        self._run(lambda: self.service.set_status(person.id, status), done,
                  "Suspending..." if status == "suspended" else "Activating...")

    def delete_selected(self) -> None:
        """Ask for confirmation, then delete the selected person."""
        person = self.selected_person()
        if person is None or self._busy:
            return
        if not self.ctx.may("delete_people"):  # admin work; the button is hidden too
            self.ctx.audit("permission_denied", f"employee {person.employee_number}",
                           "desktop app; delete needs an admin", success=False)
            self.message.error("Deleting people needs an admin account.")
            return
        box = QMessageBox(QMessageBox.Icon.Warning, "Delete this person?",
                          f"Delete {person.name} ({person.employee_number})?", parent=self)
        box.setInformativeText(
            "Their stored photos and face templates are erased, and so are the camera "
            "snapshots of their passages. Their passages stay in the access log without "
            "their name. This cannot be undone.")
        delete = box.addButton("Delete", QMessageBox.ButtonRole.DestructiveRole)
        cancel = box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(cancel)
        box.setEscapeButton(cancel)
        box.exec()
        if box.clickedButton() is not delete:
            return

        def done(report: Any) -> None:
            self.model.remove_id(person.id)
            self._update_count()
            text = (f"{person.name} was deleted ({report.templates} photo(s) and "
                    f"{report.snapshots} snapshot(s) erased; {report.events_unlinked} "
                    f"passage(s) kept without their name).")
            backups = report.backup_summary()
            if report.backups_failed:
                self.message.warning(f"{text} {backups}")
            else:
                self.message.success(f"{text} {backups}".rstrip())
            self.ctx.audit("delete", f"employee {person.employee_number}",
                           f"desktop app; id {person.id}; {report.templates} template(s), "
                           f"{report.snapshots} snapshot(s) erased; backups cleaned "
                           f"{len(report.backups_cleaned)}, not cleaned "
                           f"{len(report.backups_failed)}")
            self.person_deleted.emit(person.id)

        self._run(lambda: self.service.delete_person(person.id), done, "Deleting...")

    def request_photo(self, replace: bool) -> None:
        """Go to the Enroll page set up to add a photo of (or re-enroll) the selected
        person."""
        person = self.selected_person()
        if person is None:
            return
        self.add_photo_requested.emit(person.id, replace)
        window = self.window()
        show_page = getattr(window, "show_page", None)
        if show_page is None:
            return
        from turnstile.gui.enroll_page import EnrollPage

        try:
            page = show_page(EnrollPage)
        except LookupError:
            return
        page.start_add_photo(person.id, replace)

    def open_import(self) -> BulkImportDialog:
        """Open the bulk import dialog (not modal; the list reloads when it ends)."""
        dialog = BulkImportDialog(self.ctx, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.import_finished.connect(lambda _report: self.reload())
        dialog.finished.connect(lambda _result: setattr(self, "import_dialog", None))
        self.import_dialog = dialog
        dialog.open()
        return dialog

    def keyPressEvent(self, event: Any) -> None:  # noqa: N802 (Qt name)
        if event.key() == Qt.Key.Key_Escape and self.search_edit.text():
            self.search_edit.clear()
            return
        super().keyPressEvent(event)

