"""What the Settings page shows while it is edited: the calibration dialog grows to show
its proposal, crossed thresholds are said at once (and unsaid when fixed), the expected
rates read as plain words, durations are in seconds (real widgets, offscreen)."""

from __future__ import annotations

import re

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget

from turnstile.config import Settings
from turnstile.gui.settings_page import ERROR_STYLE, SettingsPage, rate_phrase

WAIT_MS = 30_000


@pytest.fixture
def page(ctx, qtbot):
    widget = SettingsPage(ctx)
    qtbot.addWidget(widget)
    widget.resize(1200, 740)
    with qtbot.waitSignal(widget.histogram_ready, timeout=WAIT_MS):
        widget.show()
    qtbot.waitUntil(lambda: widget.gallery_size is not None, timeout=WAIT_MS)
    return widget


def _set_thresholds(qtbot, page: SettingsPage, accept: float | None = None,
                    reject: float | None = None) -> None:
    """Untick the default and set the value, as an admin would (a None stays as it is)."""
    for value, check, spin in ((accept, page.accept_default, page.accept_spin),
                               (reject, page.reject_default, page.reject_spin)):
        if value is None:
            continue
        if check.isChecked():
            qtbot.mouseClick(check, Qt.MouseButton.LeftButton)
        spin.setValue(value)


def _plain(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html)


def _fits(*widgets: QWidget) -> bool:
    """Every widget has at least the height it asks for (wrapped text: all its lines)."""
    for widget in widgets:
        if isinstance(widget, QLabel) and widget.wordWrap():
            if widget.isVisible() and widget.height() < widget.heightForWidth(widget.width()):
                return False
        elif widget.height() < widget.sizeHint().height():
            return False
    return True


# --- 1. the calibration dialog shows its whole proposal ---------------------------------


def test_the_calibration_dialog_grows_to_show_the_proposal(qtbot, page) -> None:
    dialog = page.open_calibration()
    with qtbot.waitSignal(dialog.proposal_ready, timeout=WAIT_MS):
        qtbot.mouseClick(dialog.propose_button, Qt.MouseButton.LeftButton)
    assert dialog.result_label.isVisible() and "Accept at" in dialog.result_label.text()
    fields = (dialog.target_combo, dialog.source_combo, dialog.propose_button,
              dialog.use_button, dialog.result_label)
    qtbot.waitUntil(lambda: _fits(*fields), timeout=2_000)
    # Narrower by hand: the dialog keeps the height the text needs, never squeezes.
    dialog.resize(dialog.minimumWidth(), dialog.height())
    qtbot.waitUntil(lambda: _fits(*fields), timeout=2_000)
    assert dialog.minimumHeight() >= dialog.heightForWidth(dialog.width())


# --- 2. crossed thresholds --------------------------------------------------------------


def test_crossed_thresholds_are_said_at_once_and_unsaid_when_fixed(qtbot, page) -> None:
    _set_thresholds(qtbot, page, accept=0.30)  # below the default reject (0.43...)
    # Before any Save: next to the field, in place of the rates, a red border.
    assert page.threshold_message.isVisible() and page.threshold_message.kind == "error"
    assert "0.3000" in page.threshold_message.text()
    assert page.accept_spin.styleSheet() == ERROR_STYLE
    assert page.expected is None
    rates = _plain(page.rates_label.text())
    assert "No expected rates" in rates and "stranger" not in rates.lower()

    _set_thresholds(qtbot, page, accept=0.60)
    assert not page.threshold_message.isVisible() and page.threshold_message.text() == ""
    assert page.accept_spin.styleSheet() == ""
    assert page.expected is not None and "stranger" in page.rates_label.text().lower()
    assert page.save()


def test_a_refused_save_is_forgotten_once_the_value_is_fixed(qtbot, page) -> None:
    _set_thresholds(qtbot, page, accept=0.30)
    with qtbot.waitSignal(page.save_failed):
        qtbot.mouseClick(page.save_button, Qt.MouseButton.LeftButton)
    assert page.message.kind == "error" and "0.3000" in page.message.text()

    _set_thresholds(qtbot, page, accept=0.40)  # still below the reject: the new figures
    assert page.message.kind == "error" and "0.4000" in page.message.text()
    assert "0.3000" not in page.message.text()

    _set_thresholds(qtbot, page, accept=0.60)
    assert not page.message.isVisible() and page.message.text() == ""
    assert page.accept_spin.styleSheet() == "" and page.reject_spin.styleSheet() == ""
    assert not page.accept_spin.property("settingsError")

    page.camera_combo.setEditText("   ")  # another field, same rule
    assert not page.save()
    assert page.camera_combo.styleSheet() == ERROR_STYLE
    page.camera_combo.setEditText("1")
    assert not page.message.isVisible() and page.camera_combo.styleSheet() == ""


# --- 3. the rates in plain words --------------------------------------------------------


@pytest.mark.parametrize(("rate", "unit", "words"), [
    (0.004, "looks", "on about <b>1 in 250</b> looks (0.4 %)"),
    (0.18, "looks", "on about <b>18 %</b> of looks"),
    (0.043, "looks", "on about <b>4 %</b> of looks (1 in 23)"),
    (0.023, "visits", "on about <b>2 %</b> of visits (1 in 43)"),
    (1.2e-5, "visits", "on about <b>1 in 83,000</b> visits"),
    (0.0, "visits", "on none of the visits"),
])
def test_a_rate_in_words(rate: float, unit: str, words: str) -> None:
    assert rate_phrase(rate, unit) == words


def _check_rates_text(page: SettingsPage) -> None:
    html = page.rates_label.text()
    text = _plain(html)
    assert "FPIR" not in text and "FNIR" not in text  # jargon only in the tooltip
    assert "FPIR" in page.rates_label.toolTip() and "FNIR" in page.rates_label.toolTip()
    assert "A stranger at the door is let in on about" in text
    assert "An employee is not recognised on about" in text and "looks again" in text
    assert not re.search(r"(?<![\d.])0 ?%", text)  # never "0 %" beside "1 in 250"
    pairs = [(float(p), int(n.replace(",", ""))) for n, p in
             re.findall(r"1 in ([\d,]+) \w+ \(([\d.]+) %\)", text)]
    pairs += [(float(p), int(n.replace(",", ""))) for p, n in
              re.findall(r"([\d.]+) % of \w+ \(1 in ([\d,]+)\)", text)]
    for percent, count in pairs:  # the two forms of one figure agree
        assert percent == pytest.approx(100 / count, rel=0.15), text


def test_the_rates_read_as_plain_words(qtbot, page) -> None:
    for accept, reject in ((0.30, 0.25), (0.60, None), (0.45, None)):
        with qtbot.waitSignal(page.rates_updated, timeout=WAIT_MS):
            _set_thresholds(qtbot, page, accept=accept, reject=reject)
        _check_rates_text(page)


# --- 5. durations in seconds ------------------------------------------------------------


def test_the_unlock_time_is_in_seconds(ctx, qtbot) -> None:
    ctx.settings = Settings(unlock_ms=1234)
    widget = SettingsPage(ctx)
    qtbot.addWidget(widget)
    assert widget.unlock_s_spin.text() == "1.2 s"
    assert widget.form_settings().unlock_ms == 1234  # untouched: kept to the millisecond
    widget.unlock_s_spin.setValue(2.5)
    assert widget.form_settings().unlock_ms == 2500
    suffixes = {spin.suffix().strip() for spin in widget.findChildren(QWidget)
                if hasattr(spin, "suffix") and spin.suffix().strip() in ("ms", "s")}
    assert suffixes == {"s"}
