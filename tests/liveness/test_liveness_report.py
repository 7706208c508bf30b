"""``turnstile eval liveness``: the figures it reports follow ISO/IEC 30107-3, its command
line parses, and a wrong data folder gets a clear error."""

from __future__ import annotations

import argparse
import json

import pytest

from turnstile.errors import TurnstileError
from turnstile.evaluation.liveness import (
    DEFAULT_DATA_DIR,
    LivenessReport,
    StreamResult,
    add_liveness_parser,
    build_streams,
    run_liveness_eval,
)


def _result(name, kind, split, state, decision_s=1.0, reason="", mode="passive"):
    return StreamResult(name=name, kind=kind, split=split, mode=mode, state=state,
                        decision_s=decision_s, reason=reason)


@pytest.fixture
def report():
    rows = [
        _result("genuine/selfie_blinks/full", "genuine", "held_out", "live", 1.5),
        _result("g1", "genuine", "held_out", "live", 3.5),
        _result("g2", "genuine", "held_out", "spoof", 6.0, "No blink in 6 s: ..."),
        _result("g3", "genuine", "tuning", "live", 1.0),
        # held-out attacks: 1 of 4 prints passes, no screen passes
        *[_result(f"p{i}", "print", "held_out", "spoof", 6.0, "No blink in 6 s") for i in
          range(3)],
        _result("p3", "print", "held_out", "live", 2.0),
        _result("s0", "screen", "held_out", "spoof", 0.5, "A screen's pixel pattern (moire)"),
        _result("s1", "screen", "held_out", "pending", None, "Checking"),
        # tuning attacks
        _result("r0", "replay", "tuning", "spoof", 0.5, "A screen's pixel pattern (moire)"),
    ]
    return LivenessReport(rows, "/data", ["people/x.jpg"], 12.0, 1000)


def test_apcer_is_per_species_and_the_headline_is_the_worst(report):
    held = report.summary("passive", "held_out")
    assert held["attacks"]["print"]["apcer"] == pytest.approx(0.25)
    assert held["attacks"]["screen"]["apcer"] == 0.0
    assert held["apcer"] == pytest.approx(0.25)
    assert held["apcer_pooled"] == pytest.approx(1 / 6)
    # an attack still undecided when its stream ended (here: no face ever found) was not
    # accepted
    assert held["attacks"]["screen"]["reasons"] == {"moire pattern": 1, "no face detected": 1}
    assert "replay" not in held["attacks"]


def test_bpcer_counts_genuine_windows_not_accepted(report):
    genuine = report.summary("passive", "held_out")["genuine"]
    assert genuine["n"] == 3 and genuine["accepted"] == 2
    assert genuine["bpcer"] == pytest.approx(1 / 3)
    assert genuine["accepted_within_3s"] == 1
    assert genuine["median_accept_s"] == pytest.approx(2.5)
    assert genuine["refusals"] == {"no sign of life (timeout)": 1}


def test_json_has_the_keys_the_issue_asks_for(report):
    data = json.loads(json.dumps(report.to_json()))
    assert {"apcer", "bpcer", "attacks", "genuine"} <= data.keys()
    assert data["apcer"] == pytest.approx(0.25)
    assert data["selfie_blinks"]["accepted_within_3s"] is True
    assert set(data["splits"]["passive"]) == {"tuning", "held_out"}
    assert data["splits"]["passive"]["tuning"]["attacks"]["replay"]["apcer"] == 0.0
    text = report.to_text()
    assert "held_out" in text and "tuning" in text and "APCER" in text
    assert "people/x.jpg" in text  # skipped sources are named, not hidden


def test_the_command_line_defaults_to_the_shared_data_folder():
    parser = argparse.ArgumentParser()
    add_liveness_parser(parser.add_subparsers(dest="eval_verb"))
    args = parser.parse_args(["liveness"])
    assert args.data_dir == DEFAULT_DATA_DIR and not args.json and args.mode == "both"
    args = parser.parse_args(["liveness", "--json", "--quick", "--mode", "passive", "/x"])
    assert str(args.data_dir) == "/x" and args.json and args.quick


def test_a_folder_without_the_genuine_video_is_refused_clearly(tmp_path):
    with pytest.raises(TurnstileError, match="selfie_blinks.mp4"):
        build_streams(tmp_path)
    args = argparse.Namespace(data_dir=tmp_path, json=True, quick=True, mode="passive")
    with pytest.raises(TurnstileError, match="shared data folder"):
        run_liveness_eval(args)
