"""Per-frame cost of the liveness check (issue 6: at most 3 ms a frame on 2 cores).

Run: ``python tests/bench/bench_liveness.py [DATA_DIR]``. Frames are the real selfie clip
(``video/selfie_blinks.mp4`` from ``../shared/data``) shown as the door camera would see it
(640 x 480); without the data folder, the scikit-image astronaut with camera noise.

Printed: the median, mean and 90th percentile per frame of

* ``tracker``: :meth:`LivenessTracker.update` given the mesh points;
* ``mesh``: the face mesh alone;
* ``tracker + mesh``: :meth:`update` computing the mesh itself (the CPU the check costs: the
  door pipeline aligns on BlazeFace's keypoints and has no mesh of its own);
* the cues one by one (blink, moire, motion), to see where the time goes;
* ``door frame``: what the issue's bar is about, the door station's whole work on a frame
  (:meth:`DoorStation.process`: detection, alignment, embedding, matching, decision) with
  the person enrolled, liveness off and passive, frame by frame on the same frames; the
  difference is what liveness adds to each frame at the door. The door runs the check on a
  thread of its own while it embeds the face on the other core
  (:class:`~turnstile.door.liveness_gate.DoorLiveness`), so this is less than the check's
  CPU time.

The detector runs before the timed part of the first sections (it is the door's, not
liveness's).
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from turnstile import resources  # noqa: E402
from turnstile.app import build_detector  # noqa: E402
from turnstile.vision.landmarks import FaceMesh  # noqa: E402
from turnstile.vision.liveness import (  # noqa: E402
    LivenessConfig,
    LivenessMode,
    LivenessTracker,
)
from turnstile.vision.liveness_cues import BlinkCue, MotionCue, moire_score  # noqa: E402

FRAMES = 240


def _frames(data_dir: Path) -> tuple[list[np.ndarray], str]:
    video = data_dir / "video" / "selfie_blinks.mp4"
    if video.is_file():
        from turnstile.evaluation.attacks import Split, genuine_stream

        detector = build_detector("photo")
        cap = cv2.VideoCapture(str(video))
        ok, first = cap.read()
        cap.release()
        box = detector.detect(first)[0].box
        stream = genuine_stream(video, box, name="bench", split=Split.TUNING, seed=1,
                                start_s=0.0, duration_s=FRAMES / 23.9)
        return [f for _, f in stream.frames()], f"{video} as the door camera sees it"
    from skimage import data

    rng = np.random.default_rng(0)
    base = np.full((480, 640, 3), 90, np.uint8)
    base[:, 64:576] = data.astronaut()[16:496, :, ::-1]
    frames = [np.clip(base + rng.normal(0, 2, base.shape), 0, 255).astype(np.uint8)
              for _ in range(FRAMES)]
    return frames, "the scikit-image astronaut with camera noise (no shared data found)"


def _ms(samples: list[float]) -> str:
    ordered = sorted(samples)
    p90 = ordered[int(0.9 * (len(ordered) - 1))]
    return (f"median {statistics.median(samples) * 1e3:6.2f} ms   mean "
            f"{statistics.fmean(samples) * 1e3:6.2f} ms   p90 {p90 * 1e3:6.2f} ms")


def _door_frames(frames: list[np.ndarray], fps: float) -> tuple[dict[str, list[float]], int]:
    """The station's time per frame, liveness off and passive, on each frame in turn (which
    goes first alternates); and how many frames the check examined."""
    import tempfile

    from turnstile.app import AppContext, build_pipeline
    from turnstile.capture.base import CapturedFrame
    from turnstile.config import Settings
    from turnstile.door.liveness_gate import build_door_liveness
    from turnstile.door.station import DoorStation, load_snapshot
    from turnstile.matching.door_policy import DoorPolicy

    with tempfile.TemporaryDirectory(prefix="bench_liveness_") as folder:
        work = Path(folder)
        os.environ["TURNSTILE_HOME"] = str(work / "home")
        ctx = AppContext(Settings(), database_url="sqlite:///" + str(work / "bench.db"))
        ctx.enrollment.enroll(frames[0], employee_number="E1", name="Selfie person",
                              consent=True, force=True, face_index=0)
        pipeline = build_pipeline("door")
        snapshot = load_snapshot(ctx.db, pipeline.model_id, pipeline.embedder.dim,
                                 ctx.thresholds())
        ctx.close()
    liveness = build_door_liveness("passive", 3, 10.0)
    assert liveness is not None
    stations = {"off": DoorStation(pipeline, DoorPolicy(3), snapshot=snapshot),
                "passive": DoorStation(pipeline, DoorPolicy(3), snapshot=snapshot,
                                       liveness=liveness)}
    timings: dict[str, list[float]] = {name: [] for name in stations}
    checked = 0
    for rounds in range(2):
        for i, image in enumerate(frames[1:]):
            t = (rounds * len(frames) + i) / fps
            order = ("off", "passive") if i % 2 else ("passive", "off")
            for name in order:
                frame = CapturedFrame(image, i, t)
                start = time.perf_counter()
                stations[name].process(frame, i, now=t)
                timings[name].append(time.perf_counter() - start)
            checked += not liveness.tracker.verdict.final
            # keep the check running (a final verdict is cheap): a fresh passage each time
            if liveness.tracker.verdict.final:
                liveness.reset()
                stations["passive"].policy.reset()
    stations["passive"].close()
    return timings, checked


def main() -> None:
    data_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "data"
    frames, what = _frames(data_dir)
    detector = build_detector("door")
    mesh = FaceMesh(resources.model_path(resources.FACE_MESH))
    faces = [detector.detect(f) for f in frames]
    pairs = [(f, d[0]) for f, d in zip(frames, faces) if d]
    points = [mesh.landmarks(f, face)[0] for f, face in pairs]
    fps = 23.9

    timings: dict[str, list[float]] = {k: [] for k in
                                       ("tracker", "mesh", "tracker + mesh", "blink", "moire",
                                        "motion")}
    tracker = LivenessTracker(LivenessMode.PASSIVE, mesh=mesh)
    for i, ((frame, face), pts) in enumerate(zip(pairs, points)):
        # a fresh attempt every 5 s of video, so the tracker never sits on a final verdict
        if tracker.verdict.final:
            tracker.reset()
        start = time.perf_counter()
        tracker.update(frame, face, i / fps, pts)
        timings["tracker"].append(time.perf_counter() - start)

        start = time.perf_counter()
        mesh.landmarks(frame, face)
        timings["mesh"].append(time.perf_counter() - start)

    tracker = LivenessTracker(LivenessMode.PASSIVE, mesh=mesh)
    for i, (frame, face) in enumerate(pairs):
        if tracker.verdict.final:
            tracker.reset()
        start = time.perf_counter()
        tracker.update(frame, face, i / fps)
        timings["tracker + mesh"].append(time.perf_counter() - start)

    blink, motion = BlinkCue(), MotionCue()
    for i, ((frame, face), pts) in enumerate(zip(pairs, points)):
        start = time.perf_counter()
        blink.update(frame, pts, i / fps)
        timings["blink"].append(time.perf_counter() - start)
        start = time.perf_counter()
        moire_score(frame, (float(pts[1][0]), float(pts[1][1])))
        timings["moire"].append(time.perf_counter() - start)
        start = time.perf_counter()
        motion.update(frame, face.box, pts, i / fps)
        timings["motion"].append(time.perf_counter() - start)

    door, checked = _door_frames(frames, fps)

    print(f"Liveness cost per frame: {len(pairs)} frames of {what}")
    print(f"  {os.cpu_count()} cores; the tracker itself is single-threaded, OpenCV may use "
          f"{cv2.getNumThreads()} threads")
    for name, samples in timings.items():
        print(f"  {name:<16} {_ms(samples)}")
    off, on = door["off"], door["passive"]
    print(f"  door frame, liveness off      {_ms(off)}")
    print(f"  door frame, liveness passive  {_ms(on)}")
    added = [b - a for a, b in zip(off, on)]
    print(f"  liveness adds to a door frame: median of the per-frame differences "
          f"{statistics.median(added) * 1e3:.2f} ms, difference of the medians "
          f"{(statistics.median(on) - statistics.median(off)) * 1e3:.2f} ms, of the means "
          f"{(statistics.fmean(on) - statistics.fmean(off)) * 1e3:.2f} ms "
          f"(the check was under way on {checked} of {len(on)} frames)")
    stride = LivenessConfig().mesh_stride
    print("  'tracker + mesh' is the CPU the check costs: the door pipeline aligns on")
    print("  BlazeFace's keypoints, so liveness runs the face mesh itself, on one frame in "
          f"{stride} (LivenessConfig.mesh_stride).")
    print("  'tracker' is the same given the mesh points. The motion cue works on one frame in")
    print("  three, so per-frame costs are periodic: the mean is the CPU a camera stream")
    print("  costs per frame, the p90 a heavy frame.")
    print("  'door frame': the door runs the check on its own thread while it embeds the face")
    print("  on the other core; the difference is the time liveness adds to a frame there.")


if __name__ == "__main__":
    main()
