"""(k) Settings: folders, TOML round trip, validation naming the bad key, atomic writes."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest

from turnstile import config
from turnstile.config import Settings, SettingsError, load_settings, save_settings


def test_turnstile_home_overrides_both_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TURNSTILE_HOME", str(tmp_path))
    assert config.data_dir() == tmp_path
    assert config.config_path() == tmp_path / "config.toml"
    database_file = (tmp_path / "turnstile.db").resolve()
    assert config.default_database_url() == f"sqlite:///{database_file.as_posix()}"
    assert Settings().effective_database_url() == config.default_database_url()
    assert Settings(database_url="postgresql://h/db").effective_database_url() == "postgresql://h/db"


def test_platform_folders_without_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TURNSTILE_HOME", raising=False)
    assert config.data_dir().name == "turnstile"
    assert config.config_path().parent.name == "turnstile"


def test_missing_file_gives_defaults(tmp_path: Path) -> None:
    assert load_settings(tmp_path / "absent.toml") == Settings()
    assert load_settings() == Settings()  # TURNSTILE_HOME is a fresh folder (tests/conftest.py)


def test_round_trip(tmp_path: Path) -> None:
    original = Settings(
        database_url="sqlite:///C:/Users/Zoë/turnstile.db",
        camera_source="rtsp://user@cam.local:554/stream?x=1",
        door_name='Entrée "Nord" \\ Bâtiment\tB',
        snapshot_policy="all",
        accept_threshold=0.3631,
        reject_threshold=None,
        frames_to_confirm=5,
        cooldown_s=2.5,
        unlock_ms=1500,
    )
    path = save_settings(original, tmp_path / "nested" / "config.toml")
    assert load_settings(path) == original
    assert "\nreject_threshold" not in path.read_text(encoding="utf-8")  # None is left out
    assert sorted(p.name for p in path.parent.iterdir()) == ["config.toml"]  # no temp left
    save_settings(dataclasses.replace(original, unlock_ms=2000), path)  # replaces in place
    assert load_settings(path).unlock_ms == 2000


def test_integer_accepted_for_float_keys(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("cooldown_s = 5\naccept_threshold = 1\n", encoding="utf-8")
    loaded = load_settings(path)
    assert loaded.cooldown_s == 5.0 and isinstance(loaded.cooldown_s, float)
    assert loaded.accept_threshold == 1.0


@pytest.mark.parametrize(("line", "key"), [
    ('snapshot_policy = "sometimes"', "snapshot_policy"),
    ("frames_to_confirm = 0", "frames_to_confirm"),
    ("frames_to_confirm = 2.5", "frames_to_confirm"),
    ("frames_to_confirm = true", "frames_to_confirm"),
    ('cooldown_s = "fast"', "cooldown_s"),
    ("cooldown_s = -1.0", "cooldown_s"),
    ("cooldown_s = nan", "cooldown_s"),
    ("unlock_ms = 0", "unlock_ms"),
    ("unlock_ms = 3600000", "unlock_ms"),
    ('accept_threshold = "high"', "accept_threshold"),
    ("reject_threshold = inf", "reject_threshold"),
    ('door_name = "   "', "door_name"),
    ("camera_source = 0", "camera_source"),
    ('database_url = ""', "database_url"),
])
def test_bad_value_names_the_key(tmp_path: Path, line: str, key: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(line + "\n", encoding="utf-8")
    with pytest.raises(SettingsError, match=key) as info:
        load_settings(path)
    assert info.value.key == key
    assert isinstance(info.value, ValueError)
    assert str(path) in str(info.value)


def test_invalid_toml(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("door_name = \n", encoding="utf-8")
    with pytest.raises(ValueError, match="not valid TOML"):
        load_settings(path)


def test_unknown_key_is_ignored_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "config.toml"
    path.write_text('door_name = "Back"\nfuture_option = 1\n', encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="turnstile.config"):
        assert load_settings(path) == Settings(door_name="Back")
    assert "future_option" in caplog.text


def test_invalid_settings_cannot_be_built_or_saved(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="unlock_ms"):
        Settings(unlock_ms=-5)
    with pytest.raises(SettingsError, match="snapshot_policy"):
        dataclasses.replace(Settings(), snapshot_policy="most")  # type: ignore[arg-type]
    assert not (tmp_path / "config.toml").exists()
