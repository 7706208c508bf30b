"""Calibration from a site's own access log (a real SQLite file): what the log can tell,
what it cannot, and refusing to guess from too little."""

from __future__ import annotations

import numpy as np
import pytest

from turnstile.resources import embedder_model_id
from turnstile.services import calibration as cal
from turnstile.services.calibration import CalibrationError, ScoreModel

PEOPLE = 50
ACCEPT = 0.9539


def sample_genuine(model: ScoreModel, n: int, rng: np.random.Generator) -> np.ndarray:
    """Scores drawn from the model's same-person histogram (uniform within a bin)."""
    p = model.genuine_hist / model.genuine_hist.sum()
    k = rng.choice(len(p), size=n, p=p)
    return model.low + (k + rng.random(n)) * model.bin_width


def sample_best_of(model: ScoreModel, n_people: int, n: int, rng: np.random.Generator
                   ) -> np.ndarray:
    """Best-match scores of ``n`` strangers against ``n_people``: the inverse of
    ``(1 - FAR(s)) ** N`` on a fine grid."""
    grid = np.linspace(model.low, 1.0, 20001)
    cdf = np.exp(n_people * np.log1p(-np.clip(model.far(grid), 0, 1 - 1e-12)))
    return np.interp(rng.random(n), cdf, grid)


def _fill(model, add_scored_events, genuine_shift: float, stranger_shift: float,
          n: int = 250, seed: int = 3) -> None:
    rng = np.random.default_rng(seed)
    genuine = sample_genuine(model, 4 * n, rng) + genuine_shift
    add_scored_events("granted", genuine[genuine >= ACCEPT][:n], ACCEPT)
    strangers = sample_best_of(model, PEOPLE, 4 * n, rng) + stranger_shift
    cut = ACCEPT - cal.GREY_ZONE_GUARD
    add_scored_events("unknown", strangers[strangers < cut][:n], ACCEPT)


@pytest.mark.parametrize(("g_shift", "i_shift"), [(0.0, 0.0), (-0.01, 0.015)])
def test_the_site_shift_is_recovered(ctx, score_model, add_scored_events, g_shift,
                                     i_shift) -> None:
    _fill(score_model, add_scored_events, g_shift, i_shift)
    evidence = cal.site_evidence(ctx.db, embedder_model_id())
    assert len(evidence.genuine) == 250 and len(evidence.strangers) == 250
    model, g, i = cal.site_score_model(score_model, evidence, PEOPLE)
    assert g == pytest.approx(g_shift, abs=0.004)
    assert i == pytest.approx(i_shift, abs=0.004)
    # Strangers who look more alike at this site need a stricter threshold.
    site = cal.propose_thresholds(1e-3, PEOPLE, model)
    lfw = cal.propose_thresholds(1e-3, PEOPLE, score_model)
    if i_shift > 0:
        assert site.accept > lfw.accept + 0.01
        assert site.source == "site"


def test_the_log_never_loosens_the_threshold(ctx, score_model, add_scored_events) -> None:
    # Strangers scoring LOWER than on LFW: could be the censoring, so no credit is given.
    _fill(score_model, add_scored_events, 0.0, -0.02)
    evidence = cal.site_evidence(ctx.db, embedder_model_id())
    model, _, i = cal.site_score_model(score_model, evidence, PEOPLE)
    assert i == 0.0
    assert cal.propose_thresholds(1e-3, PEOPLE, model).accept \
        == cal.propose_thresholds(1e-3, PEOPLE, score_model).accept


def test_too_few_events_are_refused_with_the_counts(ctx, score_model,
                                                    add_scored_events) -> None:
    _fill(score_model, add_scored_events, 0.0, 0.0, n=150)
    evidence = cal.site_evidence(ctx.db, embedder_model_id())
    with pytest.raises(CalibrationError) as caught:
        cal.site_score_model(score_model, evidence, PEOPLE)
    text = str(caught.value)
    assert "150 recognised faces (needs 200)" in text and "--from lfw" in text


def test_other_models_old_events_and_high_unknowns_are_ignored(ctx, score_model,
                                                               add_scored_events) -> None:
    add_scored_events("granted", [0.97] * 5, ACCEPT, model_id="old_model@1/x")
    add_scored_events("granted", [0.97] * 3, ACCEPT, days_ago=200)
    add_scored_events("granted", [0.97] * 2, ACCEPT)
    add_scored_events("unknown", [0.80, 0.95], ACCEPT)  # 0.95: above the censoring cut
    evidence = cal.site_evidence(ctx.db, embedder_model_id())
    assert evidence.genuine.tolist() == [0.97, 0.97]
    assert evidence.strangers.tolist() == [0.80]


def test_a_log_of_another_model_is_refused(ctx, score_model, add_scored_events) -> None:
    rng = np.random.default_rng(1)
    add_scored_events("granted", rng.uniform(0.60, 0.62, 210), 0.55)
    add_scored_events("unknown", rng.uniform(0.30, 0.40, 210), 0.55)
    evidence = cal.site_evidence(ctx.db, embedder_model_id())
    with pytest.raises(CalibrationError, match="do not look like"):
        cal.site_score_model(score_model, evidence, PEOPLE)
