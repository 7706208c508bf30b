"""``turnstile eval identify``: open-set identification ("who is this, or nobody?").

Protocol on a folder-per-identity data set: the first image (by name) of every identity
with at least two images is enrolled; that identity's other images are mated probes; every
image of the single-image identities is a non-mated probe (a stranger). Reported in the
terms of NIST FRVT 1:N:

* rank-1: share of mated probes whose best gallery match is the right person;
* FNIR at FPIR x: with the threshold at which a share x of strangers is (falsely) matched
  to someone, the share of mated probes that are not matched to the right person above it.

With a confirming embedder in the pipeline, the figures "as the door decides" are the
cascade's (``cascade_*``): the search embedder's best matches over the whole gallery are the
candidates (:data:`~turnstile.matching.cascade.SHORTLIST`), and the confirming embedder's
best score of the probe against those candidates alone decides (no runner-up rule). The
search embedder's own figures are given as well, on the best score alone (the usual
protocol) and with the runner-up rule the door applies when it has no confirming embedder
(``door_*``): a match also needs the runner-up (the best other person) at least
:data:`~turnstile.matching.policy.MIN_MARGIN` behind
(:func:`~turnstile.matching.policy.decide`).

On LFW some "strangers" are enrolled people under another name
(:mod:`turnstile.evaluation.lfw_label_errors`); at FPIR 1e-3 they alone set the threshold. The
deciding figures are then also given with them set aside, labelled as a sensitivity check,
not as the protocol's figure.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from turnstile.errors import TurnstileError
from turnstile.evaluation.lfw import embed_central, model_name
from turnstile.evaluation.lfw_label_errors import SAME_PERSON
from turnstile.matching.cascade import SHORTLIST
from turnstile.matching.policy import MIN_MARGIN
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
    """Open-set figures. ``rank1``, ``fnir_*``, ``threshold_*``: the search embedder's best
    score alone; ``door_*``: the same with the runner-up margin; ``cascade_*`` (None without
    a confirming embedder): as the door decides with the confirming embedder, thresholds on
    its scores."""

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
    min_margin: float = 0.0
    """The door's runner-up margin used by the ``door_*`` figures."""
    door_fnir_at_fpir_1e_2: float = float("nan")
    door_fnir_at_fpir_1e_3: float = float("nan")
    door_threshold_at_fpir_1e_2: float = float("nan")
    door_threshold_at_fpir_1e_3: float = float("nan")
    confirm_model_id: str | None = None
    """The confirming embedder whose score decides in the cascade (None: no cascade)."""
    cascade_rank1: float | None = None
    """Share of mated probes for which the confirming embedder's pick among the shortlisted
    candidates is the right person."""
    cascade_fnir_at_fpir_1e_2: float | None = None
    cascade_fnir_at_fpir_1e_3: float | None = None
    cascade_threshold_at_fpir_1e_2: float | None = None
    cascade_threshold_at_fpir_1e_3: float | None = None
    known_label_errors: list[str] = field(default_factory=list)
    """Strangers who are enrolled people under another name
    (:data:`~turnstile.evaluation.lfw_label_errors.SAME_PERSON`) found in this data set."""
    without_label_errors_fnir_at_fpir_1e_2: float | None = None
    """The deciding figures (the cascade's, or the search embedder's best score without a
    confirming embedder) with those strangers set aside; None when there are none."""
    without_label_errors_fnir_at_fpir_1e_3: float | None = None
    without_label_errors_threshold_at_fpir_1e_2: float | None = None
    without_label_errors_threshold_at_fpir_1e_3: float | None = None
    plots: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        for key in list(data):
            if "_1e_" in key:
                data[key.replace("_1e_", "_1e-")] = data.pop(key)
        return data

    def to_text(self) -> str:
        lines = [
            "Open-set identification",
            f"  gallery            {self.gallery_size} people (one photo each)",
            f"  probes             {self.mated_probes} enrolled, {self.non_mated_probes} strangers",
        ]
        if self.confirm_model_id is not None:
            assert self.cascade_rank1 is not None
            assert self.cascade_fnir_at_fpir_1e_2 is not None
            assert self.cascade_fnir_at_fpir_1e_3 is not None
            assert self.cascade_threshold_at_fpir_1e_2 is not None
            assert self.cascade_threshold_at_fpir_1e_3 is not None
            lines += [
                f"as the door decides: the search embedder's best {SHORTLIST} matches are the "
                f"candidates, the best score of {self.confirm_model_id} against them decides",
                f"  rank-1             {self.cascade_rank1 * 100:.2f} %  (the candidate chosen "
                "is the right person)",
                _fnir_line("1e-2", self.cascade_fnir_at_fpir_1e_2,
                           self.cascade_threshold_at_fpir_1e_2),
                _fnir_line("1e-3", self.cascade_fnir_at_fpir_1e_3,
                           self.cascade_threshold_at_fpir_1e_3),
                *self._label_error_lines(),
                f"search embedder {self.model_id} alone:",
            ]
        else:
            lines.append(f"search embedder {self.model_id} (decides alone):")
        lines += [
            f"  rank-1             {self.rank1 * 100:.2f} %",
            _fnir_line("1e-2", self.fnir_at_fpir_1e_2, self.threshold_at_fpir_1e_2),
            _fnir_line("1e-3", self.fnir_at_fpir_1e_3, self.threshold_at_fpir_1e_3),
            *(self._label_error_lines() if self.confirm_model_id is None else []),
            f"  with the runner-up at least {self.min_margin:.3f} behind"
            + (" (the door's rule without a confirming embedder):"
               if self.confirm_model_id is not None else " (as the door decides):"),
            _fnir_line("1e-2", self.door_fnir_at_fpir_1e_2, self.door_threshold_at_fpir_1e_2),
            _fnir_line("1e-3", self.door_fnir_at_fpir_1e_3, self.door_threshold_at_fpir_1e_3),
            f"  images with no detected face: {self.no_face} (scored on the centre crop)",
            *(f"  plot: {p}" for p in self.plots),
        ]
        return "\n".join(lines)


    def _label_error_lines(self) -> list[str]:
        if not self.known_label_errors:
            return []
        assert self.without_label_errors_fnir_at_fpir_1e_2 is not None
        assert self.without_label_errors_fnir_at_fpir_1e_3 is not None
        assert self.without_label_errors_threshold_at_fpir_1e_2 is not None
        assert self.without_label_errors_threshold_at_fpir_1e_3 is not None
        return [
            f"  the same with the {len(self.known_label_errors)} strangers who are enrolled "
            f"people under another name set aside (not the protocol, a sensitivity check; "
            f"LFW label errors: {', '.join(self.known_label_errors)}):",
            _fnir_line("1e-2", self.without_label_errors_fnir_at_fpir_1e_2,
                       self.without_label_errors_threshold_at_fpir_1e_2),
            _fnir_line("1e-3", self.without_label_errors_fnir_at_fpir_1e_3,
                       self.without_label_errors_threshold_at_fpir_1e_3),
        ]


def set_aside_strangers(scores: OpenSetScores, stranger_ids: list[str],
                        names: set[str]) -> OpenSetScores:
    """The same scores without the strangers whose identity is in ``names`` (their rate is
    then over the remaining strangers)."""
    keep = np.array([name not in names for name in stranger_ids], bool)
    return OpenSetScores(
        mated_best=scores.mated_best, mated_correct=scores.mated_correct,
        non_mated_best=scores.non_mated_best[keep], mated_margin=scores.mated_margin,
        non_mated_margin=(None if scores.non_mated_margin is None
                          else scores.non_mated_margin[keep]))


def _fnir_line(fpir: str, fnir: float, threshold: float) -> str:
    return f"  FNIR at FPIR {fpir}  {fnir * 100:.2f} %  (threshold {threshold:.4f})"


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
    """Per probe: the best gallery score, whether that best match is the right person, and
    how far the runner-up (best other person) is behind (inf with one person enrolled)."""

    mated_best: npt.NDArray[np.float64]
    mated_correct: npt.NDArray[np.bool_]
    non_mated_best: npt.NDArray[np.float64]
    mated_margin: npt.NDArray[np.float64] | None = None
    non_mated_margin: npt.NDArray[np.float64] | None = None


def open_set_scores(gallery: npt.NDArray[np.float32], gallery_ids: list[str],
                    mated: npt.NDArray[np.float32], mated_ids: list[str],
                    non_mated: npt.NDArray[np.float32]) -> OpenSetScores:
    """Score every probe against the whole gallery (one matrix product; one template per
    identity, so the runner-up is the second best score)."""
    ids = np.array(gallery_ids)

    def best_two(probes: npt.NDArray[np.float32]
                 ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64],
                            npt.NDArray[np.intp]]:
        scores = (probes @ gallery.T).astype(np.float64)
        best = scores.argmax(1)
        top = scores[np.arange(len(probes)), best]
        if scores.shape[1] < 2:
            return top, np.full(len(probes), np.inf), best
        second = np.partition(scores, -2, axis=1)[:, -2]
        return top, top - second, best

    mated_top, mated_margin, best = best_two(mated)
    if len(non_mated):
        stranger_top, stranger_margin, _ = best_two(non_mated)
    else:
        stranger_top, stranger_margin = np.zeros(0), np.zeros(0)
    return OpenSetScores(
        mated_best=mated_top,
        mated_correct=ids[best] == np.array(mated_ids),
        non_mated_best=stranger_top,
        mated_margin=mated_margin,
        non_mated_margin=stranger_margin,
    )


def cascade_scores(gallery: npt.NDArray[np.float32], gallery_ids: list[str],
                   mated: npt.NDArray[np.float32], mated_ids: list[str],
                   non_mated: npt.NDArray[np.float32], *,
                   confirm_gallery: npt.NDArray[np.float32],
                   confirm_mated: npt.NDArray[np.float32],
                   confirm_non_mated: npt.NDArray[np.float32],
                   shortlist: int = SHORTLIST) -> OpenSetScores:
    """Score every probe as the door's cascade does: the search embeddings' ``shortlist``
    best gallery matches are the candidates (no threshold, no runner-up rule), and the
    probe's score is the best of the confirming embeddings' cosines with those candidates'
    templates; the candidate it belongs to is the answer.

    Args:
        gallery, mated, non_mated: the search embedder's embeddings (rows as the ids, one
            row per person).
        confirm_gallery, confirm_mated, confirm_non_mated: the confirming embedder's, same
            rows.
        shortlist: how many candidates (see :data:`~turnstile.matching.cascade.SHORTLIST`).

    Returns:
        Scores without margins (``fnir_at_fpir`` without ``min_margin``).
    """
    ids = np.array(gallery_ids)
    k = max(1, min(shortlist, len(gallery)))

    def confirmed(probes: npt.NDArray[np.float32], confirm_probes: npt.NDArray[np.float32]
                  ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.intp]]:
        if not len(probes):
            return np.zeros(0), np.zeros(0, np.intp)
        search = probes @ gallery.T
        candidates = np.argpartition(-search, k - 1, axis=1)[:, :k]
        scores = np.einsum("pd,pkd->pk", confirm_probes, confirm_gallery[candidates])
        best = scores.argmax(1)
        rows = np.arange(len(probes))
        return scores[rows, best].astype(np.float64), candidates[rows, best]

    mated_score, candidate = confirmed(mated, confirm_mated)
    stranger_score, _ = confirmed(non_mated, confirm_non_mated)
    return OpenSetScores(mated_best=mated_score,
                         mated_correct=ids[candidate] == np.array(mated_ids),
                         non_mated_best=stranger_score)


def fnir_at_fpir(scores: OpenSetScores, fpir: float, min_margin: float | None = None
                 ) -> tuple[float, float]:
    """FNIR at the threshold where the share of strangers matched is at most ``fpir``.

    Args:
        min_margin: when given, a probe is matched only if also the runner-up is at least
            this far behind (the door's rule); None: the best score alone decides.

    Returns:
        ``(fnir, threshold)``; a probe is matched when its best score is > threshold.
    """
    matchable = np.ones(len(scores.non_mated_best), bool)
    mated_ok = np.ones(len(scores.mated_best), bool)
    if min_margin is not None:
        if scores.mated_margin is None or scores.non_mated_margin is None:
            raise ValueError("these scores carry no runner-up margins")
        matchable = scores.non_mated_margin >= min_margin
        mated_ok = scores.mated_margin >= min_margin
    # every stranger counts in the rate; only those the margin lets through can be matched
    strangers = np.sort(scores.non_mated_best[matchable])[::-1]
    allowed = int(np.floor(fpir * len(scores.non_mated_best)))
    threshold = float(strangers[allowed]) if allowed < len(strangers) else -1.0
    hit = scores.mated_correct & mated_ok & (scores.mated_best > threshold)
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
    """Run the open-set protocol on a folder-per-identity data set (with the cascade's
    figures when the pipeline has a confirming embedder)."""
    split = split_folder(data_dir)
    everything = split.gallery + split.mated + split.non_mated
    done = embed_central(pipeline, [p for _, p in everything], "identify")
    g, m = len(split.gallery), len(split.mated)
    gallery_ids = [i for i, _ in split.gallery]
    mated_ids = [i for i, _ in split.mated]
    emb = done.search
    scores = open_set_scores(emb[:g], gallery_ids, emb[g:g + m], mated_ids, emb[g + m:])
    fnir2, t2 = fnir_at_fpir(scores, 1e-2)
    fnir3, t3 = fnir_at_fpir(scores, 1e-3)
    door2, dt2 = fnir_at_fpir(scores, 1e-2, MIN_MARGIN)
    door3, dt3 = fnir_at_fpir(scores, 1e-3, MIN_MARGIN)
    report = IdentifyReport(
        gallery_size=g, mated_probes=m, non_mated_probes=len(split.non_mated),
        rank1=float(scores.mated_correct.mean()),
        fnir_at_fpir_1e_2=fnir2, fnir_at_fpir_1e_3=fnir3,
        threshold_at_fpir_1e_2=t2, threshold_at_fpir_1e_3=t3,
        no_face=int(done.no_face.sum()), model_id=pipeline.model_id,
        min_margin=MIN_MARGIN, door_fnir_at_fpir_1e_2=door2, door_fnir_at_fpir_1e_3=door3,
        door_threshold_at_fpir_1e_2=dt2, door_threshold_at_fpir_1e_3=dt3,
    )
    cascade = None
    if done.confirm is not None and pipeline.confirm is not None:
        c = done.confirm
        cascade = cascade_scores(emb[:g], gallery_ids, emb[g:g + m], mated_ids, emb[g + m:],
                                 confirm_gallery=c[:g], confirm_mated=c[g:g + m],
                                 confirm_non_mated=c[g + m:])
        report.confirm_model_id = pipeline.confirm.model_id
        report.cascade_rank1 = float(cascade.mated_correct.mean())
        report.cascade_fnir_at_fpir_1e_2, report.cascade_threshold_at_fpir_1e_2 = \
            fnir_at_fpir(cascade, 1e-2)
        report.cascade_fnir_at_fpir_1e_3, report.cascade_threshold_at_fpir_1e_3 = \
            fnir_at_fpir(cascade, 1e-3)
    stranger_ids = [i for i, _ in split.non_mated]
    enrolled = set(gallery_ids)
    mislabelled = sorted(name for name in set(stranger_ids)
                         if SAME_PERSON.get(name, ("",))[0] in enrolled)
    if mislabelled:
        clean = set_aside_strangers(cascade if cascade is not None else scores, stranger_ids,
                                    set(mislabelled))
        report.known_label_errors = mislabelled
        report.without_label_errors_fnir_at_fpir_1e_2, \
            report.without_label_errors_threshold_at_fpir_1e_2 = fnir_at_fpir(clean, 1e-2)
        report.without_label_errors_fnir_at_fpir_1e_3, \
            report.without_label_errors_threshold_at_fpir_1e_3 = fnir_at_fpir(clean, 1e-3)
    if plot_dir is not None:
        from turnstile.evaluation.plots import plot_det

        plot_dir.mkdir(parents=True, exist_ok=True)
        fpir, fnir = det_curve(scores)
        curves = []
        if cascade is not None:
            cascade_fpir, cascade_fnir = det_curve(cascade)
            curves = [(f"cascade, {model_name(report.confirm_model_id)} decides", cascade_fpir,
                       cascade_fnir), (f"{model_name(pipeline.model_id)} best score", fpir, fnir)]
        report.plots = [str(plot_det(fpir, fnir, plot_dir / "identify_det.png",
                                     f"Open-set identification, {g} people enrolled",
                                     curves=curves))]
    return report

