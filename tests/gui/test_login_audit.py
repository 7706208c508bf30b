"""What a logged-in operator does on the desk pages lands in the audit trail, and the Audit
trail page shows it, filters it and exports it (real pages, real faces, real SQLite)."""

from __future__ import annotations

import csv

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from turnstile.gui.audit_page import AuditPage, AuditTableModel
from turnstile.gui.enroll_page import EnrollPage
from turnstile.gui.log_page import AccessLogPage
from turnstile.gui.people_page import PeoplePage
from turnstile.gui.settings_page import SettingsPage
from turnstile.services.audit import AuditFilter
from turnstile.services.auth import CurrentUser

WAIT_MS = 30_000


def trail(ctx, *actions: str) -> list[tuple[str, str, str | None]]:
    entries = ctx.audit_trail.query(AuditFilter(actions=actions or None), newest_first=False)
    return [(e.actor, e.action, e.target) for e in entries]


def answer_next_message_box(button_text: str) -> None:
    def press() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, press)
            return
        for button in box.buttons():
            if button.text().replace("&", "") == button_text:
                button.click()
                return

    QTimer.singleShot(0, press)


@pytest.fixture
def desk(models):
    models.current_user = CurrentUser(7, "frontdesk1", "front_desk")
    return models


def test_enroll_edit_suspend_are_audited_for_the_front_desk(desk, qtbot, people_dir) -> None:
    page = EnrollPage(desk)
    qtbot.addWidget(page)
    page.show()
    with qtbot.waitSignal(page.photo_analysed, timeout=WAIT_MS):
        page.load_photo(str(people_dir / "Barack_Obama" / "obama.jpg"))
    qtbot.keyClicks(page.number_edit, "E1001")
    qtbot.keyClicks(page.name_edit, "Barack Obama")
    qtbot.mouseClick(page.consent_check, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(page.enrolled, timeout=WAIT_MS):
        qtbot.mouseClick(page.enroll_button, Qt.MouseButton.LeftButton)
    page.shutdown()

    people = PeoplePage(desk)
    qtbot.addWidget(people)
    with qtbot.waitSignal(people.people_loaded, timeout=WAIT_MS):
        people.show()
    people.table.selectRow(0)
    dialog = people.edit_selected()
    dialog.name_edit.setText("Barack H. Obama")
    with qtbot.waitSignal(people.person_changed, timeout=WAIT_MS):
        dialog.submit()
    with qtbot.waitSignal(people.person_changed, timeout=WAIT_MS):
        people.toggle_status_selected()
    assert trail(desk, "enroll", "edit", "suspend") == [
        ("frontdesk1", "enroll", "employee E1001"),
        ("frontdesk1", "edit", "employee E1001"),
        ("frontdesk1", "suspend", "employee E1001"),
    ]
    # The trail says who and what, not the person's details.
    assert not any("Obama" in (e.detail or "") + (e.target or "")
                   for e in desk.audit_trail.query())


def test_delete_export_and_settings_are_audited_for_the_admin(ctx, qtbot, enroll, add_events,
                                                             tmp_path) -> None:
    obama = enroll("E1", "Barack Obama", "Barack_Obama/obama.jpg")
    add_events([("granted", obama, 5, 0.97, None, None)])
    people = PeoplePage(ctx)
    qtbot.addWidget(people)
    with qtbot.waitSignal(people.people_loaded, timeout=WAIT_MS):
        people.show()
    people.table.selectRow(0)
    answer_next_message_box("Delete")
    with qtbot.waitSignal(people.person_deleted, timeout=WAIT_MS):
        people.delete_selected()

    log_page = AccessLogPage(ctx)
    qtbot.addWidget(log_page)
    with qtbot.waitSignal(log_page.export_finished, timeout=WAIT_MS):
        log_page.export_csv(tmp_path / "events.csv")
    log_page.shutdown()

    settings = SettingsPage(ctx)
    qtbot.addWidget(settings)
    settings.door_name_edit.setText("Back door")
    assert settings.save()

    assert trail(ctx, "delete", "export", "settings_change") == [
        ("desk-test", "delete", "employee E1"),
        ("desk-test", "export", "file events.csv"),
        ("desk-test", "settings_change", "settings"),
    ]
    (change,) = ctx.audit_trail.query(AuditFilter(actions=("settings_change",)))
    assert "door_name: 'Main entrance' -> 'Back door'" in change.detail


def test_audit_page_lists_filters_and_exports(ctx, qtbot, tmp_path) -> None:
    ctx.audit("login", "desk-test", "desktop app")
    ctx.current_user = CurrentUser(3, "mallory", "front_desk")
    ctx.audit("permission_denied", "page Settings", "needs admin", success=False)
    ctx.audit("edit", "=cmd|' /C calc'!A0", "desktop app")
    page = AuditPage(ctx)
    qtbot.addWidget(page)
    page.show()
    assert page.model.rowCount() == 3
    newest = page.model.index(0, AuditTableModel.COL_TARGET).data()
    assert newest == "=cmd|' /C calc'!A0"  # shown as typed
    page.failed_check.setChecked(True)
    assert page.model.rowCount() == 1
    assert page.model.index(0, AuditTableModel.COL_RESULT).data() == "Failed"
    page.failed_check.setChecked(False)
    qtbot.keyClicks(page.search_edit, "mallory")
    qtbot.keyClick(page.search_edit, Qt.Key.Key_Return)
    assert page.model.rowCount() == 2 and "2 entries" in page.count_label.text()
    target = tmp_path / "trail.csv"
    assert page.export(target) == 2
    with target.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["action"] for r in rows] == ["permission_denied", "edit"]
    assert rows[1]["target"] == "'=cmd|' /C calc'!A0"  # a spreadsheet will not run it
    assert trail(ctx, "audit_export") == [("mallory", "audit_export", "file trail.csv")]
