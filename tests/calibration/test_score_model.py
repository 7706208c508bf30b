"""The shipped score model and the rates worked out from it: the figures a security officer
signs off on must move the right way, meet the target they were chosen for, and err on the
side of more false accepts where the data run out."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from turnstile import resources
from turnstile.errors import ModelFileError
from turnstile.resources import embedder_model_id
from turnstile.services import calibration as cal
from turnstile.services.calibration import (
    CalibrationError,
    ScoreModel,
    expected_rates,
    propose_thresholds,
    threshold_for_fpir,
)


def test_the_shipped_model_belongs_to_the_shipped_embedder(score_model: ScoreModel) -> None:
    assert score_model.model_id == embedder_model_id()
    assert score_model.images == 7701 and score_model.identities == 4281
    assert score_model.genuine_pairs == 8101
    assert score_model.impostor_pairs == 7701 * 7700 // 2 - 8101


def test_the_file_holds_counts_only() -> None:
    path = resources.model_path(resources.SCORE_MODEL)
    text = path.read_text(encoding="utf-8")
    data = json.loads(text)
    assert set(data) == {"format", "model_id", "dataset", "created", "recipe", "images",
                         "identities", "grid", "genuine", "impostor", "checks"}
    # No names (LFW identities) and nothing the size of an embedding.
    for name in ("George_W_Bush", "Tony_Blair", "Gabrielle_Rose"):
        assert name not in text
    assert len(text) < 100_000


def test_error_rates_move_the_right_way(score_model: ScoreModel) -> None:
    t = np.linspace(0.90, 0.99, 91)
    far, frr = score_model.far(t), score_model.frr(t)
    assert np.all(np.diff(far) <= 0) and far[0] > far[-1]
    assert np.all(np.diff(frr) >= 0) and frr[0] < frr[-1]
    fnir = [score_model.fnir(x, 100) for x in t]
    assert np.all(np.diff(fnir) >= -1e-12)
    # More people: more false accepts and more misses at the same threshold.
    fpirs = [float(score_model.fpir(0.95, n)) for n in (1, 10, 100, 1000)]
    fnirs = [score_model.fnir(0.95, n) for n in (1, 10, 100, 1000)]
    assert fpirs == sorted(fpirs) and fpirs[0] < fpirs[-1]
    assert fnirs == sorted(fnirs) and fnirs[0] < fnirs[-1]


def test_fpir_is_the_chance_that_any_of_n_people_matches(score_model: ScoreModel) -> None:
    far = float(score_model.far(0.96))
    for n in (1, 10, 1000, 100_000):
        assert float(score_model.fpir(0.96, n)) == pytest.approx(1 - (1 - far) ** n, rel=1e-9)
    assert float(score_model.fpir(0.96, 10)) == pytest.approx(10 * far, rel=0.01)


def test_measured_figures_match_the_histograms(score_model: ScoreModel) -> None:
    # The LFW View-2 threshold of the policy (FAR 1e-3 on the 3,000 different-person pairs
    # of pairs.txt) gives about that FAR on all 29.6 million pairs too.
    assert 3e-4 < float(score_model.far(0.9289)) < 3e-3
    # Half the same-person pairs score below their median (0.957 on LFW).
    assert float(score_model.frr(0.9568)) == pytest.approx(0.5, abs=0.02)


def test_the_tail_never_claims_fewer_false_accepts_than_seen(score_model: ScoreModel) -> None:
    top = score_model.impostor_top
    for k in (0, 1, 5, 29, 296, 2000, 4999):
        seen = (k + 1) / score_model.impostor_pairs
        assert float(score_model.far(top[k])) >= seen * (1 - 1e-9)
    # Beyond every pair seen, the exponential tail still gives a (tiny) false accept rate.
    beyond = float(score_model.far(top[0] + 0.001))
    assert 0 < beyond < 1 / score_model.impostor_pairs


def test_the_shipped_checks_show_the_model_errs_strict(score_model: ScoreModel) -> None:
    checks = json.loads(resources.model_path(resources.SCORE_MODEL).read_text())["checks"]
    assert checks["gallery_size"] == 1559 and checks["strangers"] == 2722
    for row in checks["at"]:
        assert row["predicted_fpir"] >= row["measured_fpir"]
        assert row["predicted_fnir"] == pytest.approx(row["measured_fnir"], abs=0.05)
        # And the code reproduces what the file says.
        rates = expected_rates(row["threshold"], 1559, score_model, min_margin=0.0)
        assert rates.fpir == pytest.approx(row["predicted_fpir"], abs=1e-5)


@pytest.mark.parametrize("size", [1, 10, 100, 1000, 10_000])
@pytest.mark.parametrize("target", [1e-2, 1e-3, 1e-4])
def test_threshold_for_fpir_meets_the_target(score_model: ScoreModel, size: int,
                                             target: float) -> None:
    t = threshold_for_fpir(target, size, score_model)
    assert float(score_model.fpir(t, size)) <= target * (1 + 1e-9)
    # ...and is the lowest that does: a little lower lets in more strangers than allowed.
    assert float(score_model.fpir(t - 0.002, size)) > target


def test_more_people_need_a_stricter_threshold(score_model: ScoreModel) -> None:
    ts = [threshold_for_fpir(1e-3, n, score_model) for n in (1, 10, 100, 1000, 10_000)]
    assert ts == sorted(ts) and ts[-1] - ts[0] > 0.03


def test_proposal_rounds_to_the_safe_side(score_model: ScoreModel) -> None:
    p = propose_thresholds(1e-3, 250, score_model)
    assert p.accept == round(p.accept, 4) and p.reject == round(p.reject, 4)
    assert p.reject < p.accept
    assert p.at_size.fpir <= 1e-3
    assert p.at_10x.fpir == pytest.approx(10 * p.at_size.fpir, rel=0.1)
    assert p.at_10x.fnir >= p.at_size.fnir
    assert p.verify_threshold < p.accept  # one comparison needs less than 250
    data = p.to_json()
    assert {"gallery_size", "target_fpir", "accept_threshold", "reject_threshold",
            "expected_fpir", "expected_fnir", "source"} <= set(data)


def test_nobody_enrolled(score_model: ScoreModel) -> None:
    rates = expected_rates(0.95, 0, score_model)
    assert rates.fpir == 0.0 and rates.fnir == 1.0
    p = propose_thresholds(1e-3, 0, score_model)
    assert p.gallery_size == 0 and p.accept == propose_thresholds(1e-3, 1, score_model).accept


@pytest.mark.parametrize("target", [0.0, 1.0, -0.1, 2.0, math.nan, math.inf])
def test_bad_targets_are_refused(score_model: ScoreModel, target: float) -> None:
    with pytest.raises(CalibrationError, match="between 0 and 1"):
        threshold_for_fpir(target, 10, score_model)


def test_negative_gallery_is_refused(score_model: ScoreModel) -> None:
    with pytest.raises(CalibrationError, match="negative"):
        expected_rates(0.95, -1, score_model)


def test_a_score_model_of_another_face_model_is_refused() -> None:
    with pytest.raises(CalibrationError) as caught:
        cal.load_score_model("another_model@123/x")
    assert "another_model@123/x" in str(caught.value)
    assert "make_score_model.py" in str(caught.value)


def test_a_damaged_file_is_refused(tmp_path: Path) -> None:
    good = resources.model_path(resources.SCORE_MODEL)
    copy = tmp_path / good.name
    shutil.copy(good, copy)
    copy.write_text(copy.read_text().replace('"bins":1000', '"bins":999'))
    with pytest.raises(ModelFileError, match="sha256"):
        resources.model_path(resources.SCORE_MODEL, root=tmp_path)
    with pytest.raises(CalibrationError, match="inconsistent"):
        cal.load_score_model(path=copy)
    copy.write_text("{not json")
    with pytest.raises(CalibrationError, match="cannot be read"):
        cal._load.__wrapped__(copy)


def test_score_model_data_from_embeddings() -> None:
    # 200 people x 4 photos around a personal centre: the recipe the installer runs on LFW.
    rng = np.random.default_rng(7)
    centres = rng.normal(size=(200, 128))
    emb = np.repeat(centres, 4, axis=0) + rng.normal(scale=0.35, size=(800, 128))
    emb = (emb / np.linalg.norm(emb, axis=1, keepdims=True)).astype(np.float32)
    # Shift everything towards one direction so scores land in the model's grid.
    common = np.ones(128) / math.sqrt(128)
    emb = emb * 0.3 + common * 0.95
    emb = (emb / np.linalg.norm(emb, axis=1, keepdims=True)).astype(np.float32)
    ids = [f"secret_name_{i // 4}" for i in range(800)]
    data = cal.score_model_data(emb, ids, "m@1/x", dataset="synthetic", created="2026-01-01")
    assert "secret_name" not in json.dumps(data)
    model = ScoreModel.from_json(data)
    assert model.genuine_pairs == 200 * 6
    assert model.impostor_pairs == 800 * 799 // 2 - 1200
    assert model.identities == 200
    # Same-person pairs score higher than different-person pairs.
    assert float(model.frr(0.97)) < 0.5 < 1 - float(model.far(0.97))


def test_the_cascade_misses_fewer_with_a_longer_shortlist(score_model: ScoreModel) -> None:
    """The first stage of the cascade: with one candidate it is the search model's rank-1
    miss (the 1:N formula with no threshold and no margin); every extra candidate helps;
    with fewer people than candidates nobody is left off."""
    one = cal.search_miss(1559, score_model, 1)
    assert one == pytest.approx(score_model.fnir(score_model.low, 1559, 0.0))
    misses = [cal.search_miss(1559, score_model, k) for k in (1, 3, 5, 10)]
    assert misses == sorted(misses, reverse=True) and misses[-1] < misses[0] / 4
    assert cal.search_miss(4, score_model, 5) == 0.0
    assert cal.search_miss(10_000, score_model, 5) > cal.search_miss(100, score_model, 5)


def test_the_cascades_rates_combine_both_models(score_model: ScoreModel) -> None:
    confirm = cal.load_score_model(resources.confirm_model_id())
    rates = cal.expected_rates(0.4958, 1559, confirm, 0.0, score_model)
    miss = cal.search_miss(1559, score_model)
    assert rates.fnir == pytest.approx(1 - (1 - miss) * (1 - rates.frr))
    assert rates.fpir == pytest.approx(float(confirm.fpir(0.4958, 1559)))  # the bound
    # measured on the LFW open set at this threshold: 6.1 % of probes missed, 0.70 % of
    # strangers accepted (the bound says at most 0.94 %)
    assert 0.04 < rates.fnir < 0.10 and rates.fpir < 0.0100
