"""The one place that knows where shipped files live.

In a checkout (or an editable install) the model files are in ``<repo>/assets``; in a wheel
they are packed into ``turnstile/assets``; in a PyInstaller bundle they are under
``sys._MEIPASS/turnstile/assets``. Every model file is pinned by sha256 here, so a truncated
or swapped file is refused with one clear error.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from turnstile.errors import ModelFileError


@dataclass(frozen=True)
class ModelFile:
    """A shipped model: its file name in ``assets/`` and the sha256 it must have."""

    filename: str
    sha256: str


DETECTOR_SHORT_RANGE = ModelFile(
    "face_detection_short_range.tflite",
    "3bc182eb9f33925d9e58b5c8d59308a760f4adea8f282370e428c51212c26633",
)
DETECTOR_FULL_RANGE = ModelFile(
    "face_detection_full_range.tflite",
    "99bf9494d84f50acc6617d89873f71bf6635a841ea699c17cb3377f9507cfec3",
)
FACE_MESH = ModelFile(
    "face_landmark.tflite",
    "2efcb4f4de43c7614b80a3cc3e8a37354b3b3b40f75cce20f6f38f0f25d65493",
)
"""MediaPipe Face Mesh: 468 landmarks (precise alignment, eye blinks for liveness)."""

EMBEDDER = ModelFile(
    "dlib_resnet_v1.tflite",
    "131a069dbea5bb69b16413e00feb0359ea054cc11fe0bb11f2f08250f49c91e1",
)
"""dlib's 128-d face-recognition ResNet converted to TFLite (see assets/MODELS.md)."""

CONFIRM_EMBEDDER = ModelFile(
    "sface_2021dec_int8.tflite",
    "470ac55062b9b40a98965baf1a8782ecc1bb3dd77725e7d567030ca8aa862e4a",
)
"""OpenCV Zoo's SFace (2021dec) converted to TFLite: the stronger, slower embedder that
confirms (or refuses) the person the fast one found (see assets/MODELS.md)."""

SCORE_MODEL = ModelFile(
    "score_model_dlib_resnet_v1_131a069dbea5_bf4.json",
    "9e5709f73139182b81b55973d73f7d631da74d86bceeb803dc0e2edf0424e6c8",
)
"""The embedder's genuine and impostor score distributions on LFW (counts only), from which
``turnstile calibrate`` and the Settings page work out expected error rates; made by
``installer/make_score_model.py`` for the model id in its name."""


CONFIRM_SCORE_MODEL = ModelFile(
    "score_model_sface_2021dec_470ac55062b9_mesh5.json",
    "656e759e00506bea9345acdd3742ca84281808b3ddbb285d35b930d3f43ab2ac",
)
"""The confirming embedder's score distributions on LFW (same format; made by
``installer/make_score_model.py --confirm``)."""


ALIGNMENT_VERSION = "bf4"
"""Names the alignment recipe (BlazeFace, 4 keypoints onto the dlib chip template): a change
of recipe changes the embeddings, so it is part of the model id."""


def embedder_model_id() -> str:
    """Names the embedding space: templates made by another model or alignment recipe are not
    comparable, and the galleries load only templates with the current id."""
    return f"dlib_resnet_v1@{EMBEDDER.sha256[:12]}/{ALIGNMENT_VERSION}"


CONFIRM_ALIGNMENT_VERSION = "mesh5"
"""Names the confirming embedder's alignment recipe (Face Mesh eye centres, nose tip and mouth
corners onto the ArcFace 112 template)."""


def confirm_model_id() -> str:
    """Names the confirming embedder's space (SFace templates are stored under it)."""
    return f"sface_2021dec@{CONFIRM_EMBEDDER.sha256[:12]}/{CONFIRM_ALIGNMENT_VERSION}"


def _candidates() -> list[Path]:
    here = Path(__file__).resolve().parent
    found = [here / "assets", here.parent / "assets"]
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:
        found.insert(0, Path(frozen_root) / "turnstile" / "assets")
    return found


def assets_dir() -> Path:
    """Return the folder holding the shipped model files.

    Raises:
        ModelFileError: when no assets folder exists (a broken install).
    """
    for candidate in _candidates():
        if candidate.is_dir():
            return candidate
    raise ModelFileError(
        "The model folder is missing from this installation (looked in "
        + ", ".join(str(c) for c in _candidates())
        + "). Reinstall Turnstile."
    )


@cache
def _verified(path: Path, size: int, mtime_ns: int, expected: str) -> bool:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return digest == expected


def icon_path() -> Path | None:
    """The application icon (None when the assets folder has none)."""
    try:
        path = assets_dir() / "turnstile.png"
    except ModelFileError:
        return None
    return path if path.is_file() else None


def model_path(model: ModelFile, root: Path | None = None) -> Path:
    """Return the path of a shipped model after checking its sha256.

    Args:
        model: which model.
        root: folder to look in instead of the shipped assets (tests use this).

    Raises:
        ModelFileError: the file is missing, unreadable or has another sha256; the message
            names the file and the sha256 expected.
    """
    path = (root or assets_dir()) / model.filename
    try:
        stat = path.stat()
        ok = _verified(path, stat.st_size, stat.st_mtime_ns, model.sha256)
    except OSError as exc:
        raise ModelFileError(
            f"Model file {path} cannot be read ({exc.strerror or exc}). "
            f"Expected a file with sha256 {model.sha256}. Reinstall Turnstile."
        ) from exc
    if not ok:
        raise ModelFileError(
            f"Model file {path} is corrupt or not the expected file: "
            f"its sha256 differs from {model.sha256}. Reinstall Turnstile."
        )
    return path
