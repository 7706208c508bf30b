"""Derive where BlazeFace's keypoints fall on dlib's 150x150 face chip.

dlib's ResNet was trained on chips made by ``dlib.get_face_chip(img, shape, 150, 0.25)``
from its own 5-point landmarks. Turnstile aligns with BlazeFace keypoints instead, so it needs
the mean position of each BlazeFace keypoint on such chips: this script makes dlib chips of
real faces, runs Turnstile's detector on each chip (centred on a grey canvas so the face is
not cut), and prints the mean keypoint positions, to be pasted into
``turnstile/vision/align.py``.

Needs the dev-only packages ``dlib-bin`` and ``face-recognition-models``:

    python installer/derive_chip_template.py ../shared/data/lfw/images --limit 2000
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import dlib  # type: ignore[import-not-found]
import face_recognition_models  # type: ignore[import-not-found]
import numpy as np

from turnstile.app import build_detector
from turnstile.vision.imageio import read_image

CHIP_PX = 150
CHIP_PADDING = 0.25
CANVAS_PX = 300


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("images", type=Path, help="folder searched for *.jpg")
    parser.add_argument("--limit", type=int, default=2000)
    args = parser.parse_args()

    hog = dlib.get_frontal_face_detector()
    five_points = face_recognition_models.pose_predictor_five_point_model_location()
    shaper = dlib.shape_predictor(five_points)
    detector = build_detector("door")
    paths = sorted(args.images.rglob("*.jpg"))
    random.Random(0).shuffle(paths)

    found = []
    for path in paths[: args.limit]:
        rgb = np.ascontiguousarray(read_image(path)[:, :, ::-1])
        rects = hog(rgb, 1)
        if len(rects) == 0:
            continue
        rect = max(rects, key=lambda r: r.area())
        chip = dlib.get_face_chip(rgb, shaper(rgb, rect), size=CHIP_PX, padding=CHIP_PADDING)
        canvas = np.full((CANVAS_PX, CANVAS_PX, 3), 128, np.uint8)
        off = (CANVAS_PX - CHIP_PX) // 2
        canvas[off:off + CHIP_PX, off:off + CHIP_PX] = chip[:, :, ::-1]
        faces = detector.detect(canvas)
        if faces:
            found.append(faces[0].landmarks - off)
    points = np.stack(found)
    mean = points.mean(0)
    spread = points.std(0)
    print(f"# mean of {len(found)} chips; std per point (px): "
          f"{np.round(spread.mean(1), 2).tolist()}")
    print("CHIP_KEYPOINTS_150 = np.array([")
    for x, y in mean:
        print(f"    [{x:.3f}, {y:.3f}],")
    print("], np.float32)")


if __name__ == "__main__":
    main()
