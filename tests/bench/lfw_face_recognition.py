"""face_recognition 1.3 on the LFW View-2 protocol, scored exactly as ``turnstile eval lfw``
(the same pairs, folds, threshold search and metrics), so the two accuracies compare.

face_recognition runs with its defaults: dlib's HOG detector (one upsample), the 5-point
landmarks, the ResNet with one jitter; the central face of each image is used, and an image
where HOG finds no face is encoded from the whole 250x250 image as one face box (the same
rule Turnstile uses: never drop a pair). Scores are minus the Euclidean distance, the
library's own measure. Takes ~10 minutes on 2 cores.

    python tests/bench/lfw_face_recognition.py [../shared/data/lfw] [--json]

Needs ``pip install '.[compare]'`` then ``pip install --no-deps face-recognition==1.3.0``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from turnstile.evaluation import metrics  # noqa: E402
from turnstile.evaluation.lfw import read_pairs  # noqa: E402


def encode(face_recognition, path: str) -> tuple[np.ndarray, bool]:
    image = face_recognition.load_image_file(path)
    height, width = image.shape[:2]
    boxes = face_recognition.face_locations(image)
    if boxes:
        # (top, right, bottom, left): the box whose centre is nearest the image centre
        box = min(boxes, key=lambda b: np.hypot((b[1] + b[3]) / 2 - width / 2,
                                                (b[0] + b[2]) / 2 - height / 2))
        found = True
    else:
        box, found = (0, width - 1, height - 1, 0), False
    return face_recognition.face_encodings(image, [box])[0], found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", type=Path, nargs="?",
                        default=ROOT.parent / "shared" / "data" / "lfw")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    import face_recognition  # type: ignore[import-not-found]

    pairs = read_pairs(args.data_dir)
    paths = sorted({p.left for p in pairs} | {p.right for p in pairs})
    index = {p: i for i, p in enumerate(paths)}
    codes = np.zeros((len(paths), 128), np.float64)
    no_face = 0
    start = time.perf_counter()
    for i, path in enumerate(paths):
        codes[i], found = encode(face_recognition, path)
        no_face += not found
        if i % 500 == 0:
            print(f"  {i}/{len(paths)} images", file=sys.stderr, flush=True)
    seconds = time.perf_counter() - start
    left = codes[[index[p.left] for p in pairs]]
    right = codes[[index[p.right] for p in pairs]]
    scores = -np.linalg.norm(left - right, axis=1)
    same = np.array([p.same for p in pairs])
    folds = np.array([p.fold for p in pairs])
    accuracies, _ = metrics.kfold_accuracy(scores, same, folds)
    genuine, impostor = scores[same], scores[~same]
    report = {
        "library": "face_recognition 1.3.0 (HOG, 5-point, ResNet, 1 jitter)",
        "accuracy": float(np.mean(accuracies)), "accuracy_std": float(np.std(accuracies)),
        "auc": metrics.roc_auc(genuine, impostor),
        "tar_at_far_1e-2": metrics.tar_at_far(genuine, impostor, 1e-2),
        "tar_at_far_1e-3": metrics.tar_at_far(genuine, impostor, 1e-3),
        "no_face": no_face, "images": len(paths), "images_per_s": len(paths) / seconds,
    }
    if args.json:
        print(json.dumps(report))
    else:
        for key, value in report.items():
            print(f"{key:>16}: {value:.4f}" if isinstance(value, float) else
                  f"{key:>16}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
