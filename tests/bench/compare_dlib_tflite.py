"""Fidelity and latency of TFLite conversions of dlib's face-recognition ResNet.

Builds 150x150 face chips the way dlib does (HOG detector, 5-point shape predictor,
``dlib.get_face_chip(size=150, padding=0.25)``) from the photos in the shared data folder,
computes dlib's own descriptor for each chip, and compares every given ``.tflite`` with it:
cosine similarity (min / median), max absolute difference, the largest change of any
chip-to-chip score, single-chip ``invoke`` latency at each thread count, file size, and
whether a batch of 2 gives the same descriptors as two single calls.

Needs dlib, numpy and ai-edge-litert (the app venv, not the conversion venv)::

    python tests/bench/compare_dlib_tflite.py ../shared/data assets/dlib_resnet_v1.tflite \
        --lfw-images 300 --chips-cache /tmp/dlib_chips.npz
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import time
from pathlib import Path

import numpy as np

CHIP_SIZE_PX = 150
CHIP_PADDING = 0.25  # dlib's default, what compute_face_descriptor(img, shape) uses
HOG_UPSAMPLE = 1
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}
WARMUP_RUNS = 5


def _image_paths(data_dir: Path, lfw_images: int, lfw_offset: int) -> list[Path]:
    people = sorted(
        p for p in (data_dir / "people").glob("*/*") if p.suffix.lower() in IMAGE_SUFFIXES
    )
    lfw_all = sorted((data_dir / "lfw" / "images").glob("*/*.jpg"))
    # An even spread over the alphabet rather than the first few names.
    step = max(1, len(lfw_all) // max(1, lfw_images))
    return people + lfw_all[lfw_offset % step :: step][:lfw_images]


def make_chips(
    data_dir: Path, lfw_images: int, lfw_offset: int = 0
) -> tuple[np.ndarray, list[str]]:
    """All faces dlib's HOG detector finds, as aligned uint8 RGB chips (N, 150, 150, 3)."""
    import dlib
    import face_recognition_models as frm

    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(frm.pose_predictor_five_point_model_location())
    chips: list[np.ndarray] = []
    names: list[str] = []
    for path in _image_paths(data_dir, lfw_images, lfw_offset):
        img = dlib.load_rgb_image(str(path))
        for i, rect in enumerate(detector(img, HOG_UPSAMPLE)):
            shape = predictor(img, rect)
            chips.append(dlib.get_face_chip(img, shape, size=CHIP_SIZE_PX, padding=CHIP_PADDING))
            names.append(f"{path.relative_to(data_dir)}#{i}")
    return np.stack(chips).astype(np.uint8), names


def dlib_descriptors(chips: np.ndarray) -> tuple[np.ndarray, float]:
    """dlib's descriptors for the chips and its median per-chip time in ms."""
    import dlib
    import face_recognition_models as frm

    net = dlib.face_recognition_model_v1(frm.face_recognition_model_location())
    out = np.zeros((len(chips), 128), np.float32)
    times_ms = []
    for i, chip in enumerate(chips):
        t0 = time.perf_counter()
        out[i] = np.asarray(net.compute_face_descriptor(np.ascontiguousarray(chip)))
        times_ms.append((time.perf_counter() - t0) * 1e3)
    return out, statistics.median(times_ms)


def tflite_descriptors(model: Path, chips: np.ndarray, num_threads: int) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(model), num_threads=num_threads)
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    it.allocate_tensors()
    result = np.zeros((len(chips), 128), np.float32)
    for i, chip in enumerate(chips):
        it.set_tensor(inp["index"], chip[None].astype(np.float32))
        it.invoke()
        result[i] = it.get_tensor(out["index"])[0]
    return result


def invoke_latencies_ms(
    models: list[Path], chip: np.ndarray, threads: list[int], rounds: int, runs: int
) -> dict[tuple[Path, int], tuple[float, float]]:
    """Median single-chip ``invoke`` time per (model, threads): (quietest round, median round).

    The settings are interleaved round by round so that load from other processes on the
    machine hits them all alike; the quietest round is the best estimate of the real cost.
    """
    from ai_edge_litert.interpreter import Interpreter

    interpreters = {}
    for model in models:
        for n in threads:
            it = Interpreter(model_path=str(model), num_threads=n)
            it.allocate_tensors()
            it.set_tensor(it.get_input_details()[0]["index"], chip[None].astype(np.float32))
            for _ in range(WARMUP_RUNS):
                it.invoke()
            interpreters[model, n] = it
    per_round: dict[tuple[Path, int], list[float]] = {key: [] for key in interpreters}
    for _ in range(rounds):
        for key, it in interpreters.items():
            times_ms = []
            for _ in range(runs):
                t0 = time.perf_counter()
                it.invoke()
                times_ms.append((time.perf_counter() - t0) * 1e3)
            per_round[key].append(statistics.median(times_ms))
    return {key: (min(v), statistics.median(v)) for key, v in per_round.items()}


def batch_check(model: Path, chips: np.ndarray) -> float:
    """Max abs difference between a batch of 2 (resized input) and two single calls."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(model), num_threads=1)
    inp = it.get_input_details()[0]
    it.resize_tensor_input(inp["index"], [2, CHIP_SIZE_PX, CHIP_SIZE_PX, 3])
    it.allocate_tensors()
    it.set_tensor(inp["index"], chips[:2].astype(np.float32))
    it.invoke()
    batched = it.get_tensor(it.get_output_details()[0]["index"])
    single = tflite_descriptors(model, chips[:2], 1)
    return float(np.abs(batched - single).max())


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def max_pair_score_change(a: np.ndarray, b: np.ndarray) -> float:
    """Largest change of any chip-to-chip cosine score: what a match threshold sees."""
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return float(np.abs(a @ a.T - b @ b.T).max())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", type=Path, help="the shared data folder (people/, lfw/)")
    parser.add_argument("models", type=Path, nargs="+")
    parser.add_argument("--lfw-images", type=int, default=300, help="every k-th LFW image")
    parser.add_argument("--lfw-offset", type=int, default=0, help="another k-th: a held-out set")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=10, help="interleaved timing rounds")
    parser.add_argument("--runs", type=int, default=30, help="timed invokes per round")
    parser.add_argument(
        "--chips-cache", type=Path, help="npz keeping the chips and dlib's descriptors"
    )
    parser.add_argument("--target", type=float, default=0.9998, help="cosine to count below")
    args = parser.parse_args(argv)

    if args.chips_cache and args.chips_cache.exists():
        cached = np.load(args.chips_cache)
        chips, names, reference = cached["chips"], list(cached["names"]), cached["dlib"]
        print(f"{len(chips)} chips and their dlib descriptors from {args.chips_cache}")
    else:
        chips, names = make_chips(args.data_dir, args.lfw_images, args.lfw_offset)
        reference, dlib_ms = dlib_descriptors(chips)
        print(f"{len(chips)} chips; dlib compute_face_descriptor median {dlib_ms:.1f} ms/chip")
        if args.chips_cache:
            np.savez_compressed(
                args.chips_cache, chips=chips, names=np.array(names), dlib=reference
            )

    latencies = invoke_latencies_ms(args.models, chips[0], args.threads, args.rounds, args.runs)
    thread_cols = " | ".join(f"ms @{n} thr" for n in args.threads)
    print(f"(latency: quietest / median of {args.rounds} interleaved rounds of {args.runs})")
    print(
        f"\n| model | MB | cos min | cos median | max abs diff | max pair-score change "
        f"| below {args.target} | {thread_cols} | batch-2 diff |"
    )
    print("|---" * (8 + len(args.threads)) + "|")
    for model in args.models:
        got = tflite_descriptors(model, chips, num_threads=1)
        cos = cosine(got, reference)
        timing = " | ".join("{:.2f} / {:.2f}".format(*latencies[model, n]) for n in args.threads)
        print(
            f"| {model.name} | {model.stat().st_size / 1e6:.2f} | {cos.min():.6f} "
            f"| {np.median(cos):.6f} | {np.abs(got - reference).max():.2e} "
            f"| {max_pair_score_change(got, reference):.1e} | {int((cos < args.target).sum())} "
            f"| {timing} "
            f"| {batch_check(model, chips):.1e} |"
        )
        digest = hashlib.sha256(model.read_bytes()).hexdigest()
        worst = names[int(np.argmin(cos))]
        print(f"    sha256 {digest}; worst chip {worst}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
