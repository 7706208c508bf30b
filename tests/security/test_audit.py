"""The audit trail on a real SQLite file: filters, CSV export, settings changes, and hostile
text kept as text."""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from turnstile.app import AppContext
from turnstile.config import Settings
from turnstile.services.audit import AuditExportError, AuditFilter
from turnstile.services.auth import CurrentUser


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[AppContext]:
    context = AppContext(Settings(), database_url=f"sqlite:///{tmp_path / 'a.db'}")
    yield context
    context.close()


def test_settings_changes_are_audited_with_old_and_new_values(ctx: AppContext) -> None:
    ctx.current_user = CurrentUser(1, "boss", "admin")
    ctx.apply_settings(dataclasses.replace(ctx.settings, door_name="Back door", unlock_ms=4000,
                                           accept_threshold=0.6))
    ctx.apply_settings(dataclasses.replace(
        ctx.settings, database_url="postgresql://turnstile:s3cret-pw@db/turnstile"))
    ctx.apply_settings(ctx.settings)  # nothing changed: nothing recorded
    entries = ctx.audit_trail.query(AuditFilter(actions=("settings_change",)),
                                    newest_first=False)
    assert [e.actor for e in entries] == ["boss", "boss"]
    assert "door_name: 'Main entrance' -> 'Back door'" in entries[0].detail
    assert "unlock_ms: 3000 -> 4000" in entries[0].detail
    assert "accept_threshold: default -> 0.6" in entries[0].detail  # not "None"
    assert entries[1].detail == "database_url changed"  # the URL may hold a password
    assert "s3cret" not in entries[1].detail


def test_filters_and_literal_search(ctx: AppContext) -> None:
    ctx.current_user = CurrentUser(1, "boss", "admin")
    ctx.audit("edit", "employee 100%_done", "desktop app")
    ctx.audit("edit", "employee 100X", "desktop app")
    ctx.current_user = CurrentUser(2, "desk", "front_desk")
    ctx.audit("permission_denied", "page Settings", "needs admin", success=False)
    trail = ctx.audit_trail
    assert [e.target for e in trail.query(AuditFilter(text="100%_"))] == ["employee 100%_done"]
    assert trail.count(AuditFilter(text="100")) == 2
    assert [e.actor for e in trail.query(AuditFilter(success=False))] == ["desk"]
    assert trail.count(AuditFilter(actor="boss", actions=("edit",))) == 2
    assert trail.actors() == ["boss", "desk"]


HOSTILE = [
    "'; DROP TABLE audit_entries; --",
    "=HYPERLINK(\"http://evil.example\",\"click\")",
    "+1+1",
    "@SUM(A1:A9)",
    "line one\nline two, with \"quotes\"",
    "名前 Ünïcödé",
]


def test_csv_export_keeps_hostile_text_harmless(ctx: AppContext, tmp_path: Path) -> None:
    ctx.current_user = CurrentUser(1, "boss", "admin")
    for text in HOSTILE:
        ctx.audit("edit", text, text)
    target = tmp_path / "audit.csv"
    assert ctx.audit_trail.export_csv(target) == len(HOSTILE)
    with target.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["target"] for r in rows] == [
        "'; DROP TABLE audit_entries; --",
        "'=HYPERLINK(\"http://evil.example\",\"click\")",
        "'+1+1",
        "'@SUM(A1:A9)",
        "line one\nline two, with \"quotes\"",
        "名前 Ünïcödé",
    ]
    assert all(r["actor"] == "boss" and r["success"] == "yes" for r in rows)
    assert rows[0]["time_utc"].endswith("+00:00")
    # Still stored verbatim, and the table is still there.
    assert [e.target for e in ctx.audit_trail.query(newest_first=False)] == HOSTILE


def test_failed_export_leaves_nothing_behind(ctx: AppContext, tmp_path: Path) -> None:
    ctx.audit("login", "boss")
    with pytest.raises(AuditExportError, match="does not exist"):
        ctx.audit_trail.export_csv(tmp_path / "missing" / "audit.csv")
    occupied = tmp_path / "audit.csv"
    occupied.mkdir()  # a folder where the file should go: the rename fails
    (occupied / "keep.txt").write_text("kept")
    with pytest.raises(AuditExportError, match="Cannot write"):
        ctx.audit_trail.export_csv(occupied)
    assert (occupied / "keep.txt").read_text() == "kept"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".audit.csv")]


def test_long_details_are_cut_not_refused(ctx: AppContext) -> None:
    record = ctx.audit("import", "x" * 1000, "y" * 10_000)
    assert record is not None
    assert len(record.target) == 255 and record.target.endswith("…")
    assert len(record.detail) == 2000
