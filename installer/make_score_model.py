"""Build the shipped score model: how the face model's cosine scores are distributed.

Embeds every image of LFW (``../shared/data/lfw/images``, 7,701 images of 4,281 people) with
the real pipeline (door detector, alignment, shipped embedder, flip test-time augmentation),
scores every pair of images, and writes
``assets/score_model_<model id, sanitised>.json``:

* ``genuine``: histogram of the scores of every pair of photos of the same person;
* ``impostor``: histogram of the scores of every pair of photos of two different people
  (29.6 million pairs), the highest scores exactly, and the exponential tail fitted above
  the score with FAR 1e-4 (``TAIL_FAR``; see ``turnstile/services/calibration.py`` for how the
  tail is used and why it errs on the side of more false accepts);
* ``checks``: what the model predicts against what the open-set protocol of
  ``turnstile eval identify`` measures on the same embeddings.

Only counts of scores go into the file: no photo, no embedding, no name.

With ``--confirm`` the same is done for the confirming embedder (SFace on Face Mesh
five-point chips, no flip, as the door runs it), whose score decides 1:1 and confirms the
candidate in 1:N: ``assets/score_model_<confirming model id, sanitised>.json``. Its
histograms start at -1 (``CONFIRM_GRID_LOW``: SFace's cosines run from about -0.35 to 1,
dlib's from 0.5 to 1).

Usage (about 2 minutes on 2 cores; about 4 with ``--confirm``)::

    python installer/make_score_model.py [--lfw ../shared/data/lfw] [--date YYYY-MM-DD]
                                         [--confirm]

then put the sha256 it prints into ``SCORE_MODEL`` in ``turnstile/resources.py``. Re-running
it gives the same file for the same models and the same ``--date``. ``--cache FILE.npz``
keeps the embeddings between runs (put it outside the repository: they are biometric data).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import re
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from turnstile.services.calibration import (  # noqa: E402
    CONFIRM_GRID_LOW,
    GRID_LOW,
    lfw_identities,
    score_model_data,
)

DATASET = ("LFW, the 7,701 images named by the View-2 protocol, every pair of images (real "
           "pipeline: door detector, alignment, flip test-time augmentation; {no_face} images "
           "without a detected face embedded from a centre crop)")
CONFIRM_DATASET = ("LFW, the 7,701 images named by the View-2 protocol, every pair of images "
                   "(real pipeline: door detector, the confirming embedder on its Face Mesh "
                   "five-point chip, no flip; {no_face} images without a detected face "
                   "embedded from a centre crop)")


def sanitise(model_id: str) -> str:
    """``dlib_resnet_v1@131a069dbea5/bf4`` -> ``dlib_resnet_v1_131a069dbea5_bf4``."""
    return re.sub(r"[^A-Za-z0-9]+", "_", model_id).strip("_")


def embed(images: Path, cache: Path | None, confirm: bool = False
          ) -> tuple[np.ndarray, list[str], str, int]:
    """Embeddings of every image by the search embedder, or the confirming one."""
    ids, paths = lfw_identities(images)
    if cache is not None and cache.is_file():
        data = np.load(cache)
        if list(data["paths"]) == paths and bool(data.get("confirm", False)) == confirm:
            print(f"embeddings from {cache}")
            return data["emb"], ids, str(data["model_id"]), int(data["noface"].sum())
    from turnstile.app import build_pipeline
    from turnstile.evaluation.lfw import embed_central

    pipeline = build_pipeline("door", confirm=confirm)
    done = embed_central(pipeline, paths, "LFW")
    if confirm:
        assert done.confirm is not None and pipeline.confirm is not None
        emb, model_id = done.confirm, pipeline.confirm.model_id
    else:
        emb, model_id = done.search, pipeline.model_id
    print(f"embedded {len(paths)} images in {done.seconds:.0f} s, {int(done.no_face.sum())} "
          "without a detected face (centre crop)")
    if cache is not None:
        np.savez(cache, emb=emb, noface=done.no_face, paths=np.array(paths),
                 model_id=model_id, confirm=confirm)
    return emb, ids, model_id, int(done.no_face.sum())


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--lfw", type=Path, default=ROOT.parent / "shared" / "data" / "lfw",
                        help="LFW folder with images/ (default: ../shared/data/lfw)")
    parser.add_argument("--date", default=dt.date.today().isoformat(),
                        help="date written into the file (default: today)")
    parser.add_argument("--cache", type=Path, default=None,
                        help="keep the embeddings in this .npz between runs (not in the repo)")
    parser.add_argument("--out", type=Path, default=None, help="default: assets/score_model_*")
    parser.add_argument("--confirm", action="store_true",
                        help="the confirming embedder's (SFace) score model, not the search "
                             "embedder's")
    args = parser.parse_args()

    emb, ids, model_id, no_face = embed(args.lfw / "images", args.cache, args.confirm)
    data = score_model_data(
        emb, ids, model_id, created=args.date,
        dataset=(CONFIRM_DATASET if args.confirm else DATASET).format(no_face=no_face),
        grid_low=CONFIRM_GRID_LOW if args.confirm else GRID_LOW)
    out = args.out or ROOT / "assets" / f"score_model_{sanitise(model_id)}.json"
    text = json.dumps(data, separators=(",", ":")) + "\n"
    out.write_text(text, encoding="utf-8")
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    print(f"{data['images']} images of {data['identities']} people, model {model_id}")
    print(f"genuine pairs {data['genuine']['pairs']:,}, impostor pairs "
          f"{data['impostor']['pairs']:,}, tail {data['impostor']['tail']}")
    print(json.dumps(data["checks"], indent=1))
    print(f"wrote {out} ({len(text):,} bytes)\nsha256 {digest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
