"""The Settings page: validation shown next to the field, nothing written on a refusal,
settings and door hardware saved as TOML and applied at once, the score plot, the door
test; the rates and thresholds of the door mode chosen (1:N or 1:1); and the settings
fields the page added."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget

from turnstile import config
from turnstile.config import Settings, SettingsError, load_settings
from turnstile.door.config import DoorConfig, load_door_config
from turnstile.gui.settings_door import dump_door_config, save_door_config
from turnstile.gui.settings_page import (
    ERROR_STYLE,
    THRESHOLD_HELP,
    SettingsPage,
    rate_phrase,
)
from turnstile.matching.policy import (
    CONFIRM_ACCEPT_THRESHOLD,
    CONFIRM_REJECT_THRESHOLD,
    CONFIRM_VERIFY_THRESHOLD,
)
from turnstile.resources import confirm_model_id, embedder_model_id
from turnstile.services.calibration import load_score_model
from turnstile.storage import repositories as repo

WAIT_MS = 30_000


# --- the new settings fields --------------------------------------------------------------


def test_retention_fields_round_trip(tmp_path: Path) -> None:
    original = Settings(retention_days_snapshots=30, retention_days_events=365,
                        retention_days_suspended=None)
    path = config.save_settings(original, tmp_path / "config.toml")
    assert load_settings(path) == original
    assert "# retention_days_suspended" in path.read_text(encoding="utf-8")


@pytest.mark.parametrize(("changes", "key"), [
    ({"retention_days_events": 0}, "retention_days_events"),
    ({"retention_days_snapshots": 40_000}, "retention_days_snapshots"),
    ({"retention_days_suspended": 2.5}, "retention_days_suspended"),
    ({"accept_threshold": 1.5}, "accept_threshold"),
    ({"accept_threshold": 0.95, "reject_threshold": 0.96}, "reject_threshold"),
])
def test_bad_values_name_the_key(changes: dict, key: str) -> None:
    with pytest.raises(SettingsError) as caught:
        dataclasses.replace(Settings(), **changes)
    assert caught.value.key == key


def test_door_config_round_trip(tmp_path: Path) -> None:
    door = DoorConfig(backend="http", http_url="http://10.0.0.5/door", http_token='a"b\\c',
                      http_timeout_s=1.5, gpio_pin="GPIO17", gpio_active_high=False)
    path = save_door_config(door, tmp_path / "door.toml")
    assert load_door_config(path) == door
    assert "backend = \"http\"" in dump_door_config(door)


# --- the page -----------------------------------------------------------------------------


@pytest.fixture
def page(ctx, qtbot):
    widget = SettingsPage(ctx)
    qtbot.addWidget(widget)
    widget.resize(1200, 740)
    with qtbot.waitSignal(widget.histogram_ready, timeout=WAIT_MS):
        widget.show()
    qtbot.waitUntil(lambda: widget.gallery_size is not None, timeout=WAIT_MS)
    return widget


def test_shows_the_settings_in_force(ctx, qtbot) -> None:
    ctx.settings = Settings(camera_source="rtsp://cam.local/stream", frames_to_confirm=4,
                            cooldown_s=2.5, accept_threshold=0.56, snapshot_policy="all",
                            retention_days_snapshots=14, door_name="Back door", unlock_ms=1500,
                            thresholds_model=confirm_model_id())
    widget = SettingsPage(ctx)
    qtbot.addWidget(widget)
    assert widget.camera_combo.currentText() == "rtsp://cam.local/stream"
    assert widget.frames_spin.value() == 4 and widget.cooldown_spin.value() == 2.5
    assert not widget.accept_default.isChecked() and widget.accept_spin.value() == 0.56
    assert widget.reject_default.isChecked() and not widget.reject_spin.isEnabled()
    assert widget.snapshot_combo.currentData() == "all"
    assert widget.keep_snapshots_spin.value() == 14
    assert widget.keep_events_spin.text() == "Keep forever"
    assert widget.door_name_edit.text() == "Back door" and widget.unlock_s_spin.value() == 1.5
    assert widget.backend_combo.currentData() == "simulated"
    assert not widget.dirty


def test_thresholds_set_for_the_previous_model_are_not_in_force(ctx, qtbot) -> None:
    """A settings file from before the confirming model holds thresholds on the search
    model's scale (0.96): shown as not in force, and dropped at the next save."""
    ctx.settings = Settings(accept_threshold=0.96, reject_threshold=0.95)
    assert ctx.confirm_thresholds().accept == CONFIRM_ACCEPT_THRESHOLD
    widget = SettingsPage(ctx)
    qtbot.addWidget(widget)
    assert widget.accept_default.isChecked() and widget.reject_default.isChecked()
    assert widget.form_settings().accept_threshold is None


def test_a_bad_value_is_shown_and_nothing_is_written(ctx, page, qtbot) -> None:
    page.camera_combo.setEditText("   ")
    with qtbot.waitSignal(page.save_failed):
        qtbot.mouseClick(page.save_button, Qt.MouseButton.LeftButton)
    assert page.message.kind == "error" and "Camera" in page.message.text()
    assert page.camera_combo.property("settingsError")
    assert not config.config_path().exists()
    assert ctx.settings == Settings()


def test_reject_above_accept_is_refused(page, qtbot) -> None:
    page.accept_default.setChecked(False)
    page.reject_default.setChecked(False)
    page.accept_spin.setValue(0.55)
    page.reject_spin.setValue(0.56)
    assert not page.save()
    assert "must not be above" in page.message.text()
    assert page.reject_spin.property("settingsError")
    page.reject_default.setChecked(True)  # the default reject (0.43...) <= 0.55: fine
    page.accept_spin.setValue(0.42)  # but now the default reject is above the accept
    assert not page.save()
    assert f"{CONFIRM_REJECT_THRESHOLD:.4f}" in page.message.text()


def test_serial_door_needs_a_port(page, qtbot) -> None:
    page.backend_combo.setCurrentIndex(page.backend_combo.findData("serial"))
    assert page.backend_stack.currentIndex() == 1
    page.serial_port_edit.clear()
    assert not page.save()
    assert "serial_port" in page.message.text() or "port" in page.message.text().lower()
    assert page.serial_port_edit.property("settingsError")
    assert not config.config_path().exists()
    page.serial_port_edit.setText("/dev/ttyUSB0")
    page.serial_open_edit.setText("A0 01 ZZ")
    assert not page.save()
    assert page.serial_open_edit.property("settingsError")


def test_save_writes_toml_and_applies_at_once(ctx, page, qtbot, models) -> None:
    recognition = ctx.recognition  # already in use (the door would hold it)
    page.camera_combo.setEditText("1")
    page.frames_spin.setValue(5)
    page.cooldown_spin.setValue(2.5)
    page.accept_default.setChecked(False)
    page.accept_spin.setValue(0.5600)
    page.snapshot_combo.setCurrentIndex(page.snapshot_combo.findData("all"))
    page.keep_snapshots_spin.setValue(30)
    page.door_name_edit.setText("Side door")
    page.backend_combo.setCurrentIndex(page.backend_combo.findData("http"))
    page.http_url_edit.setText("http://127.0.0.1:8080/door")
    assert page.dirty
    with qtbot.waitSignal(page.settings_changed) as blocker:
        assert page.save()
    saved = blocker.args[0]
    assert saved == ctx.settings == load_settings()
    assert (saved.camera_source, saved.frames_to_confirm, saved.cooldown_s,
            saved.accept_threshold, saved.reject_threshold, saved.snapshot_policy,
            saved.retention_days_snapshots, saved.retention_days_events, saved.door_name,
            saved.thresholds_model) == (
        "1", 5, 2.5, 0.56, None, "all", 30, None, "Side door", confirm_model_id())
    door = load_door_config()
    assert door.backend == "http" and door.http_url == "http://127.0.0.1:8080/door"
    # in force without a restart, for the model that decides
    assert recognition.confirm_thresholds.accept == 0.56
    assert page.message.kind == "success" and not page.dirty


def test_undo_changes(ctx, page) -> None:
    page.frames_spin.setValue(9)
    page.load()
    assert page.frames_spin.value() == ctx.settings.frames_to_confirm and not page.dirty


def test_score_plot_from_the_log(ctx, qtbot) -> None:
    with ctx.db.session() as s:
        door = repo.get_or_create_door(s, "Main").id
        ada = repo.create_employee(s, employee_number="E1", name="Ada").id
        now = datetime.now(UTC)
        for score in (0.61, 0.65, 0.70):
            repo.add_event(s, door_id=door, decision="granted", employee_id=ada, at=now,
                           score=score, model_id=confirm_model_id())
        for score in (0.20, 0.31):
            repo.add_event(s, door_id=door, decision="unknown", at=now, score=score,
                           model_id=confirm_model_id())
        # decided by the search model alone (another score scale): not on this plot
        repo.add_event(s, door_id=door, decision="granted", employee_id=ada, at=now,
                       score=0.97, model_id=embedder_model_id())
    widget = SettingsPage(ctx)
    qtbot.addWidget(widget)
    with qtbot.waitSignal(widget.histogram_ready, timeout=WAIT_MS):
        widget.show()
    assert sum(widget.histogram.genuine) == 3 and sum(widget.histogram.impostor) == 2
    assert widget.histogram.accept == pytest.approx(CONFIRM_ACCEPT_THRESHOLD)
    widget.accept_default.setChecked(False)
    widget.accept_spin.setValue(0.57)
    assert widget.histogram.accept == pytest.approx(0.57)  # the line follows the setting


def test_test_the_door(page, qtbot) -> None:
    page.unlock_s_spin.setValue(0.1)
    with qtbot.waitSignal(page.door_tested, timeout=WAIT_MS) as blocker:
        assert page.test_door()
    assert blocker.args[0].description.startswith("on-screen door")
    assert page.door_result.kind == "success" and "locked again" in page.door_result.text()

    page.backend_combo.setCurrentIndex(page.backend_combo.findData("serial"))
    page.serial_port_edit.setText("/dev/turnstile-no-such-port")
    with qtbot.waitSignal(page.door_tested, timeout=WAIT_MS) as blocker:
        page.test_door()
    assert isinstance(blocker.args[0], Exception)
    assert page.door_result.kind == "error" and "Traceback" not in page.door_result.text()
    assert page.test_door_button.isEnabled()


# --- while it is edited: the calibration dialog grows, crossed thresholds, plain rates ----


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


# --- 6. the door mode: 1:1 has its own threshold and rates ------------------------------


def _choose_door_mode(page: SettingsPage, key: str) -> None:
    """Pick "Who is it:" in the form (not saved)."""
    page.door_mode_combo.setCurrentIndex(page.door_mode_combo.findData(key))
    assert page.door_mode_combo.currentData() == key


def test_one_to_one_mode_shows_the_1to1_threshold_and_its_rates(ctx, qtbot, page) -> None:
    identify_rates = page.rates_label.text()
    assert f"At accept {CONFIRM_ACCEPT_THRESHOLD:.4f}" in identify_rates

    _choose_door_mode(page, "verify")
    verify = ctx.confirm_thresholds().verify  # what the door decides 1:1 claims against
    assert verify == CONFIRM_VERIFY_THRESHOLD
    text = _plain(page.rates_label.text())
    assert f"At the 1:1 threshold {verify:.4f}, with any number of people enrolled" in text
    # FAR 1e-3 and FRR 0.9 % per look at 0.3703 (README, "1:1 mode, any N")
    assert ("Someone giving another person's badge or number is let in on about 1 in 1,000 "
            "attempts (0.1 %)") in text
    assert "The person it belongs to is not recognised on about 1 in 110 looks (0.9 %)" in text
    assert f"{CONFIRM_ACCEPT_THRESHOLD:.4f}" not in text and "stranger" not in text.lower()
    assert "nobody enrolled" not in text
    model = load_score_model(confirm_model_id())
    assert page.expected.far == pytest.approx(float(model.far(verify)))
    assert page.expected.frr == pytest.approx(float(model.frr(verify)))
    tooltip = page.rates_label.toolTip()
    assert "FAR" in tooltip and "FRR" in tooltip and "FPIR" not in tooltip
    # The threshold in use, read-only; Accept and Reject said to be 1:N's.
    assert page.verify_value.isVisible()
    assert _plain(page.verify_value.text()) == (f"{verify:.4f}, the calibrated 1:1 default "
                                                "(not set on this page)")
    assert page.one_to_n_note.isVisible() and "apply to 1:N" in page.one_to_n_note.text()
    assert page.threshold_help.text().startswith("<b>1:1 threshold</b>")
    assert "1:1 threshold" in page.calibrate_button.toolTip()
    assert not config.config_path().exists() and page.dirty  # live, before saving

    _choose_door_mode(page, "identify")  # back: as it was
    assert page.rates_label.text() == identify_rates
    assert page.threshold_help.text() == THRESHOLD_HELP
    assert not page.verify_value.isVisible() and not page.one_to_n_note.isVisible()

    _choose_door_mode(page, "verify")
    _set_thresholds(qtbot, page, accept=0.60)  # a 1:N threshold: the 1:1 rates stay
    assert _plain(page.rates_label.text()) == text
    _choose_door_mode(page, "identify")
    assert "At accept 0.6000" in page.rates_label.text()


def test_the_1to1_threshold_shown_is_the_one_stored_for_the_door(ctx, qtbot) -> None:
    """Saved in 1:1 mode, with a 1:1 threshold stored for the deciding model: the page opens
    on the 1:1 figures of that threshold."""
    with ctx.db.session() as s:
        repo.set_threshold(s, confirm_model_id(), "verify", 0.4253)
    ctx.settings = Settings(door_mode="verify")
    widget = SettingsPage(ctx)
    qtbot.addWidget(widget)
    widget.resize(1200, 740)
    widget.show()
    qtbot.waitUntil(lambda: "0.4253" in widget.rates_label.text(), timeout=WAIT_MS)
    assert ctx.confirm_thresholds().verify == 0.4253
    assert widget.verify_value.isVisible() and "0.4253" in widget.verify_value.text()
    text = _plain(widget.rates_label.text())
    assert "let in on about 1 in 10,000 attempts" in text  # FAR 1e-4 at 0.4253
    assert "not recognised on about 2 % of looks (1 in 58)" in text  # FRR 1.7 %
