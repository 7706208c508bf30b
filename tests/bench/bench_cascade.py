"""Benchmark of the door's cascade (search model every frame, confirming model about once per
decision). Prints medians, never pass/fail.

Sections:

* ``stage``: the cost of one run of each model on real faces in 640x480 door frames: the
  search embedding (alignment, dlib ResNet on the chip and its mirror; one and two
  threads) and the confirming one (Face Mesh, ArcFace alignment, SFace; one thread, as
  shipped); rounds interleaved.
* ``door``: whole passages (an enrolled person, then a stranger, 2.5 s at 30 fps each)
  through the door station with the cascade and with the search model alone, alternately:
  the median frame time, the frames on which the confirming model ran, and how many times it
  ran per passage.

    python tests/bench/bench_cascade.py [--data ../shared/data] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "door"))

from door_support import FPS, Portrait, empty_frames, passage_frames  # noqa: E402

from turnstile.app import AppContext, build_pipeline  # noqa: E402
from turnstile.capture.base import CapturedFrame  # noqa: E402
from turnstile.config import Settings  # noqa: E402
from turnstile.door.station import DoorStation, load_snapshot  # noqa: E402
from turnstile.matching.door_policy import DoorPolicy  # noqa: E402

PHOTOS = ["Barack_Obama/obama.jpg", "Barack_Obama/obama2.jpg", "Joe_Biden/biden.jpg",
          "Kit_Harington/john1.jpeg", "Alex_Lacamoire/img1.jpg", "Rose_Leslie/img1.jpg"]


def ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.2f} ms" if values else "n/a"


def bench_stage(data: Path, rounds: int) -> None:
    pipeline = build_pipeline("door")
    samples = []
    for name in PHOTOS:
        frame = Portrait(data / "people" / name).frame(150.0)
        faces = pipeline.detect(frame)
        if faces:
            samples.append((frame, faces[0]))
    times: dict[str, list[float]] = {k: [] for k in (
        "search, 2 threads", "search, 1 thread", "confirm", "  face mesh", "  alignment",
        "  SFace")}
    confirm = pipeline.confirm
    assert confirm is not None
    calls = {
        "search, 2 threads": lambda frame, face: pipeline.embed(frame, [face]),
        "search, 1 thread": lambda frame, face: pipeline.embed(frame, [face], True),
        "confirm": lambda frame, face: pipeline.confirm_embed(frame, face),
    }
    for _ in range(rounds):
        for frame, face in samples:
            for label, call in calls.items():
                start = time.perf_counter()
                call(frame, face)
                times[label].append(time.perf_counter() - start)
            start = time.perf_counter()
            confirm.mesh.landmarks(frame, face)
            times["  face mesh"].append(time.perf_counter() - start)
            start = time.perf_counter()
            chip = confirm.chip(frame, face)
            times["  alignment"].append(time.perf_counter() - start - times["  face mesh"][-1])
            start = time.perf_counter()
            confirm.embedder.embed(chip)
            times["  SFace"].append(time.perf_counter() - start)
    print(f"stage: {len(samples)} faces x {rounds} rounds, median per face")
    for label, values in times.items():
        print(f"  {label:22s} {ms(values)}")


def bench_door(data: Path, rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench_cascade_") as folder:
        work = Path(folder)
        os.environ["TURNSTILE_HOME"] = str(work / "home")
        ctx = AppContext(Settings(), database_url="sqlite:///" + str(work / "bench.db"))
        ctx.enrollment.enroll(data / "people" / "Barack_Obama" / "obama.jpg",
                              employee_number="E1", name="Barack Obama", consent=True)
        pipeline = build_pipeline("door")
        snapshots = {
            "cascade": ctx.door_snapshot(pipeline.model_id, pipeline.embedder.dim),
            "search alone": load_snapshot(ctx.db, pipeline.model_id, pipeline.embedder.dim,
                                          ctx.thresholds()),
        }
        ctx.close()
    passages = {
        "enrolled": passage_frames(Portrait(data / "people" / "Barack_Obama" / "obama2.jpg"),
                                   int(2.5 * FPS), seed=1),
        "stranger": passage_frames(Portrait(data / "people" / "Joe_Biden" / "biden.jpg"),
                                   int(2.5 * FPS), seed=2),
    }
    gap = empty_frames(20)
    for who, frames in passages.items():
        stats: dict[str, dict[str, list[float]]] = {
            k: {"frame": [], "confirm frame": [], "runs": [], "passage": []} for k in snapshots}
        for r in range(rounds):
            order = list(snapshots) if r % 2 == 0 else list(reversed(snapshots))
            for name in order:
                station = DoorStation(pipeline, DoorPolicy(3), snapshot=snapshots[name])
                total = 0.0
                for i, image in enumerate(gap + frames):
                    t = i / FPS
                    runs = station.confirm_runs
                    start = time.perf_counter()
                    station.process(CapturedFrame(image, i, t), i, now=t)
                    took = time.perf_counter() - start
                    total += took
                    if i >= len(gap):
                        key = "confirm frame" if station.confirm_runs > runs else "frame"
                        stats[name][key].append(took)
                stats[name]["runs"].append(station.confirm_runs)
                stats[name]["passage"].append(total)
        print(f"door, {who} person ({len(frames)} frames of a face, {rounds} passages each):")
        for name, s in stats.items():
            runs = statistics.median(s["runs"])
            print(f"  {name:13s} frame {ms(s['frame'])}; frames running the confirming model "
                  f"{ms(s['confirm frame'])} ({runs:g} per passage); whole passage "
                  f"{statistics.median(s['passage']) * 1000:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", default="stage,door")
    args = parser.parse_args()
    only = set(args.only.split(","))
    if "stage" in only:
        bench_stage(args.data, args.rounds)
    if "door" in only:
        bench_door(args.data, args.rounds)


if __name__ == "__main__":
    main()
