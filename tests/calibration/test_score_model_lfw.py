"""The shipped score model still describes the pipeline: fresh LFW pairs, embedded now with
the real models, score the way the model says (skips without ../shared/data)."""

from __future__ import annotations

import math

import numpy as np

from turnstile.evaluation.lfw import _subset, embed_central_faces, read_pairs
from turnstile.services.calibration import ScoreModel

PAIRS_PER_HALF = 15
"""x 10 folds: 150 same-person and 150 different-person pairs of LFW View-2."""


def _band(p: float, n: int) -> float:
    return 4 * math.sqrt(p * (1 - p) / n) + 1 / n  # 4 sigma: fails on a real change only


def test_fresh_lfw_pairs_score_as_the_model_says(shared_data, pipeline,
                                                 score_model: ScoreModel) -> None:
    pairs = _subset(read_pairs(shared_data / "lfw"), PAIRS_PER_HALF)
    paths = sorted({p.left for p in pairs} | {p.right for p in pairs})
    index = {p: i for i, p in enumerate(paths)}
    emb, _, _ = embed_central_faces(pipeline, paths, "LFW check")
    scores = np.array([float(emb[index[p.left]] @ emb[index[p.right]]) for p in pairs])
    same = np.array([p.same for p in pairs])
    genuine, impostor = scores[same], scores[~same]
    assert len(genuine) == len(impostor) == 10 * PAIRS_PER_HALF

    for t in (0.94, 0.9568, 0.965):  # around the genuine median
        expected = float(score_model.frr(t))
        assert abs(np.mean(genuine < t) - expected) <= _band(expected, len(genuine)), t
    for t in (0.84, 0.88, 0.91):  # the impostor body: FAR ~0.5, ~0.1, ~0.01
        expected = float(score_model.far(t))
        assert abs(np.mean(impostor >= t) - expected) <= _band(expected, len(impostor)), t
