"""``turnstile eval lfw``: the official LFW View-2 protocol run through the real pipeline.

Each of the 6,000 pairs in ``pairs.txt`` is scored by the cosine similarity of the two
images' embeddings. In each image the detected face nearest the image centre is used (LFW
images are centred on the named person); when no face is detected, the central crop is
embedded instead (:meth:`FacePipeline.fallback_face`) and counted in ``no_face``: such pairs
are scored, never dropped.

With a confirming embedder in the pipeline (SFace), 1:1 verification is decided on its
scores alone, so the report's main figures are the confirming embedder's; the search
embedder's own figures are reported beside them (``search_*``).
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
    """The figures of the model that decides 1:1 (the confirming embedder when the pipeline
    has one, else the search embedder); ``search_*``: the search embedder's own figures
    (None without a confirming embedder: the main figures are already its)."""

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
    """The model whose scores the main figures are (the one that decides 1:1)."""
    search_model_id: str = ""
    """The search embedder (the same as ``model_id`` without a confirming embedder)."""
    search_accuracy: float | None = None
    search_accuracy_std: float | None = None
    search_auc: float | None = None
    search_tar_at_far_1e_2: float | None = None
    search_tar_at_far_1e_3: float | None = None
    search_threshold: float | None = None
    plots: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        for key in list(data):
            if "_1e_" in key:
                data[key.replace("_1e_", "_1e-")] = data.pop(key)
        return data

    def to_text(self) -> str:
        confirmed = self.search_accuracy is not None
        lines = [
            f"LFW View-2, {self.pairs} pairs, {self.images} images",
            f"1:1 decided by {self.model_id}"
            + (" (the confirming embedder)" if confirmed else ""),
            *_figure_lines(self.accuracy, self.accuracy_std, self.auc, self.tar_at_far_1e_2,
                           self.tar_at_far_1e_3, self.threshold),
        ]
        if self.search_accuracy is not None:
            assert self.search_accuracy_std is not None and self.search_auc is not None
            assert self.search_tar_at_far_1e_2 is not None
            assert self.search_tar_at_far_1e_3 is not None and self.search_threshold is not None
            lines += [
                f"search embedder {self.search_model_id} alone (finds the candidate in 1:N):",
                *_figure_lines(self.search_accuracy, self.search_accuracy_std, self.search_auc,
                               self.search_tar_at_far_1e_2, self.search_tar_at_far_1e_3,
                               self.search_threshold),
            ]
        return "\n".join([
            *lines,
            f"  images with no detected face: {self.no_face} (scored on the centre crop)",
            f"  speed              {self.images_per_s:.1f} images/s"
            + (" (both embedders)" if confirmed else ""),
            *(f"  plot: {p}" for p in self.plots),
        ])


def _figure_lines(accuracy: float, accuracy_std: float, auc: float, tar2: float, tar3: float,
                  threshold: float) -> list[str]:
    return [
        f"  10-fold accuracy   {accuracy * 100:.2f} % +- {accuracy_std * 100:.2f}",
        f"  ROC AUC            {auc:.5f}",
        f"  TAR at FAR 1e-2    {tar2 * 100:.2f} %",
        f"  TAR at FAR 1e-3    {tar3 * 100:.2f} %",
        f"  threshold (cosine) {threshold:.4f}  (mean of the 10 fold thresholds)",
    ]


@dataclass
class Verification:
    """One embedder's figures on a set of pairs."""

    accuracy: float
    accuracy_std: float
    auc: float
    tar_at_far_1e_2: float
    tar_at_far_1e_3: float
    threshold: float
    fold_accuracies: list[float]
    genuine: npt.NDArray[np.float64]
    impostor: npt.NDArray[np.float64]


def verification_figures(scores: npt.NDArray[np.float64], same: npt.NDArray[np.bool_],
                         folds: npt.NDArray[np.int_]) -> Verification:
    """10-fold accuracy, AUC and TARs of one embedder's pair scores."""
    accuracies, thresholds = metrics.kfold_accuracy(scores, same, folds)
    genuine, impostor = scores[same], scores[~same]
    return Verification(
        accuracy=float(np.mean(accuracies)), accuracy_std=float(np.std(accuracies)),
        auc=metrics.roc_auc(genuine, impostor),
        tar_at_far_1e_2=metrics.tar_at_far(genuine, impostor, 1e-2),
        tar_at_far_1e_3=metrics.tar_at_far(genuine, impostor, 1e-3),
        threshold=float(np.mean(thresholds)), fold_accuracies=accuracies,
        genuine=genuine, impostor=impostor)


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


@dataclass
class CentralEmbeddings:
    """The central face of each image, embedded by the search embedder and (when the
    pipeline has one) the confirming embedder."""

    search: npt.NDArray[np.float32]
    """(N, D) the search embedder's embeddings (flip TTA as the pipeline does)."""
    confirm: npt.NDArray[np.float32] | None
    """(N, D') the confirming embedder's, or None when the pipeline has none."""
    no_face: npt.NDArray[np.bool_]
    """(N,) no face detected: the centre crop (:meth:`FacePipeline.fallback_face`) was
    embedded, by both embedders."""
    seconds: float


def embed_central(pipeline: FacePipeline, paths: list[str], label: str = "embedding", *,
                  confirm: bool = True) -> CentralEmbeddings:
    """Embed the central face of each image with the search embedder and, when ``confirm``
    and the pipeline has one, with the confirming embedder (the same face, or the same
    fallback face when none is detected)."""
    with_confirm = confirm and pipeline.confirm is not None
    search = np.zeros((len(paths), pipeline.embedder.dim), np.float32)
    confirmed = (np.zeros((len(paths), pipeline.confirm.dim), np.float32)
                 if with_confirm and pipeline.confirm is not None else None)
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
        search[i] = face.embedding
        if confirmed is not None:
            confirmed[i] = pipeline.confirm_embed(frame, face)
        bar.advance()
    bar.close()
    return CentralEmbeddings(search, confirmed, no_face, time.perf_counter() - start)


def embed_central_faces(pipeline: FacePipeline, paths: list[str], label: str = "embedding"
                        ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_], float]:
    """Embed the central face of each image with the search embedder only (the confirming
    embedder is not run: see :func:`embed_central` for both).

    Returns:
        ``(embeddings (N, D), no_face (N,) bool, seconds spent)``.
    """
    done = embed_central(pipeline, paths, label, confirm=False)
    return done.search, done.no_face, done.seconds


def evaluate_lfw(pipeline: FacePipeline, data_dir: Path, plot_dir: Path | None = None,
                 limit_pairs: int | None = None) -> LfwReport:
    """Run the View-2 protocol.

    With a confirming embedder in the pipeline, its scores give the main figures (it decides
    1:1) and the search embedder's are reported as ``search_*``.

    Args:
        pipeline: the real pipeline.
        data_dir: folder with ``pairs.txt`` and ``images/``.
        plot_dir: where to write ``lfw_roc.png`` and ``lfw_scores.png`` (and, with a
            confirming embedder, ``lfw_scores_search.png``); None: no plots.
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
    done = embed_central(pipeline, paths, "LFW")
    left = [index[p.left] for p in pairs]
    right = [index[p.right] for p in pairs]
    same = np.array([p.same for p in pairs])
    folds = np.array([p.fold for p in pairs])

    def figures(emb: npt.NDArray[np.float32]) -> Verification:
        scores = np.sum(emb[left] * emb[right], axis=1).astype(np.float64)
        return verification_figures(scores, same, folds)

    search = figures(done.search)
    main = figures(done.confirm) if done.confirm is not None else search
    confirm_id = pipeline.confirm.model_id if pipeline.confirm is not None else None
    report = LfwReport(
        accuracy=main.accuracy,
        accuracy_std=main.accuracy_std,
        auc=main.auc,
        tar_at_far_1e_2=main.tar_at_far_1e_2,
        tar_at_far_1e_3=main.tar_at_far_1e_3,
        no_face=int(done.no_face.sum()),
        images=len(paths),
        pairs=len(pairs),
        images_per_s=len(paths) / done.seconds,
        threshold=main.threshold,
        fold_accuracies=main.fold_accuracies,
        model_id=confirm_id or pipeline.model_id,
        search_model_id=pipeline.model_id,
    )
    if done.confirm is not None:
        report.search_accuracy = search.accuracy
        report.search_accuracy_std = search.accuracy_std
        report.search_auc = search.auc
        report.search_tar_at_far_1e_2 = search.tar_at_far_1e_2
        report.search_tar_at_far_1e_3 = search.tar_at_far_1e_3
        report.search_threshold = search.threshold
    if plot_dir is not None:
        from turnstile.evaluation.plots import plot_roc, plot_score_histogram

        plot_dir.mkdir(parents=True, exist_ok=True)
        curves = [(model_name(report.model_id), main.genuine, main.impostor)]
        if done.confirm is not None:
            curves.append((f"{model_name(pipeline.model_id)} (search)", search.genuine,
                           search.impostor))
        report.plots = [
            str(plot_roc(main.genuine, main.impostor, plot_dir / "lfw_roc.png",
                         "LFW View-2 ROC", curves=curves)),
            str(plot_score_histogram(main.genuine, main.impostor, plot_dir / "lfw_scores.png",
                                     report.threshold,
                                     f"LFW View-2 cosine scores, {model_name(report.model_id)}")),
        ]
        if done.confirm is not None:
            report.plots.append(str(plot_score_histogram(
                search.genuine, search.impostor, plot_dir / "lfw_scores_search.png",
                search.threshold,
                f"LFW View-2 cosine scores, {model_name(pipeline.model_id)} (search)")))
    return report


def model_name(model_id: str | None) -> str:
    """``sface_2021dec@470ac55062b9/mesh5`` -> ``sface_2021dec`` (plot labels)."""
    return (model_id or "").split("@")[0]


def _subset(pairs: list[Pair], per_half: int) -> list[Pair]:
    kept: list[Pair] = []
    counts: dict[tuple[int, bool], int] = {}
    for p in pairs:
        key = (p.fold, p.same)
        if counts.get(key, 0) < per_half:
            kept.append(p)
            counts[key] = counts.get(key, 0) + 1
    return kept
