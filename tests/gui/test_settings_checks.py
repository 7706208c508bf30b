"""The Settings page's access checks: 1:N or 1:1, liveness mode, spoof lockout and login
limits are shown, validated and saved (offscreen, real settings file)."""

from __future__ import annotations

from turnstile.app import AppContext
from turnstile.config import Settings, load_settings
from turnstile.gui.settings_page import SettingsPage


def test_access_checks_are_saved(qtbot, tmp_path):
    ctx = AppContext(Settings(liveness_mode="passive"),
                     database_url="sqlite:///" + str(tmp_path / "s.db"))
    page = SettingsPage(ctx)
    qtbot.addWidget(page)
    page.show()
    assert page.liveness_combo.currentData() == "passive"
    assert page.door_mode_combo.currentData() == "identify"
    page.door_mode_combo.setCurrentIndex(page.door_mode_combo.findData("verify"))
    page.liveness_combo.setCurrentIndex(page.liveness_combo.findData("challenge"))
    page.spoof_attempts_spin.setValue(5)
    page.spoof_lockout_spin.setValue(30)
    page.idle_logout_spin.setValue(7)
    saved = []
    page.settings_changed.connect(saved.append)
    assert page.save()
    stored = load_settings()
    assert (stored.door_mode, stored.liveness_mode) == ("verify", "challenge")
    assert (stored.spoof_max_attempts, stored.spoof_lockout_min) == (5, 30.0)
    assert stored.idle_logout_min == 7
    assert saved and saved[-1].liveness_mode == "challenge"
    ctx.close()
