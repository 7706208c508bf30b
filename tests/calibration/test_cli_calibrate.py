"""``turnstile calibrate`` through the real command line, on a real SQLite file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from turnstile import cli, cli_calibrate
from turnstile.app import AppContext
from turnstile.matching.policy import CONFIRM_ACCEPT_THRESHOLD
from turnstile.resources import confirm_model_id
from turnstile.storage import repositories as repo

KEYS = {"gallery_size", "target_fpir", "accept_threshold", "reject_threshold",
        "expected_fpir", "expected_fnir", "source"}


@pytest.fixture
def db_url(tmp_path: Path, add_people) -> str:
    add_people(120)
    add_people(30, status="suspended")  # not compared with anyone: not counted
    return "sqlite:///" + str(tmp_path / "t.db")


def run_json(capsys, *argv: str) -> dict:
    assert cli.run(list(argv)) == cli.EXIT_OK
    return json.loads(capsys.readouterr().out)


def test_proposes_for_the_people_enrolled(db_url: str, capsys) -> None:
    data = run_json(capsys, "--db", db_url, "calibrate", "--json", "--target-fpir", "1e-3")
    assert KEYS <= set(data)
    assert data["gallery_size"] == 120 and data["source"] == "lfw"
    assert data["expected_fpir"] <= 1e-3
    assert data["reject_threshold"] < data["accept_threshold"]
    assert data["expected_fpir_10x"] > 5 * data["expected_fpir"]
    assert data["applied"] is False
    # A looser target gives a lower threshold and fewer misses.
    loose = run_json(capsys, "--db", db_url, "calibrate", "--json", "--target-fpir", "1e-2")
    assert loose["accept_threshold"] < data["accept_threshold"]
    assert loose["expected_fnir"] < data["expected_fnir"]


def test_text_output_names_the_figures(db_url: str, capsys) -> None:
    assert cli.run(["--db", db_url, "calibrate"]) == cli.EXIT_OK
    out, err = capsys.readouterr()
    assert "People enrolled (active): 120" in out
    assert "accept threshold" in out and "expected FNIR" in out
    assert "With 10x the people (1,200)" in out
    assert "Add --apply" in err


def test_apply_stores_and_reset_undoes(db_url: str, capsys, ctx: AppContext) -> None:
    data = run_json(capsys, "--db", db_url, "calibrate", "--json", "--apply")
    assert data["applied"] is True
    model_id = confirm_model_id()  # the model that decides at the door (the cascade)
    with ctx.db.session() as s:
        assert repo.get_thresholds(s, model_id) == {"accept": data["accept_threshold"],
                                                    "reject": data["reject_threshold"]}
        row = repo.get_threshold(s, model_id, "accept")
        assert row is not None and row.target_far == 1e-3
        assert row.source.startswith("turnstile calibrate --from lfw, 120 people")
    assert ctx.confirm_thresholds().accept == data["accept_threshold"]  # in force
    capsys.readouterr()
    assert cli.run(["--db", db_url, "calibrate", "--reset"]) == cli.EXIT_OK
    assert "Removed the stored accept and reject" in capsys.readouterr().err
    with ctx.db.session() as s:
        assert repo.get_thresholds(s, model_id) == {}
    assert ctx.confirm_thresholds().accept == CONFIRM_ACCEPT_THRESHOLD


def test_apply_says_how_to_undo(db_url: str, capsys) -> None:
    assert cli.run(["--db", db_url, "calibrate", "--apply"]) == cli.EXIT_OK
    err = capsys.readouterr().err
    assert "was: the shipped defaults" in err and "To undo: turnstile calibrate --reset" in err


@pytest.mark.parametrize("target", ["0", "1.5", "nan"])
def test_a_bad_target_is_an_error(db_url: str, capsys, target: str) -> None:
    assert cli.run(["--db", db_url, "calibrate", "--target-fpir", target]) == cli.EXIT_ERROR
    assert "between 0 and 1" in capsys.readouterr().err


def test_site_needs_enough_events(db_url: str, capsys) -> None:
    assert cli.run(["--db", db_url, "calibrate", "--from", "site"]) == cli.EXIT_ERROR
    err = capsys.readouterr().err
    assert "Too few scores" in err and "needs 200" in err


def test_admins_only() -> None:
    assert cli_calibrate.ROLES == {("calibrate",): "admin"}
    assert set(cli_calibrate.HANDLERS) == set(cli_calibrate.ROLES)
    assert "turnstile.cli_calibrate" in cli._EXTENSIONS
