"""PNG plots of evaluation results (matplotlib, imported only here, with the Agg backend)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from turnstile.evaluation import metrics


def _pyplot():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


Scores = npt.NDArray[np.float64]


def plot_roc(genuine: Scores, impostor: Scores, path: Path, title: str,
             curves: Sequence[tuple[str, Scores, Scores]] = ()) -> Path:
    """ROC curve (TAR against FAR, FAR on a log axis) written as PNG.

    Args:
        curves: ``(label, genuine, impostor)`` of each curve to draw, with a legend, instead
            of the one of ``genuine`` and ``impostor``.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=110)
    floor = 1.0 / max(len(impostor), 1)
    for label, gen, imp in curves or [("", genuine, impostor)]:
        roc = metrics.roc_curve(gen, imp)
        ax.plot(np.maximum(roc.far, floor), roc.tar, lw=1.8, label=label or None)
    if curves:
        ax.legend(loc="lower right")
    for far in (1e-2, 1e-3):
        ax.axvline(far, color="grey", ls=":", lw=1)
    ax.set_xscale("log")
    ax.set_xlim(floor, 1)
    ax.set_ylim(0.5, 1.001)
    ax.set_xlabel("false accept rate (FAR)")
    ax.set_ylabel("true accept rate (TAR)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_score_histogram(genuine: npt.NDArray[np.float64], impostor: npt.NDArray[np.float64],
                         path: Path, threshold: float | None, title: str) -> Path:
    """Histograms of genuine and impostor scores, with the threshold, written as PNG."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=110)
    bins = np.linspace(min(genuine.min(), impostor.min()), max(genuine.max(), impostor.max()), 60)
    ax.hist(impostor, bins=bins, alpha=0.6, label=f"different people ({len(impostor)})",
            color="tab:red")
    ax.hist(genuine, bins=bins, alpha=0.6, label=f"same person ({len(genuine)})",
            color="tab:green")
    if threshold is not None:
        ax.axvline(threshold, color="black", ls="--", lw=1, label=f"threshold {threshold:.3f}")
    ax.set_xlabel("cosine similarity")
    ax.set_ylabel("pairs")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_det(fpir: Scores, fnir: Scores, path: Path, title: str,
             curves: Sequence[tuple[str, Scores, Scores]] = ()) -> Path:
    """DET curve (FNIR against FPIR, both on log axes) written as PNG.

    Args:
        curves: ``(label, fpir, fnir)`` of each curve to draw, with a legend, instead of the
            one of ``fpir`` and ``fnir``.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=110)
    for label, x, y in curves or [("", fpir, fnir)]:
        ax.plot(np.maximum(x, 1e-5), np.maximum(y, 1e-5), lw=1.8, label=label or None)
    if curves:
        ax.legend(loc="lower left")
    for target in (1e-2, 1e-3):
        ax.axvline(target, color="grey", ls=":", lw=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("false positive identification rate (FPIR)")
    ax.set_ylabel("false negative identification rate (FNIR)")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
