"""``turnstile eval identify``: open-set identification ("who is this, or nobody?").

Protocol on a folder-per-identity data set: the first image (by name) of every identity
with at least two images is enrolled; that identity's other images are mated probes; every
image of the single-image identities is a non-mated probe (a stranger). Reported in the
terms of NIST FRVT 1:N:

* rank-1: share of mated probes whose best gallery match is the right person;
* FNIR at FPIR x: with the threshold at which a share x of strangers is (falsely) matched
  to someone, the share of mated probes that are not matched to the right person above it.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from turnstile.errors import TurnstileError
from turnstile.evaluation.lfw import embed_central_faces
from turnstile.vision.pipeline import FacePipeline

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


@dataclass
class OpenSetSplit:
    gallery: list[tuple[str, str]]  # (identity, path)
    mated: list[tuple[str, str]]
    non_mated: list[tuple[str, str]]


@dataclass
class IdentifyReport:
    gallery_size: int
    mated_probes: int
    non_mated_probes: int
    rank1: float
    fnir_at_fpir_1e_2: float
    fnir_at_fpir_1e_3: float
    threshold_at_fpir_1e_2: float
    threshold_at_fpir_1e_3: float
    no_face: int
    model_id: str = ""
    plots: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        for key in list(data):
            if "_1e_" in key:
                data[key.replace("_1e_", "_1e-")] = data.pop(key)
        return data

    def to_text(self) -> str:
        return "\n".join([
            f"Open-set identification, model {self.model_id}",
            f"  gallery            {self.gallery_size} people (one photo each)",
            f"  probes             {self.mated_probes} enrolled, {self.non_mated_probes} strangers",
            f"  rank-1             {self.rank1 * 100:.2f} %",
            f"  FNIR at FPIR 1e-2  {self.fnir_at_fpir_1e_2 * 100:.2f} %"
            f"  (threshold {self.threshold_at_fpir_1e_2:.4f})",
            f"  FNIR at FPIR 1e-3  {self.fnir_at_fpir_1e_3 * 100:.2f} %"
            f"  (threshold {self.threshold_at_fpir_1e_3:.4f})",
            f"  images with no detected face: {self.no_face} (scored on the centre crop)",
            *(f"  plot: {p}" for p in self.plots),
        ])


def split_folder(data_dir: Path) -> OpenSetSplit:
    """Split a folder-per-identity data set into gallery, mated and non-mated probes.

    Raises:
        TurnstileError: the folder does not exist or holds no identity with two images.
    """
    if not data_dir.is_dir():
        raise TurnstileError(f"{data_dir} is not a folder of identities.")
    split = OpenSetSplit([], [], [])
    for person in sorted(p for p in data_dir.iterdir() if p.is_dir()):
        images = sorted(str(p) for p in person.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if len(images) >= 2:
            split.gallery.append((person.name, images[0]))
            split.mated.extend((person.name, p) for p in images[1:])
        elif images:
            split.non_mated.append((person.name, images[0]))
    if not split.gallery:
        raise TurnstileError(f"{data_dir} has no identity with two or more images.")
    return split


@dataclass
class OpenSetScores:
    """Per probe: the best gallery score and whether that best match is the right person."""

    mated_best: npt.NDArray[np.float64]
    mated_correct: npt.NDArray[np.bool_]
    non_mated_best: npt.NDArray[np.float64]


def open_set_scores(gallery: npt.NDArray[np.float32], gallery_ids: list[str],
                    mated: npt.NDArray[np.float32], mated_ids: list[str],
                    non_mated: npt.NDArray[np.float32]) -> OpenSetScores:
    """Score every probe against the whole gallery (one matrix product)."""
    ids = np.array(gallery_ids)
    mated_scores = mated @ gallery.T
    best = mated_scores.argmax(1)
    return OpenSetScores(
        mated_best=mated_scores.max(1).astype(np.float64),
        mated_correct=ids[best] == np.array(mated_ids),
        non_mated_best=(non_mated @ gallery.T).max(1).astype(np.float64) if len(non_mated)
        else np.zeros(0),
    )


def fnir_at_fpir(scores: OpenSetScores, fpir: float) -> tuple[float, float]:
    """FNIR at the threshold where the share of strangers matched is at most ``fpir``.

    Returns:
        ``(fnir, threshold)``; a probe is matched when its best score is > threshold.
    """
    strangers = np.sort(scores.non_mated_best)[::-1]
    allowed = int(np.floor(fpir * len(strangers)))
    threshold = float(strangers[allowed]) if allowed < len(strangers) else -1.0
    hit = scores.mated_correct & (scores.mated_best > threshold)
    return float(1.0 - hit.mean()), threshold


def det_curve(scores: OpenSetScores) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(FPIR, FNIR) over every threshold."""
    thresholds = np.unique(np.concatenate([scores.mated_best, scores.non_mated_best]))
    strangers = np.sort(scores.non_mated_best)
    fpir = 1 - np.searchsorted(strangers, thresholds, side="right") / max(len(strangers), 1)
    correct = np.sort(scores.mated_best[scores.mated_correct])
    hits = len(correct) - np.searchsorted(correct, thresholds, side="right")
    fnir = 1 - hits / len(scores.mated_best)
    return fpir, fnir


def evaluate_identify(pipeline: FacePipeline, data_dir: Path, plot_dir: Path | None = None
                      ) -> IdentifyReport:
    """Run the open-set protocol on a folder-per-identity data set."""
    split = split_folder(data_dir)
    everything = split.gallery + split.mated + split.non_mated
    embeddings, no_face, _ = embed_central_faces(pipeline, [p for _, p in everything], "identify")
    g, m = len(split.gallery), len(split.mated)
    scores = open_set_scores(embeddings[:g], [i for i, _ in split.gallery],
                             embeddings[g:g + m], [i for i, _ in split.mated], embeddings[g + m:])
    fnir2, t2 = fnir_at_fpir(scores, 1e-2)
    fnir3, t3 = fnir_at_fpir(scores, 1e-3)
    report = IdentifyReport(
        gallery_size=g, mated_probes=m, non_mated_probes=len(split.non_mated),
        rank1=float(scores.mated_correct.mean()),
        fnir_at_fpir_1e_2=fnir2, fnir_at_fpir_1e_3=fnir3,
        threshold_at_fpir_1e_2=t2, threshold_at_fpir_1e_3=t3,
        no_face=int(no_face.sum()), model_id=pipeline.model_id,
    )
    if plot_dir is not None:
        from turnstile.evaluation.plots import plot_det

        plot_dir.mkdir(parents=True, exist_ok=True)
        fpir, fnir = det_curve(scores)
        report.plots = [str(plot_det(fpir, fnir, plot_dir / "identify_det.png",
                                     f"Open-set identification, {g} people enrolled"))]
    return report
