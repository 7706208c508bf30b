"""The People page and the people service over the real database and real faces: finding a
person, suspending, editing, deleting (with what it erases), and the bulk import."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtWidgets import (
    QApplication,
    QMessageBox,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from turnstile.gui.enroll_page import EnrollPage
from turnstile.gui.people_page import PeoplePage
from turnstile.gui.table_models import PeopleTableModel
from turnstile.gui.widgets_tasks import ProgressJob
from turnstile.services.people import PeopleService
from turnstile.storage import repositories as repo
from turnstile.storage.errors import DuplicateEmployeeNumber, EmployeeNotFound

WAIT_MS = 30_000


def click(qtbot, widget) -> None:
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)


def embedding(ctx, path: Path):
    return ctx.enrollment.check_photo(str(path)).face.embedding


# --- the service --------------------------------------------------------------------------


def test_service_keeps_the_door_in_step(ctx, enroll, people_dir, add_events) -> None:
    service = PeopleService.for_context(ctx)
    obama = enroll("E1", "Barack Obama", "Barack_Obama/obama.jpg", department="Office")
    probe = embedding(ctx, people_dir / "Barack_Obama" / "obama2.jpg")
    assert ctx.recognition.identify_embedding(probe).granted

    row = service.set_status(obama, "suspended")
    assert row.status == "suspended" and row.state() == "Suspended"
    result = ctx.recognition.identify_embedding(probe)
    assert not result.granted and result.refusal == "suspended"  # at once, no reload
    service.set_status(obama, "active")
    assert ctx.recognition.identify_embedding(probe).granted

    row = service.update_person(obama, employee_number="E1-B", name="Barack H. Obama",
                                department=None, valid_from=None, valid_until=None)
    assert (row.employee_number, row.name, row.department) == ("E1-B", "Barack H. Obama", None)
    assert ctx.recognition.identify_embedding(probe).person.name == "Barack H. Obama"

    biden = enroll("E2", "Joe Biden", "Joe_Biden/biden.jpg")
    with pytest.raises(DuplicateEmployeeNumber):
        service.update_person(biden, employee_number="E1-B", name="Joe Biden",
                              department=None, valid_from=None, valid_until=None)

    [event_id] = add_events([("granted", obama, 1, 0.97, None, b"\xff\xd8jpeg")])
    counts = service.delete_person(obama)
    assert (counts.templates, counts.snapshots, counts.events_unlinked) == (1, 1, 1)
    assert not ctx.recognition.identify_embedding(probe).granted
    assert ctx.galleries.everyone.identify(probe).employee_id != obama
    with ctx.db.session() as s:
        assert repo.get_event_snapshot(s, event_id) is None  # the snapshot is erased
        assert repo.count_events(s) == 1  # the passage stays, without the person
    with pytest.raises(EmployeeNotFound):
        service.get_person(obama)
    assert [p.name for p in service.list_people()] == ["Joe Biden"]


def test_service_lists_first_face_and_template_count(ctx, enroll, people_dir) -> None:
    service = PeopleService.for_context(ctx)
    obama = enroll("E1", "Barack Obama", "Barack_Obama/obama.jpg")
    first_crop = service.get_person(obama).face_crop
    ctx.enrollment.add_photo(obama, str(people_dir / "Barack_Obama" / "obama2.jpg"))
    row = service.get_person(obama)
    assert row.templates == 2 and row.face_crop == first_crop
    assert len(service.face_crops(obama)) == 2
    assert service.face_crop_by_number("E1") == (obama, first_crop)


# --- the page -----------------------------------------------------------------------------


@pytest.fixture
def page(ctx, qtbot):
    widget = PeoplePage(ctx)
    qtbot.addWidget(widget)
    widget.resize(1200, 720)
    return widget


def show(page, qtbot) -> None:
    with qtbot.waitSignal(page.people_loaded, timeout=WAIT_MS):
        page.show()


def names(page) -> list[str]:
    return [page.proxy.index(r, PeopleTableModel.COL_NAME).data()
            for r in range(page.proxy.rowCount())]


def select(page, qtbot, name: str) -> None:
    row = names(page).index(name)
    rect = page.table.visualRect(page.proxy.index(row, PeopleTableModel.COL_NAME))
    qtbot.mouseClick(page.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert page.selected_person().name == name


def answer_next_message_box(button_text: str) -> None:
    """Click a button of the next modal message box (as the person would)."""
    def press() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, press)
            return
        for button in box.buttons():
            if button.text().replace("&", "") == button_text:
                button.click()
                return
        raise AssertionError(f"no {button_text!r} button")

    QTimer.singleShot(0, press)


def test_find_a_person_sort_and_see_details(ctx, page, qtbot, enroll) -> None:
    enroll("E10", "Barack Obama", "Barack_Obama/obama.jpg", department="Management")
    enroll("E9", "Joe Biden", "Joe_Biden/biden.jpg", department="Management")
    enroll("E100", "Rose Leslie", "Rose_Leslie/img1.jpg", department="Warehouse")
    show(page, qtbot)
    assert names(page) == ["Barack Obama", "Joe Biden", "Rose Leslie"]
    assert page.count_label.text() == "3 people"
    thumb = page.proxy.index(0, PeopleTableModel.COL_PHOTO).data(Qt.ItemDataRole.DecorationRole)
    assert thumb is not None and not thumb.isNull()

    qtbot.keyClicks(page.search_edit, "ware")
    assert names(page) == ["Rose Leslie"]
    assert page.count_label.text() == "1 of 3 people shown"
    page.search_edit.clear()

    header = page.table.horizontalHeader()
    x = header.sectionViewportPosition(PeopleTableModel.COL_NUMBER) + 10
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton,
                     pos=QPoint(x, header.height() // 2))
    numbers = [page.proxy.index(r, PeopleTableModel.COL_NUMBER).data() for r in range(3)]
    assert numbers in (["E9", "E10", "E100"], ["E100", "E10", "E9"])

    select(page, qtbot, "Joe Biden")
    assert page.detail_name.text() == "Joe Biden"
    assert page._detail_values["Employee no."].text() == "E9"
    assert not page.detail_crop.pixmap().isNull()
    assert page.edit_button.isEnabled() and page.status_button.text() == "Suspend"


def test_suspend_and_activate(ctx, page, qtbot, enroll, people_dir) -> None:
    obama = enroll("E1", "Barack Obama", "Barack_Obama/obama.jpg")
    probe = embedding(ctx, people_dir / "Barack_Obama" / "obama2.jpg")
    show(page, qtbot)
    select(page, qtbot, "Barack Obama")
    with qtbot.waitSignal(page.person_changed, timeout=WAIT_MS):
        click(qtbot, page.status_button)
    assert page.proxy.index(0, PeopleTableModel.COL_STATUS).data() == "Suspended"
    assert page.status_button.text() == "Activate"
    assert "suspended" in page.message.text()
    with ctx.db.session() as s:
        assert repo.get_employee(s, obama).status == "suspended"
    assert ctx.galleries.gallery.identify(probe).employee_id is None  # the door says no
    assert ctx.recognition.identify_embedding(probe).refusal == "suspended"
    with qtbot.waitSignal(page.person_changed, timeout=WAIT_MS):
        click(qtbot, page.status_button)
    with ctx.db.session() as s:
        assert repo.get_employee(s, obama).status == "active"
    assert ctx.recognition.identify_embedding(probe).granted
    assert page.proxy.index(0, PeopleTableModel.COL_STATUS).data() == "Active"


def test_delete_asks_first_and_erases(ctx, page, qtbot, enroll, add_events,
                                      people_dir) -> None:
    obama = enroll("E1", "Barack Obama", "Barack_Obama/obama.jpg")
    enroll("E2", "Joe Biden", "Joe_Biden/biden.jpg")
    [event_id] = add_events([("granted", obama, 5, 0.97, None, b"\xff\xd8jpeg")])
    show(page, qtbot)
    select(page, qtbot, "Barack Obama")

    answer_next_message_box("Cancel")
    click(qtbot, page.delete_button)
    assert names(page) == ["Barack Obama", "Joe Biden"]
    with ctx.db.session() as s:
        assert repo.get_employee(s, obama)

    answer_next_message_box("Delete")
    with qtbot.waitSignal(page.person_deleted, timeout=WAIT_MS) as blocker:
        click(qtbot, page.delete_button)
    assert blocker.args == [obama]
    assert names(page) == ["Joe Biden"]
    assert "deleted" in page.message.text() and "1 snapshot" in page.message.text()
    with ctx.db.session() as s:
        with pytest.raises(EmployeeNotFound):
            repo.get_employee(s, obama)
        assert repo.list_templates(s, obama) == []
        assert repo.get_event_snapshot(s, event_id) is None
        assert repo.count_events(s) == 1
    probe = embedding(ctx, people_dir / "Barack_Obama" / "obama2.jpg")
    assert ctx.galleries.everyone.identify(probe).employee_id != obama


def test_delete_says_which_database_backup_still_holds_the_person(ctx, page, qtbot, enroll,
                                                                  tmp_path) -> None:
    """The migration backups beside the database are cleaned too; one that cannot be
    (here: not a database at all) is named in a warning, and the person is deleted anyway."""
    from turnstile.storage.db import backup_sqlite

    obama = enroll("E1", "Barack Obama", "Barack_Obama/obama.jpg")
    enroll("E2", "Joe Biden", "Joe_Biden/biden.jpg")
    good = backup_sqlite(tmp_path / "t.db", "0004")
    broken = tmp_path / "t.db.bak-0003-20260101T000000Z"
    broken.write_bytes(b"not a database")
    show(page, qtbot)
    select(page, qtbot, "Barack Obama")
    answer_next_message_box("Delete")
    with qtbot.waitSignal(page.person_deleted, timeout=WAIT_MS):
        click(qtbot, page.delete_button)

    text = page.message.text()
    assert page.message.kind == "warning"
    assert "Barack Obama was deleted" in text and "1 database backup cleaned" in text
    assert broken.name in text and good.name not in text
    import sqlite3

    with sqlite3.connect(good) as copy:
        left = copy.execute("SELECT count(*) FROM face_templates WHERE employee_id = ?",
                            (obama,)).fetchone()[0]
        others = copy.execute("SELECT count(*) FROM face_templates").fetchone()[0]
    assert (left, others) == (0, 1), "his templates left the backup, Biden's stayed"
    with ctx.db.session() as s:
        with pytest.raises(EmployeeNotFound):
            repo.get_employee(s, obama)


def test_edit_dialog_explains_a_refused_value_then_saves(ctx, page, qtbot, enroll) -> None:
    biden = enroll("E2", "Joe Biden", "Joe_Biden/biden.jpg")
    enroll("E1", "Barack Obama", "Barack_Obama/obama.jpg")
    show(page, qtbot)
    select(page, qtbot, "Joe Biden")
    dialog = page.edit_selected()
    assert dialog.number_edit.text() == "E2" and dialog.name_edit.text() == "Joe Biden"
    qtbot.waitExposed(dialog)
    # the start and end dates line up under each other
    assert dialog.from_date.mapTo(dialog, dialog.from_date.rect().topLeft()).x() == \
        dialog.until_date.mapTo(dialog, dialog.until_date.rect().topLeft()).x()

    dialog.number_edit.clear()
    qtbot.keyClicks(dialog.number_edit, "E1")  # taken by Obama
    dialog.submit()
    qtbot.waitUntil(lambda: dialog.message.kind == "error", timeout=WAIT_MS)
    assert "already in use" in dialog.message.text() and dialog.isVisible()

    dialog.number_edit.clear()
    qtbot.keyClicks(dialog.number_edit, "E2")
    dialog.name_edit.clear()  # an empty name is refused by the repository
    dialog.submit()
    qtbot.waitUntil(lambda: dialog.message.kind == "error" and "name" in
                    dialog.message.text().lower(), timeout=WAIT_MS)

    qtbot.keyClicks(dialog.name_edit, "Joseph Biden")
    qtbot.keyClicks(dialog.department_edit, "Office")
    with qtbot.waitSignal(page.person_changed, timeout=WAIT_MS):
        dialog.submit()
    assert "Joseph Biden" in names(page)
    with ctx.db.session() as s:
        employee = repo.get_employee(s, biden)
        assert (employee.name, employee.department) == ("Joseph Biden", "Office")
    assert ctx.recognition.person(biden).name == "Joseph Biden"


class _Window(QWidget):
    """The main window's page switching contract (``show_page``), without the door page."""

    def __init__(self, pages: list[QWidget]) -> None:
        super().__init__()
        self.stack = QStackedWidget()
        QVBoxLayout(self).addWidget(self.stack)
        self.pages = pages
        for p in pages:
            self.stack.addWidget(p)

    def show_page(self, page_type: type) -> QWidget:
        for p in self.pages:
            if isinstance(p, page_type):
                self.stack.setCurrentWidget(p)
                return p
        raise LookupError(page_type.__name__)


def test_add_photo_and_re_enroll_open_the_enroll_page(ctx, qtbot, enroll) -> None:
    obama = enroll("E1", "Barack Obama", "Barack_Obama/obama.jpg")
    people, enroll_page = PeoplePage(ctx), EnrollPage(ctx)
    window = _Window([people, enroll_page])
    qtbot.addWidget(window)
    with qtbot.waitSignal(people.people_loaded, timeout=WAIT_MS):
        window.show()
    select(people, qtbot, "Barack Obama")
    with qtbot.waitSignal(people.add_photo_requested) as blocker:
        click(qtbot, people.reenroll_button)
    assert blocker.args == [obama, True]
    assert window.stack.currentWidget() is enroll_page
    qtbot.waitUntil(lambda: enroll_page.selected_person() == obama, timeout=WAIT_MS)
    assert enroll_page.mode_existing.isChecked() and enroll_page.replace_check.isChecked()
    enroll_page.shutdown()


def test_bulk_import_with_progress_and_a_report(ctx, page, qtbot, people_dir,
                                                tmp_path) -> None:
    csv_file = tmp_path / "people.csv"
    csv_file.write_text(
        "employee_number,name,department,photo,consent\n"
        "E1,Barack Obama,Management,Barack_Obama/obama.jpg,yes\n"
        "E2,Joe Biden,Management,Joe_Biden/biden.jpg,yes\n"
        "E3,Nobody,Sales,missing/nobody.jpg,yes\n"
        "E4,Rose Leslie,Warehouse,Rose_Leslie/img1.jpg,no\n", encoding="utf-8")
    show(page, qtbot)
    dialog = page.open_import()
    click(qtbot, dialog.import_button)  # nothing chosen yet
    assert dialog.message.kind == "error" and "CSV" in dialog.message.text()
    qtbot.keyClicks(dialog.csv_edit, str(csv_file))
    qtbot.keyClicks(dialog.folder_edit, str(people_dir))
    with qtbot.waitSignal(page.people_loaded, timeout=60_000):
        with qtbot.waitSignal(dialog.import_finished, timeout=60_000) as blocker:
            click(qtbot, dialog.import_button)
    report = blocker.args[0]
    assert len(report.imported) == 2 and len(report.rejected) == 2
    assert "2 imported" in dialog.summary.text()
    assert dialog.rejected_table.isVisible() and dialog.rejected_table.rowCount() == 2
    assert [dialog.rejected_table.item(r, 1).text() for r in range(2)] == ["E3", "E4"]
    assert "not found" in dialog.rejected_table.item(0, 2).text()
    assert names(page) == ["Barack Obama", "Joe Biden"]


def test_progress_job_can_be_cancelled(qtbot, qapp) -> None:
    parent = QWidget()
    qtbot.addWidget(parent)
    parent.show()
    steps = []

    def work(progress, cancel: threading.Event) -> str:
        for i in range(1000):
            if cancel.is_set():
                return f"stopped after {i}"
            progress(i, 1000, f"step {i}")
            steps.append(i)
            cancel.wait(0.01)
        return "finished"

    job = ProgressJob(parent, "Working", "Working...", work)
    with qtbot.waitSignal(job.finished, timeout=WAIT_MS) as blocker:
        job.start()
        qtbot.waitUntil(lambda: job.dialog.isVisible() and job.dialog.value() > 0,
                        timeout=WAIT_MS)
        assert job.dialog.maximum() == 1000
        cancel_button = job.dialog.findChild(QPushButton)
        click(qtbot, cancel_button)
    assert blocker.args[0].startswith("stopped after")
    assert len(steps) < 1000
