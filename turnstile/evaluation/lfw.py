"""``turnstile eval lfw``: the official LFW View-2 protocol run through the real pipeline.

Each of the 6,000 pairs in ``pairs.txt`` is scored by the cosine similarity of the two
images' embeddings. In each image the detected face nearest the image centre is used (LFW
images are centred on the named person); when no face is detected, the central crop is
embedded instead (:meth:`FacePipeline.fallback_face`) and counted in ``no_face``: such pairs
are scored, never dropped.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from turnstile.errors import TurnstileError
from turnstile.evaluation import metrics
from turnstile.progress import ProgressBar
from turnstile.vision.imageio import read_image
from turnstile.vision.pipeline import FacePipeline
from turnstile.vision.types import Face

log = logging.getLogger(__name__)


@dataclass
class Pair:
    left: str
    right: str
    same: bool
    fold: int


@dataclass
class LfwReport:
    accuracy: float
    accuracy_std: float
    auc: float
    tar_at_far_1e_2: float
    tar_at_far_1e_3: float
    no_face: int
    images: int
    pairs: int
    images_per_s: float
    threshold: float
    fold_accuracies: list[float] = field(default_factory=list)
    model_id: str = ""
    plots: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data["tar_at_far_1e-2"] = data.pop("tar_at_far_1e_2")
        data["tar_at_far_1e-3"] = data.pop("tar_at_far_1e_3")
        return data

    def to_text(self) -> str:
        return "\n".join([
            f"LFW View-2, {self.pairs} pairs, {self.images} images, model {self.model_id}",
            f"  10-fold accuracy   {self.accuracy * 100:.2f} % +- {self.accuracy_std * 100:.2f}",
            f"  ROC AUC            {self.auc:.5f}",
            f"  TAR at FAR 1e-2    {self.tar_at_far_1e_2 * 100:.2f} %",
            f"  TAR at FAR 1e-3    {self.tar_at_far_1e_3 * 100:.2f} %",
            f"  threshold (cosine) {self.threshold:.4f}  (mean of the 10 fold thresholds)",
            f"  images with no detected face: {self.no_face} (scored on the centre crop)",
            f"  speed              {self.images_per_s:.1f} images/s",
            *(f"  plot: {p}" for p in self.plots),
        ])


def image_path(images_dir: Path, name: str, number: int) -> str:
    return str(images_dir / name / f"{name}_{number:04d}.jpg")


def read_pairs(data_dir: Path) -> list[Pair]:
    """Parse ``pairs.txt`` of the View-2 protocol.

    Raises:
        TurnstileError: the file is missing or malformed.
    """
    path = data_dir / "pairs.txt"
    images = data_dir / "images"
    try:
        lines = path.read_text().split("\n")
    except OSError as exc:
        raise TurnstileError(f"Cannot read {path}: {exc.strerror or exc}.") from None
    try:
        folds, per_half = (int(v) for v in lines[0].split())
        pairs = []
        rows = [line.split() for line in lines[1:] if line.strip()]
        for index, row in enumerate(rows):
            fold = index // (2 * per_half)
            if len(row) == 3:
                pairs.append(Pair(image_path(images, row[0], int(row[1])),
                                  image_path(images, row[0], int(row[2])), True, fold))
            elif len(row) == 4:
                pairs.append(Pair(image_path(images, row[0], int(row[1])),
                                  image_path(images, row[2], int(row[3])), False, fold))
            else:
                raise ValueError(f"line {index + 2}: {' '.join(row)}")
    except (ValueError, IndexError) as exc:
        raise TurnstileError(f"{path} is not an LFW pairs file ({exc}).") from None
    if len(pairs) != folds * per_half * 2:
        raise TurnstileError(f"{path} has {len(pairs)} pairs, expected {folds * per_half * 2}.")
    return pairs


def central_face(faces: list[Face], width: int, height: int) -> Face:
    centre = np.array([width / 2, height / 2])
    return min(faces, key=lambda f: float(np.hypot(f.box[0] + f.box[2] / 2 - centre[0],
                                                    f.box[1] + f.box[3] / 2 - centre[1])))


def embed_central_faces(pipeline: FacePipeline, paths: list[str], label: str = "embedding"
                        ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_], float]:
    """Embed the central face of each image.

    Returns:
        ``(embeddings (N, D), no_face (N,) bool, seconds spent)``.
    """
    embeddings = np.zeros((len(paths), pipeline.embedder.dim), np.float32)
    no_face = np.zeros(len(paths), bool)
    bar = ProgressBar(len(paths), label)
    start = time.perf_counter()
    for i, path in enumerate(paths):
        frame = read_image(path)
        faces = pipeline.detect(frame)
        if faces:
            face = central_face(faces, frame.shape[1], frame.shape[0])
            pipeline.embed(frame, [face])
        else:
            no_face[i] = True
            face = pipeline.fallback_face(frame)
        assert face.embedding is not None
        embeddings[i] = face.embedding
        bar.advance()
    bar.close()
    return embeddings, no_face, time.perf_counter() - start


def evaluate_lfw(pipeline: FacePipeline, data_dir: Path, plot_dir: Path | None = None,
                 limit_pairs: int | None = None) -> LfwReport:
    """Run the View-2 protocol.

    Args:
        pipeline: the real pipeline.
        data_dir: folder with ``pairs.txt`` and ``images/``.
        plot_dir: where to write ``lfw_roc.png`` and ``lfw_scores.png`` (None: no plots).
        limit_pairs: use only the first N pairs of each fold half (for quick runs and tests).
    """
    pairs = read_pairs(data_dir)
    if limit_pairs:
        pairs = _subset(pairs, limit_pairs)
    paths = sorted({p.left for p in pairs} | {p.right for p in pairs})
    missing = [p for p in paths if not Path(p).is_file()]
    if missing:
        raise TurnstileError(
            f"{len(missing)} images named in pairs.txt are missing, e.g. {missing[0]}.")
    index = {p: i for i, p in enumerate(paths)}
    embeddings, no_face, seconds = embed_central_faces(pipeline, paths, "LFW")

    left = embeddings[[index[p.left] for p in pairs]]
    right = embeddings[[index[p.right] for p in pairs]]
    scores = np.sum(left * right, axis=1).astype(np.float64)
    same = np.array([p.same for p in pairs])
    folds = np.array([p.fold for p in pairs])
    accuracies, thresholds = metrics.kfold_accuracy(scores, same, folds)
    genuine, impostor = scores[same], scores[~same]
    report = LfwReport(
        accuracy=float(np.mean(accuracies)),
        accuracy_std=float(np.std(accuracies)),
        auc=metrics.roc_auc(genuine, impostor),
        tar_at_far_1e_2=metrics.tar_at_far(genuine, impostor, 1e-2),
        tar_at_far_1e_3=metrics.tar_at_far(genuine, impostor, 1e-3),
        no_face=int(no_face.sum()),
        images=len(paths),
        pairs=len(pairs),
        images_per_s=len(paths) / seconds,
        threshold=float(np.mean(thresholds)),
        fold_accuracies=accuracies,
        model_id=pipeline.model_id,
    )
    if plot_dir is not None:
        from turnstile.evaluation.plots import plot_roc, plot_score_histogram

        plot_dir.mkdir(parents=True, exist_ok=True)
        report.plots = [
            str(plot_roc(genuine, impostor, plot_dir / "lfw_roc.png", "LFW View-2 ROC")),
            str(plot_score_histogram(genuine, impostor, plot_dir / "lfw_scores.png",
                                     report.threshold, "LFW View-2 cosine scores")),
        ]
    return report


def _subset(pairs: list[Pair], per_half: int) -> list[Pair]:
    kept: list[Pair] = []
    counts: dict[tuple[int, bool], int] = {}
    for p in pairs:
        key = (p.fold, p.same)
        if counts.get(key, 0) < per_half:
            kept.append(p)
            counts[key] = counts.get(key, 0) + 1
    return kept
