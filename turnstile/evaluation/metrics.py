"""Verification metrics (pure numpy): k-fold accuracy, ROC, AUC, TAR at FAR."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Scores = npt.NDArray[np.float64]


def best_threshold(scores: Scores, same: npt.NDArray[np.bool_]) -> float:
    """The threshold ``t`` maximising the accuracy of ``score >= t`` -> same person.

    Every midpoint between consecutive sorted scores is tried (vectorised).
    """
    order = np.argsort(scores)
    s, y = scores[order], same[order]
    # Accepting everything from index i on: true accepts = genuine at >= i,
    # true rejects = impostors below i.
    genuine_at_or_above = np.concatenate([np.cumsum(y[::-1])[::-1], [0]])
    impostors_below = np.concatenate([[0], np.cumsum(~y)])
    correct = genuine_at_or_above + impostors_below
    i = int(np.argmax(correct))
    if i == 0:
        return float(s[0] - 1e-6)
    if i == len(s):
        return float(s[-1] + 1e-6)
    return float((s[i - 1] + s[i]) / 2)


def kfold_accuracy(scores: Scores, same: npt.NDArray[np.bool_], folds: npt.NDArray[np.int_]
                   ) -> tuple[list[float], list[float]]:
    """Accuracy of each fold with the threshold chosen on all the other folds.

    Returns:
        (accuracy per fold, threshold used for each fold).
    """
    accuracies, thresholds = [], []
    for fold in np.unique(folds):
        train = folds != fold
        t = best_threshold(scores[train], same[train])
        test = ~train
        accuracies.append(float(np.mean((scores[test] >= t) == same[test])))
        thresholds.append(t)
    return accuracies, thresholds


def roc_auc(genuine: Scores, impostor: Scores) -> float:
    """Area under the ROC curve: the chance a genuine pair outscores an impostor pair
    (Mann-Whitney U, ties counted half)."""
    allscores = np.concatenate([genuine, impostor])
    ranks = _average_ranks(allscores)
    rank_sum = ranks[: len(genuine)].sum()
    u = rank_sum - len(genuine) * (len(genuine) + 1) / 2
    return float(u / (len(genuine) * len(impostor)))


def threshold_at_far(impostor: Scores, far: float) -> float:
    """The lowest threshold at which at most ``far`` of the impostor scores are accepted
    (accept when ``score > threshold``)."""
    ordered = np.sort(impostor)[::-1]
    allowed = int(np.floor(far * len(ordered)))
    if allowed >= len(ordered):
        return float(ordered[-1] - 1e-9)
    return float(ordered[allowed])


def tar_at_far(genuine: Scores, impostor: Scores, far: float) -> float:
    """True-accept rate at the threshold where the false-accept rate is at most ``far``."""
    return float(np.mean(genuine > threshold_at_far(impostor, far)))


@dataclass
class RocCurve:
    far: Scores
    tar: Scores


def roc_curve(genuine: Scores, impostor: Scores) -> RocCurve:
    """TAR against FAR over every threshold."""
    thresholds = np.unique(np.concatenate([genuine, impostor]))[::-1]
    g = np.sort(genuine)
    i = np.sort(impostor)
    tar = 1 - np.searchsorted(g, thresholds, side="left") / len(g)
    far = 1 - np.searchsorted(i, thresholds, side="left") / len(i)
    return RocCurve(far=far, tar=tar)


def _average_ranks(values: Scores) -> Scores:
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values))
    sorted_vals = values[order]
    # Tie groups get their average rank.
    boundaries = np.concatenate([[0], np.flatnonzero(np.diff(sorted_vals)) + 1, [len(values)]])
    for start, end in zip(boundaries[:-1], boundaries[1:]):
        ranks[order[start:end]] = (start + end + 1) / 2
    return ranks
