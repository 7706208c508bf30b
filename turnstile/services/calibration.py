"""How often will the door be wrong, and which thresholds give the rate a site can sign off?

Everything here rests on a **score model**: the distributions of cosine scores between two
photos of the same person (genuine) and of two different people (impostor) for one embedding
model, measured once on LFW by ``installer/make_score_model.py`` and shipped in ``assets/``
(embeddings summarised as histograms; no photo and no embedding is in the file).

The rates, for a threshold ``t`` and ``N`` people enrolled:

* **FAR(t)**, 1:1 false accept: the share of impostor pairs scoring ``>= t``. This is what a
  stranger gets when the door compares the face with ONE person (1:1 mode: employee number,
  badge or PIN first).
* **FPIR(t, N)**, 1:N false positive identification rate, per stranger visit: a stranger is
  compared with all N people and is let in when ANY of them scores ``>= t``. Taking the N
  scores as independent, ``FPIR = 1 - (1 - FAR(t)) ** N``, about ``N x FAR(t)`` while that
  is small: ten times the people, ten times the false accepts at the same threshold. Real
  scores of one stranger against N people are positively correlated (a face that looks like
  many people scores high against all of them); for such scores the chance that none exceeds
  ``t`` is at least the product, so the formula errs on the side of MORE false accepts. The
  margin rule and the frames a door needs to agree only lower it further; they are not
  counted.
* **FNIR(t, N)**, false negative identification rate, per look: an enrolled person is not
  let in because their own score is below ``t``, or because one of the other N - 1 people
  scores within ``min_margin`` of it (wrong person or "two people look alike"):
  ``FNIR = 1 - sum_s P_genuine(s) [s >= t] (1 - FAR(s - min_margin)) ** (N - 1)``.
* **FRR(t)**, 1:1 false reject: the share of genuine pairs scoring ``< t``.

**Tail extrapolation.** A site with 10,000 people and a target FPIR of 1e-3 needs FAR near
1e-7, below what any public data set measures reliably. Above the impostor score ``u`` where
FAR is ``tail_far_u`` (1e-4 in the shipped model, a few thousand impostor pairs) FAR is
modelled as an exponential tail, ``FAR(t) = tail_far_u * exp(-(t - u) / scale)`` (a
generalised Pareto tail with shape 0), ``scale`` being the mean excess of those pairs over
``u`` (its maximum-likelihood estimate). Cosine scores are bounded by 1, so the true tail
falls off faster than an exponential: the extrapolation over-states FAR. Where the measured
impostor pairs show MORE false accepts than the fit, the measured share is used
(``max(fit, measured)``): the model never claims fewer false accepts than were seen.

**Site calibration.** A site's own access log can correct the LFW model for its camera and
light, within what the log can know (see :func:`site_evidence`): it shifts the genuine and
the impostor distributions along the score axis; the impostor shift is never allowed to make
strangers look LESS alike than on LFW.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
from sqlalchemy import select

from turnstile import resources
from turnstile.errors import TurnstileError
from turnstile.matching.cascade import SHORTLIST
from turnstile.matching.policy import MIN_MARGIN
from turnstile.storage import repositories as repo
from turnstile.storage.db import Database
from turnstile.storage.models import AccessEvent, ModelThreshold, utcnow

log = logging.getLogger(__name__)

FORMAT = "turnstile-score-model/1"
"""The ``format`` field of the score model file this code reads."""

REJECT_FPIR_FACTOR = 10.0
"""The proposed reject threshold lets through this many times the target FPIR: strangers
between reject and accept are asked to step closer rather than turned away, and a real
employee in bad light gets another try instead of "unknown". (The shipped defaults have the
same ratio: FPIR 1e-2 and 1e-1 with 1,559 people.)"""

MAX_REJECT_FPIR = 0.5
"""The reject threshold never goes below the score a stranger clears half the time."""

THRESHOLD_DECIMALS = 4
"""Thresholds are stored and shown with four decimals; the accept threshold is rounded UP
(stricter) so the rounded value still meets the target."""

MIN_SITE_GENUINE = 200
"""Site calibration needs at least this many granted/denied events with a score..."""
MIN_SITE_STRANGERS = 200
"""...and this many "unknown" events below the censoring cut: fewer would move the
thresholds on noise (the shift estimate's standard error is about 0.3 / sqrt(n) score
standard deviations)."""

SITE_DAYS = 90
"""Site calibration reads this many days of the access log by default."""

MAX_SITE_SHIFT = 0.1
"""The largest score shift the site calibration will estimate (in cosine units): more than
this means the log is not describing the same model or camera, and is refused."""

CALIBRATE_SOURCE_PREFIX = "turnstile calibrate"
"""The ``source`` text of thresholds calibration stores starts with this."""


class CalibrationError(TurnstileError):
    """A calibration cannot be done (the message says why and what to do instead)."""


class ExpectedRates(NamedTuple):
    """Expected error rates at one threshold and gallery size (shares, 0..1).

    Attributes:
        far: 1:1 false accept per attempt (a stranger compared with one person).
        fpir: 1:N false accept per stranger visit (compared with everyone enrolled).
        fnir: 1:N per look: an enrolled person not recognised (score too low, or someone
            else too close).
        frr: 1:1 false reject per attempt.
    """

    far: float
    fpir: float
    fnir: float
    frr: float


@dataclass(frozen=True)
class ScoreModel:
    """Genuine and impostor score distributions of one embedding model (see the module
    docstring). Build with :func:`load_score_model` or :meth:`from_json`.

    Histograms count scores in ``bins`` equal bins from ``low`` to 1; scores below ``low``
    are counted in ``*_below``. ``impostor_top`` holds the highest impostor scores exactly
    (descending). ``genuine_shift``/``impostor_shift`` move the distributions to the right
    (site calibration); 0 for the shipped model.
    """

    model_id: str
    dataset: str
    created: str
    low: float
    genuine_hist: npt.NDArray[np.float64]
    genuine_below: float
    impostor_hist: npt.NDArray[np.float64]
    impostor_below: float
    impostor_top: npt.NDArray[np.float64]
    tail_u: float
    tail_far_u: float
    tail_scale: float
    genuine_pairs: int
    impostor_pairs: int
    identities: int
    images: int
    genuine_shift: float = 0.0
    impostor_shift: float = 0.0
    source: str = "lfw"

    # -- construction ----------------------------------------------------------------------
    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ScoreModel:
        """Read the dictionary written by ``installer/make_score_model.py``.

        Raises:
            CalibrationError: not a score model of a format this version reads.
        """
        if data.get("format") != FORMAT:
            raise CalibrationError(f"Not a score model file of format {FORMAT} "
                                   f"(found {data.get('format')!r}).")
        try:
            grid = data["grid"]
            gen, imp = data["genuine"], data["impostor"]
            tail = imp["tail"]
            model = cls(
                model_id=str(data["model_id"]), dataset=str(data["dataset"]),
                created=str(data["created"]), low=float(grid["low"]),
                genuine_hist=np.asarray(gen["hist"], np.float64),
                genuine_below=float(gen["below"]),
                impostor_hist=np.asarray(imp["hist"], np.float64),
                impostor_below=float(imp["below"]),
                impostor_top=np.sort(np.asarray(imp["top"], np.float64))[::-1],
                tail_u=float(tail["u"]), tail_far_u=float(tail["far_u"]),
                tail_scale=float(tail["scale"]),
                genuine_pairs=int(gen["pairs"]), impostor_pairs=int(imp["pairs"]),
                identities=int(data["identities"]), images=int(data["images"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CalibrationError(f"The score model file is incomplete ({exc}).") from None
        bins = int(grid["bins"])
        if len(model.genuine_hist) != bins or len(model.impostor_hist) != bins \
                or not 0 < model.tail_far_u < 1 or model.tail_scale <= 0:
            raise CalibrationError("The score model file is inconsistent.")
        return model

    @property
    def bin_width(self) -> float:
        return (1.0 - self.low) / len(self.impostor_hist)

    @property
    def edges(self) -> npt.NDArray[np.float64]:
        return self.low + self.bin_width * np.arange(len(self.impostor_hist) + 1)

    def shifted(self, genuine: float, impostor: float, source: str) -> ScoreModel:
        """This model with both distributions moved right by the given amounts."""
        return dataclasses.replace(self, genuine_shift=genuine, impostor_shift=impostor,
                                   source=source)

    # -- the four rates --------------------------------------------------------------------
    def far(self, t: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """1:1 false accept rate: the share of impostor pairs scoring ``>= t``."""
        s = np.asarray(t, np.float64) - self.impostor_shift
        total = self.impostor_hist.sum() + self.impostor_below
        measured = _survival(s, self.low, self.impostor_hist, self.impostor_below, total)
        # Exact counts where the stored top scores reach (finer than the histogram).
        top = self.impostor_top
        in_top = s >= top[-1]
        if np.any(in_top):
            ascending = top[::-1]
            above = len(top) - np.searchsorted(ascending, s[in_top], side="left")
            measured = measured.copy()
            measured[in_top] = above / total
        fit = self.tail_far_u * np.exp(-(s - self.tail_u) / self.tail_scale)
        return np.where(s >= self.tail_u, np.maximum(fit, measured), measured)

    def frr(self, t: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """1:1 false reject rate: the share of genuine pairs scoring ``< t``."""
        s = np.asarray(t, np.float64) - self.genuine_shift
        total = self.genuine_hist.sum() + self.genuine_below
        return 1.0 - _survival(s, self.low, self.genuine_hist, self.genuine_below, total)

    def fpir(self, t: npt.ArrayLike, gallery_size: int) -> npt.NDArray[np.float64]:
        """1:N false accept per stranger visit: ``1 - (1 - FAR(t)) ** N``."""
        far = np.clip(self.far(t), 0.0, 1.0)
        with np.errstate(divide="ignore"):
            return -np.expm1(gallery_size * np.log1p(-far))

    def fnir(self, t: float, gallery_size: int, min_margin: float = MIN_MARGIN) -> float:
        """1:N false non-identification per look (see the module docstring)."""
        edges = self.edges + self.genuine_shift
        total = self.genuine_hist.sum() + self.genuine_below
        # The genuine mass above t in each bin (uniform within a bin).
        frac = np.clip((edges[1:] - t) / self.bin_width, 0.0, 1.0)
        mass = self.genuine_hist * frac / total
        where = np.maximum((edges[:-1] + edges[1:]) / 2, t)
        others = max(gallery_size - 1, 0)
        if others:
            far = np.clip(self.far(where - min_margin), 0.0, 1.0)
            with np.errstate(divide="ignore"):
                survive = np.exp(others * np.log1p(-far))
        else:
            survive = np.ones_like(mass)
        return float(np.clip(1.0 - np.sum(mass * survive), 0.0, 1.0))


def _survival(s: npt.NDArray[np.float64], low: float, hist: npt.NDArray[np.float64],
              below: float, total: float) -> npt.NDArray[np.float64]:
    """P(score >= s) from a histogram on [low, 1], linear within a bin."""
    bins = len(hist)
    width = (1.0 - low) / bins
    above = np.concatenate([np.cumsum(hist[::-1])[::-1], [0.0]])  # mass >= edge k
    pos = np.clip((s - low) / width, 0.0, float(bins))
    k = np.minimum(np.floor(pos).astype(int), bins - 1)
    inside = pos - k
    value = above[k + 1] + hist[k] * (1.0 - inside)
    value = np.where(pos >= bins, 0.0, value)
    value = np.where(s < low, hist.sum() + below, value)
    return np.asarray(value / total, np.float64)


# --- loading --------------------------------------------------------------------------------


@cache
def _load(path: Path) -> ScoreModel:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CalibrationError(f"The score model {path} cannot be read ({exc}).") from None
    return ScoreModel.from_json(data)


def load_score_model(model_id: str | None = None, path: Path | None = None) -> ScoreModel:
    """The shipped score model of an embedding model.

    Args:
        model_id: the embedding model id it must belong to (default: the search
            embedder's, :func:`turnstile.resources.embedder_model_id`; the confirming
            embedder's, :func:`turnstile.resources.confirm_model_id`, has its own file).
        path: read this file instead of the shipped one (its sha256 is not checked).

    Raises:
        ModelFileError: the shipped file is missing or corrupt.
        CalibrationError: the file belongs to another model (the expected rates would be
            wrong): rebuild it with ``installer/make_score_model.py``.
    """
    wanted = model_id or resources.embedder_model_id()
    if path is None:
        shipped = (resources.CONFIRM_SCORE_MODEL if wanted == resources.confirm_model_id()
                   else resources.SCORE_MODEL)
        path = resources.model_path(shipped)
    model = _load(path)
    if model.model_id != wanted:
        raise CalibrationError(
            f"The score model describes the face model {model.model_id}, but this station "
            f"uses {wanted}; the expected error rates would be wrong. Rebuild it with "
            "installer/make_score_model.py.")
    return model


# --- measuring a score model -----------------------------------------------------------------

GRID_LOW = 0.5
"""Scores below this (none of LFW's 29.6 million pairs) are counted, not binned (the search
embedder's grid: dlib's cosines all lie between 0.5 and 1)."""
CONFIRM_GRID_LOW = -1.0
"""The confirming embedder's grid starts at the cosine's own bound: SFace's LFW scores run
from about -0.35 to 1 (bins 0.002 wide, as fine against its spread as dlib's 0.0005)."""
GRID_BINS = 1000
"""0.0005 wide."""
TOP_KEPT = 5000
"""The highest impostor scores are stored exactly (FAR down to 1 pair in 29.6 million)."""
TAIL_FAR = 1e-4
"""The exponential tail is fitted to the impostor pairs above the score with this FAR."""
CHECK_FPIRS = (1e-1, 1e-2, 1e-3)
_CHUNK = 512


def _pair_histograms(emb: npt.NDArray[np.float32], code: npt.NDArray[np.int64],
                     grid_low: float = GRID_LOW
                     ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], int,
                                npt.NDArray[np.float64]]:
    """Every unordered pair: (genuine hist, impostor hist, impostor pairs below the grid,
    the TOP_KEPT highest impostor scores, descending)."""
    edges = np.linspace(grid_low, 1.0, GRID_BINS + 1)
    g_hist = np.zeros(GRID_BINS, np.int64)
    i_hist = np.zeros(GRID_BINS, np.int64)
    top = np.zeros(0)
    below = 0
    n = len(emb)
    for start in range(0, n, _CHUNK):
        stop = min(start + _CHUNK, n)
        s = (emb[start:stop] @ emb.T).astype(np.float64)
        upper = np.arange(n)[None, :] > np.arange(start, stop)[:, None]  # each pair once
        same = code[start:stop, None] == code[None, :]
        g, imp = s[upper & same], s[upper & ~same]
        if np.any(g < grid_low):
            raise CalibrationError("Same-person scores below the score grid: this is not the "
                                   "face model the grid was made for.")
        g_hist += np.histogram(np.minimum(g, 1.0), edges)[0]  # 1.0 goes in the last bin
        i_hist += np.histogram(np.minimum(imp, 1.0), edges)[0]
        below += int(np.sum(imp < grid_low))
        top = np.sort(np.concatenate([top, np.sort(imp)[-TOP_KEPT:]]))[-TOP_KEPT:]
    return g_hist, i_hist, below, top[::-1]


def _open_set_checks(emb: npt.NDArray[np.float32], ids: list[str], model: ScoreModel
                     ) -> dict[str, Any]:
    """The ``turnstile eval identify`` protocol on the same embeddings against the model's
    predictions: not independent data, a check of the independence approximation."""
    from turnstile.evaluation.identify import fnir_at_fpir, open_set_scores

    by_id: dict[str, list[int]] = {}
    for index, name in enumerate(ids):
        by_id.setdefault(name, []).append(index)
    gallery: list[int] = []
    gallery_ids: list[str] = []
    mated: list[int] = []
    mated_ids: list[str] = []
    strangers: list[int] = []
    for name, rows in by_id.items():
        if len(rows) >= 2:
            gallery.append(rows[0])
            gallery_ids.append(name)
            mated.extend(rows[1:])
            mated_ids.extend([name] * (len(rows) - 1))
        else:
            strangers.extend(rows)
    if not gallery or not strangers:
        return {}
    scores = open_set_scores(emb[gallery], gallery_ids, emb[mated], mated_ids, emb[strangers])
    at = []
    for fpir in CHECK_FPIRS:
        fnir, threshold = fnir_at_fpir(scores, fpir)
        threshold = round(threshold, 6)
        rates = expected_rates(threshold, len(gallery), model, min_margin=0.0)
        at.append({"threshold": threshold,
                   "measured_fpir": round(float(np.mean(scores.non_mated_best > threshold)), 5),
                   "predicted_fpir": round(rates.fpir, 5),
                   "measured_fnir": round(fnir, 4), "predicted_fnir": round(rates.fnir, 4)})
    return {"protocol": "turnstile eval identify: the first photo of each person with two or "
                        "more enrolled, their other photos probe, single-photo people are "
                        "strangers; min_margin 0",
            "gallery_size": len(gallery), "mated_probes": len(mated),
            "strangers": len(strangers), "at": at}


def score_model_data(emb: npt.NDArray[np.float32], ids: list[str], model_id: str, *,
                     dataset: str, created: str, grid_low: float = GRID_LOW
                     ) -> dict[str, Any]:
    """Summarise embeddings of labelled photos as a score model (the JSON the shipped file
    holds): histograms of every same-person and every different-person pair, the highest
    impostor scores, the fitted tail and the open-set checks. No embedding, photo or name
    goes into it.

    Args:
        emb: (N, D) L2-normalised embeddings.
        ids: the identity of each row.
        model_id: the embedding model they were made with.
        grid_low: where the histograms start (:data:`GRID_LOW` for the search embedder,
            :data:`CONFIRM_GRID_LOW` for the confirming one).

    Raises:
        CalibrationError: too few images or pairs to fit the tail.
    """
    _, code = np.unique(np.asarray(ids), return_inverse=True)
    g_hist, i_hist, below, top = _pair_histograms(emb, code.astype(np.int64), grid_low)
    total = int(i_hist.sum() + below)
    k = int(round(TAIL_FAR * total))
    if g_hist.sum() < 100 or k < 30 or k >= len(top):
        raise CalibrationError(f"Too few photos for a score model ({len(ids)} images, "
                               f"{int(g_hist.sum())} same-person pairs).")
    u = float(top[k - 1])  # k impostor pairs score >= u
    tail = {"u": round(u, 8), "far_u": round(k / total, 12),
            "scale": round(float(np.mean(top[:k] - u)), 8), "pairs_above_u": k}
    data: dict[str, Any] = {
        "format": FORMAT, "model_id": model_id, "dataset": dataset, "created": created,
        "recipe": "installer/make_score_model.py", "images": len(ids),
        "identities": int(code.max() + 1),
        "grid": {"low": grid_low, "high": 1.0, "bins": GRID_BINS},
        "genuine": {"pairs": int(g_hist.sum()), "below": 0, "hist": g_hist.tolist()},
        "impostor": {"pairs": total, "below": below, "hist": i_hist.tolist(),
                     "top": [round(float(v), 6) for v in top], "tail": tail},
    }
    model = ScoreModel.from_json(data)
    checks = _open_set_checks(emb, ids, model)
    checks["tail"] = {}
    for far in (1e-5, 1e-6, 1e-7):
        n_above = int(far * total)
        if n_above >= 1:
            t = float(top[n_above - 1])
            checks["tail"][f"{far:g}"] = {"score": round(t, 5),
                                          "measured": round(n_above / total, 10),
                                          "model": float(f"{float(model.far(t)):.3g}")}
    data["checks"] = checks
    return data


def lfw_identities(images_dir: Path) -> tuple[list[str], list[str]]:
    """(identity, path) of every image of a folder-per-identity data set, sorted."""
    from turnstile.evaluation.identify import IMAGE_SUFFIXES

    if not images_dir.is_dir():
        raise CalibrationError(f"{images_dir} is not a folder of identities (LFW's images/).")
    ids: list[str] = []
    paths: list[str] = []
    for person in sorted(p for p in images_dir.iterdir() if p.is_dir()):
        for image in sorted(person.iterdir()):
            if image.suffix.lower() in IMAGE_SUFFIXES:
                ids.append(person.name)
                paths.append(str(image))
    if not paths:
        raise CalibrationError(f"No images under {images_dir}.")
    return ids, paths


def measure_score_model(pipeline: Any, lfw_dir: Path, created: str | None = None, *,
                        confirm: bool = False, grid_low: float | None = None) -> ScoreModel:
    """Embed every image of ``lfw_dir/images`` with ``pipeline`` and build its score model
    (about 2 minutes for LFW on 2 cores; 4 with ``confirm``).

    Args:
        confirm: the score model of the pipeline's confirming embedder (SFace) instead of
            its search embedder.
        grid_low: where the histograms start (default :data:`GRID_LOW`, or
            :data:`CONFIRM_GRID_LOW` with ``confirm``).

    Raises:
        CalibrationError: ``confirm`` and the pipeline has no confirming embedder.
    """
    from turnstile.evaluation.lfw import embed_central, embed_central_faces

    ids, paths = lfw_identities(lfw_dir / "images")
    if confirm:
        if pipeline.confirm is None:
            raise CalibrationError("This pipeline has no confirming embedder.")
        done = embed_central(pipeline, paths, "LFW")
        assert done.confirm is not None
        emb, no_face, model_id = done.confirm, done.no_face, pipeline.confirm.model_id
    else:
        emb, no_face, _ = embed_central_faces(pipeline, paths, "LFW")
        model_id = pipeline.model_id
    if grid_low is None:
        grid_low = CONFIRM_GRID_LOW if confirm else GRID_LOW
    data = score_model_data(
        emb, ids, model_id, created=created or utcnow().strftime("%Y-%m-%d"),
        dataset=f"{lfw_dir}: {len(paths)} images, every pair ({int(no_face.sum())} without "
                "a detected face, embedded from a centre crop)", grid_low=grid_low)
    return ScoreModel.from_json(data)


# --- thresholds for a target -----------------------------------------------------------------


def _check_target(target_fpir: float) -> None:
    if not (isinstance(target_fpir, (int, float)) and math.isfinite(target_fpir)
            and 0.0 < target_fpir < 1.0):
        raise CalibrationError(f"The target false-accept rate must be between 0 and 1 "
                               f"(exclusive), e.g. 0.001; got {target_fpir!r}.")


def _check_size(gallery_size: int) -> None:
    if gallery_size < 0:
        raise CalibrationError(f"The number of people enrolled cannot be negative "
                               f"({gallery_size}).")


def expected_rates(threshold: float, gallery_size: int, score_model: ScoreModel,
                   min_margin: float = MIN_MARGIN,
                   search_model: ScoreModel | None = None) -> ExpectedRates:
    """Expected error rates at ``threshold`` with ``gallery_size`` people enrolled.

    With nobody enrolled nobody is let in: FPIR 0 and FNIR 1. With ``search_model``, the
    rates of the cascade (:func:`cascade_fnir`; ``score_model`` is then the confirming
    model's and its FPIR the cascade's upper bound, ``min_margin`` is not used).

    Raises:
        CalibrationError: a negative gallery size.
    """
    _check_size(gallery_size)
    far = float(score_model.far(threshold))
    frr = float(score_model.frr(threshold))
    if gallery_size == 0:
        return ExpectedRates(far, 0.0, 1.0, frr)
    fnir = (cascade_fnir(threshold, gallery_size, score_model, search_model)
            if search_model is not None
            else score_model.fnir(threshold, gallery_size, min_margin))
    return ExpectedRates(far, float(score_model.fpir(threshold, gallery_size)), fnir, frr)


def search_miss(gallery_size: int, search_model: ScoreModel, shortlist: int = SHORTLIST
                ) -> float:
    """The cascade's first stage: the share of looks at an enrolled person in which they
    are not among the search model's ``shortlist`` best candidates out of ``gallery_size``
    people (no threshold, no margin): ``1 - sum_s P_genuine(s) P(fewer than k of the N - 1
    others score above s)``, the others' scores taken as independent (binomial)."""
    others = max(gallery_size - 1, 0)
    if others < shortlist:
        return 0.0
    total = search_model.genuine_hist.sum() + search_model.genuine_below
    edges = search_model.edges + search_model.genuine_shift
    mids = (edges[:-1] + edges[1:]) / 2
    mass = search_model.genuine_hist / total
    p = np.clip(search_model.far(mids), 1e-300, 1.0 - 1e-16)
    log_p, log_q = np.log(p), np.log1p(-p)
    kept = np.zeros_like(p)
    for j in range(shortlist):  # P(exactly j others above s), j < k
        log_c = math.lgamma(others + 1) - math.lgamma(j + 1) - math.lgamma(others - j + 1)
        kept += np.exp(log_c + j * log_p + (others - j) * log_q)
    # genuine scores under the grid are not in ``mass``: counted as misses (errs high)
    return float(np.clip(1.0 - np.sum(mass * np.minimum(kept, 1.0)), 0.0, 1.0))


def cascade_fnir(threshold: float, gallery_size: int, confirm_model: ScoreModel,
                 search_model: ScoreModel) -> float:
    """The cascade's FNIR per look: the search model leaves the right person off its
    shortlist, or the confirming model scores them below ``threshold``; the two taken as
    independent (``1 - (1 - search miss) (1 - FRR(t))``). On the LFW open set (1,559
    people, the shipped accept threshold) it predicts 7.3 % (search miss 3.1 %) against
    6.1 % measured (3.4 %); with a shortlist of one it erred high, 16.4 % (12.7 %) against
    9.9 % (8.1 %)."""
    miss = search_miss(gallery_size, search_model)
    return float(1.0 - (1.0 - miss) * (1.0 - float(confirm_model.frr(threshold))))


def threshold_for_fpir(target_fpir: float, gallery_size: int, score_model: ScoreModel) -> float:
    """The lowest threshold whose expected FPIR with ``gallery_size`` people is at most
    ``target_fpir`` (unrounded). With nobody enrolled, the threshold for one person.

    Raises:
        CalibrationError: the target is not in (0, 1) or the gallery size is negative.
    """
    _check_target(target_fpir)
    _check_size(gallery_size)
    n = max(gallery_size, 1)
    # The FAR each comparison may have: invert 1 - (1 - far)^n = target.
    far_target = -math.expm1(math.log1p(-target_fpir) / n)
    lo, hi = score_model.low, 1.0 + score_model.impostor_shift
    if float(score_model.far(lo)) <= far_target:
        return lo
    for _ in range(80):  # FAR is non-increasing in t: bisect
        mid = (lo + hi) / 2
        if float(score_model.far(mid)) <= far_target:
            hi = mid
        else:
            lo = mid
    return hi


def _round_up(value: float) -> float:
    scale = 10 ** THRESHOLD_DECIMALS
    return math.ceil(value * scale - 1e-9) / scale


def _round_down(value: float) -> float:
    scale = 10 ** THRESHOLD_DECIMALS
    return math.floor(value * scale + 1e-9) / scale


@dataclass(frozen=True)
class Proposal:
    """Thresholds proposed for a target FPIR and what to expect from them.

    Attributes:
        at_size: the rates at the proposed accept threshold with ``gallery_size`` people
            (one person when nobody is enrolled yet).
        at_10x: the same threshold with ten times the people (growth warning).
        verify_threshold: the 1:1 threshold for the same target per attempt (1:1 mode).
        verify_frr: its expected false reject per attempt.
    """

    gallery_size: int
    target_fpir: float
    accept: float
    reject: float
    at_size: ExpectedRates
    at_10x: ExpectedRates
    verify_threshold: float
    verify_frr: float
    source: str

    def to_json(self) -> dict[str, Any]:
        return {
            "gallery_size": self.gallery_size, "target_fpir": self.target_fpir,
            "accept_threshold": self.accept, "reject_threshold": self.reject,
            "expected_fpir": self.at_size.fpir, "expected_fnir": self.at_size.fnir,
            "expected_fpir_10x": self.at_10x.fpir, "expected_fnir_10x": self.at_10x.fnir,
            "verify_threshold_1to1": self.verify_threshold,
            "expected_frr_1to1": self.verify_frr,
            "source": self.source,
        }


def propose_thresholds(target_fpir: float, gallery_size: int, score_model: ScoreModel,
                       min_margin: float = MIN_MARGIN,
                       search_model: ScoreModel | None = None) -> Proposal:
    """Accept and reject thresholds for ``target_fpir`` per stranger visit.

    The accept threshold is the lowest meeting the target, rounded up to 4 decimals; the
    reject threshold allows :data:`REJECT_FPIR_FACTOR` times the target (the grey zone in
    between asks people to step closer).

    Raises:
        CalibrationError: a target outside (0, 1) or a negative gallery size.
    """
    n = max(gallery_size, 1)  # nobody enrolled yet: plan for the first person
    accept = _round_up(threshold_for_fpir(target_fpir, n, score_model))
    loose = min(target_fpir * REJECT_FPIR_FACTOR, MAX_REJECT_FPIR)
    reject = min(_round_down(threshold_for_fpir(loose, n, score_model)), accept)
    verify = _round_up(threshold_for_fpir(target_fpir, 1, score_model))
    return Proposal(
        gallery_size=gallery_size, target_fpir=target_fpir, accept=accept, reject=reject,
        at_size=expected_rates(accept, n, score_model, min_margin, search_model),
        at_10x=expected_rates(accept, n * 10, score_model, min_margin, search_model),
        verify_threshold=verify, verify_frr=float(score_model.frr(verify)),
        source=score_model.source,
    )


def max_gallery_for(target_fpir: float, max_fnir: float, score_model: ScoreModel,
                    min_margin: float = MIN_MARGIN, limit: int = 10_000_000,
                    search_model: ScoreModel | None = None) -> int:
    """The largest number of people for which 1:N still meets ``target_fpir`` with an FNIR
    per look of at most ``max_fnir`` (0 when not even one person does); with
    ``search_model``, for the cascade."""
    def ok(n: int) -> bool:
        t = threshold_for_fpir(target_fpir, n, score_model)
        return expected_rates(t, n, score_model, min_margin, search_model).fnir <= max_fnir

    if not ok(1):
        return 0
    lo, hi = 1, 2
    while hi <= limit and ok(hi):
        lo, hi = hi, hi * 2
    if hi > limit:
        return limit
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if ok(mid) else (lo, mid)
    return lo


# --- the site's own scores -------------------------------------------------------------------


@dataclass(frozen=True)
class SiteEvidence:
    """Scores from a site's access log that calibration can trust, for one model.

    * ``genuine``: scores of ``granted`` and ``denied`` events (a known face recognised: the
      person may have been refused for being suspended or expired, but the face was theirs).
      Each is only known to be above the accept threshold of its day (``genuine_cut``, the
      event's logged threshold), so they are used as a distribution TRUNCATED there, never
      as a picture of the scores below it.
    * ``strangers``: best-match scores of ``unknown`` events. They are mostly strangers, but
      also employees the door did not recognise, which makes them look MORE like enrolled
      people than true strangers do (the estimate errs strict). They are censored above:
      a stranger scoring higher was asked to step closer or let in, and is not here. The log
      records the accept threshold, not the reject one in force, so only scores below
      ``stranger_cut`` (the lowest logged accept threshold minus the widest grey zone the
      settings allow, :data:`GREY_ZONE_GUARD`) are used.
    """

    genuine: npt.NDArray[np.float64]
    genuine_cut: npt.NDArray[np.float64]
    strangers: npt.NDArray[np.float64]
    stranger_cut: float
    days: int


GREY_ZONE_GUARD = 0.03
"""How far below the logged accept threshold the reject threshold may have been (cosine).
Unknown events above ``min(accept logged) - GREY_ZONE_GUARD`` are not used."""


def site_evidence(db: Database, model_id: str, days: int = SITE_DAYS,
                  now: datetime | None = None) -> SiteEvidence:
    """Read the usable scores of the last ``days`` days from the access log (see
    :class:`SiteEvidence`). Only events logged with ``model_id`` count: scores of another
    model are not comparable."""
    start = (now or utcnow()) - timedelta(days=days)
    stmt = select(AccessEvent.decision, AccessEvent.score, AccessEvent.threshold).where(
        AccessEvent.at >= start, AccessEvent.model_id == model_id,
        AccessEvent.score.is_not(None),
        AccessEvent.decision.in_(["granted", "denied", "unknown"]))
    genuine: list[float] = []
    cuts: list[float] = []
    unknown: list[tuple[float, float | None]] = []
    with db.session() as s:
        for decision, score, threshold in s.execute(stmt):
            if not math.isfinite(score):
                continue
            if decision == "unknown":
                unknown.append((float(score), threshold))
            elif threshold is not None and math.isfinite(threshold) and score >= threshold:
                genuine.append(float(score))
                cuts.append(float(threshold))
    logged = [t for _, t in unknown if t is not None and math.isfinite(t)]
    stranger_cut = (min(logged) if logged else 0.0) - GREY_ZONE_GUARD
    strangers = [score for score, _ in unknown if score < stranger_cut]
    return SiteEvidence(np.asarray(genuine), np.asarray(cuts), np.asarray(strangers),
                        stranger_cut, days)


def _bisect_shift(mean_u: Any, lo: float = -MAX_SITE_SHIFT, hi: float = MAX_SITE_SHIFT
                  ) -> float | None:
    """The shift where ``mean_u(shift) == 0.5`` (mean_u decreasing in shift), or None when
    it lies outside [lo, hi]."""
    if mean_u(lo) < 0.5 or mean_u(hi) > 0.5:
        return None
    for _ in range(50):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if mean_u(mid) > 0.5 else (lo, mid)
    return (lo + hi) / 2


def site_score_model(base: ScoreModel, evidence: SiteEvidence, gallery_size: int
                     ) -> tuple[ScoreModel, float, float]:
    """Move the LFW distributions to where the site's scores lie.

    Each shift is found so that the site's scores, put through the shifted model's
    distribution truncated where the log truncates them, are uniform on average (mean 0.5):
    the genuine scores against the genuine distribution above each event's threshold, the
    stranger scores against the best-of-N impostor distribution ``(1 - FAR(s)) ** N`` below
    the cut, N being today's number of people. The impostor shift is at least 0 (the log
    cannot prove that strangers look less alike than on LFW).

    Returns:
        ``(model, genuine_shift, impostor_shift)``.

    Raises:
        CalibrationError: too few events (the message gives the counts needed), nobody
            enrolled, or the log does not fit the model within +-0.1.
    """
    if len(evidence.genuine) < MIN_SITE_GENUINE or len(evidence.strangers) < MIN_SITE_STRANGERS:
        raise CalibrationError(
            f"Too few scores in the last {evidence.days} days of the access log to calibrate "
            f"on this site: {len(evidence.genuine)} recognised faces (needs "
            f"{MIN_SITE_GENUINE}) and {len(evidence.strangers)} unknown faces"
            f"{f' below {evidence.stranger_cut:.4f}' if len(evidence.strangers) else ''} "
            f"(needs {MIN_SITE_STRANGERS}). Use the LFW "
            "reference (--from lfw) until the door has seen more people.")
    if gallery_size < 1:
        raise CalibrationError("Nobody is enrolled: the site's unknown faces cannot be "
                               "compared with anyone.")

    def genuine_u(shift: float) -> float:
        model = base.shifted(shift, 0.0, "site")
        below = model.frr(evidence.genuine)
        cut = model.frr(evidence.genuine_cut)
        room = 1.0 - cut
        # Nothing left above the cut: the model sits too far left of these scores (u = 1).
        u = np.where(room > 1e-12, (below - cut) / np.maximum(room, 1e-12), 1.0)
        return float(np.mean(np.clip(u, 0.0, 1.0)))

    def stranger_u(shift: float) -> float:
        model = base.shifted(0.0, shift, "site")
        cdf = 1.0 - model.fpir(evidence.strangers, gallery_size)
        top = 1.0 - float(model.fpir(evidence.stranger_cut, gallery_size))
        if top <= 1e-12:  # nothing left below the cut: the model sits too far right (u = 0)
            return 0.0
        return float(np.mean(np.clip(cdf / top, 0.0, 1.0)))

    g_shift = _bisect_shift(genuine_u)
    i_shift = _bisect_shift(stranger_u)
    if g_shift is None or i_shift is None:
        raise CalibrationError(
            "The scores in the access log do not look like this face model's scores (a "
            f"shift of more than {MAX_SITE_SHIFT} would be needed). Was the camera or the "
            "model changed? Use the LFW reference (--from lfw).")
    i_shift = max(i_shift, 0.0)
    log.info("site calibration: genuine shift %+.4f, impostor shift %+.4f (%d and %d events)",
             g_shift, i_shift, len(evidence.genuine), len(evidence.strangers))
    return base.shifted(g_shift, i_shift, "site"), g_shift, i_shift


# --- the gallery and stored thresholds -------------------------------------------------------


def gallery_size(db: Database) -> int:
    """The number of active people (those the door compares a face with)."""
    with db.session() as s:
        return repo.count_employees(s, status="active")


def store_thresholds(db: Database, model_id: str, proposal: Proposal) -> dict[str, float]:
    """Store the proposed accept and reject thresholds for ``model_id``.

    Returns:
        the values stored before (by name; empty for names that had none).
    """
    when = utcnow().strftime("%Y-%m-%d")
    source = (f"{CALIBRATE_SOURCE_PREFIX} --from {proposal.source}, {proposal.gallery_size} "
              f"people, FPIR {proposal.target_fpir:g}, {when}")
    with db.session() as s:
        before = {k: v for k, v in repo.get_thresholds(s, model_id).items()
                  if k in ("accept", "reject")}
        # Reject first would break reject <= accept only in the reading code, not here: both
        # rows change in one transaction.
        repo.set_threshold(s, model_id, "accept", proposal.accept,
                           target_far=proposal.target_fpir, source=source)
        repo.set_threshold(s, model_id, "reject", proposal.reject,
                           target_far=min(proposal.target_fpir * REJECT_FPIR_FACTOR, 1.0),
                           source=source)
    return before


def reset_thresholds(db: Database, model_id: str) -> list[str]:
    """Remove the accept/reject thresholds calibration stored for ``model_id`` (the shipped
    defaults apply again). Returns the names removed."""
    removed = []
    with db.session() as s:
        for name in ("accept", "reject"):
            row = s.get(ModelThreshold, (model_id, name))
            if row is not None:
                s.delete(row)
                removed.append(name)
    return removed
