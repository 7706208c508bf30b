"""The Settings page shows the false-accept and false-reject rates to expect, live, and
proposes thresholds for a target (real widgets, offscreen); in 1:1 mode, those of the 1:1
threshold."""

from __future__ import annotations

import re

import pytest
from PySide6.QtCore import Qt

from turnstile.gui.settings_page import TARGET_CHOICES, SettingsPage, one_in
from turnstile.matching.policy import CONFIRM_VERIFY_THRESHOLD
from turnstile.resources import confirm_model_id
from turnstile.storage import repositories as repo

WAIT_MS = 30_000


@pytest.fixture
def page(ctx, qtbot, add_people):
    add_people(20)
    widget = SettingsPage(ctx)
    qtbot.addWidget(widget)
    widget.resize(1200, 800)
    with qtbot.waitSignal(widget.rates_updated, timeout=WAIT_MS):
        widget.show()
    qtbot.waitUntil(lambda: widget.gallery_size is not None, timeout=WAIT_MS)
    return widget


def _set_accept(qtbot, page: SettingsPage, value: float) -> None:
    if page.accept_default.isChecked():
        qtbot.mouseClick(page.accept_default, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(page.rates_updated, timeout=WAIT_MS):
        page.accept_spin.setValue(value)


def test_shows_the_rates_for_the_people_enrolled(page: SettingsPage) -> None:
    assert page.gallery_size == 20
    assert page.expected is not None
    text = page.rates_label.text()
    assert "20 people enrolled" in text
    assert one_in(page.expected.fpir) in text and one_in(page.expected.fnir) in text


def test_a_stricter_threshold_lets_in_fewer_strangers_and_misses_more(qtbot, page) -> None:
    _set_accept(qtbot, page, 0.4500)
    loose = page.expected
    loose_text = page.rates_label.text()
    # Typing into the spin box, as an admin would.
    page.accept_spin.selectAll()
    with qtbot.waitSignal(page.rates_updated, timeout=WAIT_MS):
        qtbot.keyClicks(page.accept_spin.lineEdit(), "0.5500")
    strict = page.expected
    assert page.accept_spin.value() == pytest.approx(0.55)
    assert strict.fpir < loose.fpir / 5
    assert strict.fnir > loose.fnir
    assert page.rates_label.text() != loose_text and "0.5500" in page.rates_label.text()


def test_more_people_more_false_accepts(qtbot, page, add_people) -> None:
    _set_accept(qtbot, page, 0.5000)
    before = page.expected
    add_people(180)
    with qtbot.waitSignal(page.rates_updated, timeout=WAIT_MS):
        page.refresh_gallery_size()
    assert page.gallery_size == 200
    assert "200 people enrolled" in page.rates_label.text()
    assert page.expected.fpir == pytest.approx(10 * before.fpir, rel=0.1)
    assert page.expected.fnir > before.fnir


def test_showing_the_page_again_counts_again(qtbot, page, add_people) -> None:
    add_people(5)
    page.hide()
    with qtbot.waitSignal(page.rates_updated, timeout=WAIT_MS):
        page.show()
    qtbot.waitUntil(lambda: page.gallery_size == 25, timeout=WAIT_MS)


def test_the_default_shown_is_the_stored_calibration(qtbot, ctx, add_people) -> None:
    add_people(3)
    with ctx.db.session() as s:
        repo.set_threshold(s, confirm_model_id(), "accept", 0.5611)
        repo.set_threshold(s, confirm_model_id(), "reject", 0.4500)
    widget = SettingsPage(ctx)
    qtbot.addWidget(widget)
    with qtbot.waitSignal(widget.rates_updated, timeout=WAIT_MS):
        widget.show()
    qtbot.waitUntil(lambda: "0.5611" in widget.accept_default.text(), timeout=WAIT_MS)
    assert widget.accept_default.isChecked()
    assert "0.5611" in widget.rates_label.text()


def test_calibrate_proposes_and_fills_the_form(qtbot, page) -> None:
    qtbot.mouseClick(page.calibrate_button, Qt.MouseButton.LeftButton)
    dialog = page.calibrate_dialog
    assert dialog is not None and dialog.isVisible()
    assert dialog.people_label.text() == "20"
    assert not dialog.use_button.isEnabled()
    results = {}
    for index in (0, 2):  # 1 in 100, then 1 in 10,000
        dialog.target_combo.setCurrentIndex(index)
        with qtbot.waitSignal(dialog.proposal_ready, timeout=WAIT_MS) as got:
            qtbot.mouseClick(dialog.propose_button, Qt.MouseButton.LeftButton)
        results[TARGET_CHOICES[index][0]] = got.args[0]
    loose, strict = results[1e-2], results[1e-4]
    assert strict.accept > loose.accept
    assert strict.at_size.fpir <= 1e-4 < loose.at_size.fpir <= 1e-2
    assert f"{strict.accept:.4f}" in dialog.result_label.text()
    assert dialog.use_button.isEnabled()
    qtbot.mouseClick(dialog.use_button, Qt.MouseButton.LeftButton)
    assert not dialog.isVisible()
    assert not page.accept_default.isChecked() and not page.reject_default.isChecked()
    assert page.accept_spin.value() == pytest.approx(strict.accept)
    assert page.reject_spin.value() == pytest.approx(strict.reject)
    assert page.dirty
    assert page.expected.fpir <= 1e-4
    assert page.form_settings().accept_threshold == strict.accept


def test_calibrate_from_a_short_log_says_why(qtbot, page) -> None:
    dialog = page.open_calibration()
    dialog.source_combo.setCurrentIndex(1)  # this site's log: empty
    with qtbot.waitSignal(dialog.proposal_ready, timeout=WAIT_MS) as got:
        qtbot.mouseClick(dialog.propose_button, Qt.MouseButton.LeftButton)
    assert isinstance(got.args[0], Exception)
    assert re.search(r"Too few scores.*needs 200", dialog.result_label.text())
    assert not dialog.use_button.isEnabled()


def _plain(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html)


def _choose_door_mode(page: SettingsPage, key: str) -> None:
    page.door_mode_combo.setCurrentIndex(page.door_mode_combo.findData(key))


def test_one_to_one_rates_do_not_grow_with_the_people(qtbot, page, add_people) -> None:
    _choose_door_mode(page, "verify")
    one_to_one = page.rates_label.text()
    assert "any number of people" in one_to_one and "20 people" not in one_to_one
    add_people(180)
    with qtbot.waitSignal(page.rates_updated, timeout=WAIT_MS):
        page.refresh_gallery_size()
    assert page.gallery_size == 200
    assert page.rates_label.text() == one_to_one
    _choose_door_mode(page, "identify")  # 1:N does grow
    assert "200 people enrolled" in page.rates_label.text()


def test_calibrate_in_one_to_one_mode_gives_the_1to1_threshold(qtbot, page) -> None:
    _choose_door_mode(page, "verify")
    qtbot.mouseClick(page.calibrate_button, Qt.MouseButton.LeftButton)
    dialog = page.calibrate_dialog
    assert dialog is not None and dialog.isVisible()
    assert "does not matter" in dialog.intro.text() and "badge" in dialog.intro.text()
    assert not dialog.people_label.isVisible()
    assert dialog.target_combo.currentText() == ("1 attempt in 1,000 with another person's "
                                                 "badge")
    assert not dialog.use_button.isVisible() and dialog.cancel_button.text() == "Close"
    results = {}
    for index in (0, 1):  # 1 in 100, then 1 in 1,000
        dialog.target_combo.setCurrentIndex(index)
        with qtbot.waitSignal(dialog.proposal_ready, timeout=WAIT_MS) as got:
            qtbot.mouseClick(dialog.propose_button, Qt.MouseButton.LeftButton)
        results[TARGET_CHOICES[index][0]] = (got.args[0], _plain(dialog.result_label.text()))
    (loose, loose_text), (strict, text) = results[1e-2], results[1e-3]
    assert loose.verify_threshold < strict.verify_threshold == CONFIRM_VERIFY_THRESHOLD
    assert f"1:1 threshold for this target: {strict.verify_threshold:.4f}" in text
    assert ("Someone giving another person's badge or number is let in on about 1 in 1,000 "
            "attempts") in text
    assert "This is the 1:1 threshold the door uses" in text
    assert f"The door uses {CONFIRM_VERIFY_THRESHOLD:.4f}" in loose_text
    assert "1 in 100 attempts" in loose_text
    assert "Accept at" not in text and "To calibrate Accept and Reject (1:N mode" in text
    assert not dialog.use_button.isVisible() and not dialog.use_button.isEnabled()

    _choose_door_mode(page, "identify")  # the open dialog follows the form
    assert dialog.result_label.text() == "" and dialog.people_label.isVisible()
    assert dialog.target_combo.currentText() == "1 stranger visit in 1,000"
    assert dialog.use_button.isVisible() and dialog.cancel_button.text() == "Cancel"
    with qtbot.waitSignal(dialog.proposal_ready, timeout=WAIT_MS):
        qtbot.mouseClick(dialog.propose_button, Qt.MouseButton.LeftButton)
    assert "Accept at" in dialog.result_label.text() and dialog.use_button.isEnabled()


@pytest.mark.parametrize(("rate", "text"), [(0.25, "25 %"), (1 / 4321, "1 in 4,300"),
                                            (1e-6, "1 in 1,000,000"), (0.0, "never")])
def test_rates_read_as_people_say_them(rate: float, text: str) -> None:
    assert one_in(rate) == text
