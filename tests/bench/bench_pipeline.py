"""Benchmark: detect + align + embed on 640x480 frames, against face_recognition 1.3.

Prints median latency per frame with 1 face and with 3 faces, at 1 and 2 threads, the peak
RSS, and the same frames through face_recognition with its defaults (dlib HOG detector,
5-point landmarks, ResNet) in the same run, with the speed ratio. Figures, not pass/fail.

    python tests/bench/bench_pipeline.py [--data ../shared/data] [--repeat 30]

face_recognition is optional (``pip install '.[compare]'`` then
``pip install --no-deps face-recognition==1.3.0``); without it only Turnstile is timed.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from turnstile.app import build_pipeline  # noqa: E402
from turnstile.vision.imageio import read_image  # noqa: E402


def one_face_frame(data: Path) -> np.ndarray:
    """One person at the door: the face ~170 px wide in the middle of a 640x480 frame (both
    detectors find it, so both libraries do their whole job)."""
    return _tiles(data, [("Barack_Obama", "obama.jpg")], tile_size=(300, 420), face_share=0.55)


def three_faces_frame(data: Path) -> np.ndarray:
    """Three people side by side, each face ~130 px wide (the short-range detector's range
    in a 640x480 frame)."""
    return _tiles(data, [("Barack_Obama", "obama.jpg"), ("Joe_Biden", "biden2.jpg"),
                         ("Kit_Harington", "john2.jpeg")], tile_size=(213, 300),
                  face_share=0.45)


def _tiles(data: Path, sources: list[tuple[str, str]], tile_size: tuple[int, int],
           face_share: float) -> np.ndarray:
    """People's photos cropped around the face, side by side on a grey 640x480 frame."""
    from turnstile.app import build_detector

    canvas = np.full((480, 640, 3), 110, np.uint8)
    detector = build_detector("photo")
    tile_w, tile_h = tile_size
    left = (640 - tile_w * len(sources)) // 2
    top = (480 - tile_h) // 2
    for i, (person, name) in enumerate(sources):
        image = read_image(data / "people" / person / name)
        face = detector.detect(image)[0]
        x, y, w, h = (int(v) for v in face.box)
        # Crop so the face takes face_share of the tile's width, at the tile's aspect.
        crop_w = w / face_share
        crop_h = crop_w * tile_h / tile_w
        cx, cy = x + w / 2, y + h / 2
        x0, y0 = int(max(0, cx - crop_w / 2)), int(max(0, cy - crop_h / 2))
        crop = image[y0:int(cy + crop_h / 2), x0:int(cx + crop_w / 2)]
        tile = cv2.resize(crop, (tile_w, tile_h), interpolation=cv2.INTER_AREA)
        canvas[top:top + tile_h, left + i * tile_w:left + (i + 1) * tile_w] = tile
    return canvas


def median_ms(fn, frame: np.ndarray, repeat: int) -> float:
    fn(frame)  # warm up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(frame)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()

    frames = {"1 face": one_face_frame(args.data), "3 faces": three_faces_frame(args.data)}
    print(f"{'':24}{'1 face':>12}{'3 faces':>12}   (median ms per 640x480 frame)")
    ours: dict[str, float] = {}
    for threads in (1, 2):
        cv2.setNumThreads(threads)
        pipeline = build_pipeline(num_threads=threads)
        found = {k: len(pipeline.process(f)) for k, f in frames.items()}
        row = {k: median_ms(pipeline.process, f, args.repeat) for k, f in frames.items()}
        ours.update({f"{k}@{threads}": v for k, v in row.items()})
        print(f"{'turnstile, ' + str(threads) + ' thread(s)':24}"
              f"{row['1 face']:>12.2f}{row['3 faces']:>12.2f}   faces found {found}")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS after Turnstile: {peak_mb:.0f} MB")

    try:
        import face_recognition  # type: ignore[import-not-found]
    except ImportError:
        print("face_recognition is not installed: no comparison (see the docstring)")
        return

    def reference(frame: np.ndarray) -> list:
        rgb = np.ascontiguousarray(frame[:, :, ::-1])
        return face_recognition.face_encodings(rgb, face_recognition.face_locations(rgb))

    cv2.setNumThreads(2)
    found = {k: len(reference(f)) for k, f in frames.items()}
    ref = {k: median_ms(reference, f, max(5, args.repeat // 3)) for k, f in frames.items()}
    print(f"{'face_recognition 1.3':24}{ref['1 face']:>12.2f}{ref['3 faces']:>12.2f}"
          f"   faces found {found}")
    for threads in (1, 2):
        print(f"{'speed-up at ' + str(threads) + ' thread(s)':24}"
              f"{ref['1 face'] / ours[f'1 face@{threads}']:>11.1f}x"
              f"{ref['3 faces'] / ours[f'3 faces@{threads}']:>11.1f}x")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS after both: {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
