"""``turnstile eval liveness``: how often a presentation attack passes, how often a live person
is refused.

Terms of ISO/IEC 30107-3 (biometric presentation-attack detection, testing and reporting):

* **APCER** (attack presentation classification error rate): the share of attack
  presentations of one PAI species (print, screen, replay, ...) accepted as live. The standard
  reports it per species; the headline figure is the worst species (``apcer``), the pooled
  share is given too.
* **BPCER** (bona fide presentation classification error rate): the share of genuine
  presentations not accepted as live within the liveness window.

Material (see :mod:`turnstile.evaluation.attacks` for how attacks are rendered):

* genuine: windows of ``video/selfie_blinks.mp4`` (the only real video of a live face we
  have: ONE person, 14 s) seen by the simulated door camera, plain, mirrored and at half the
  frame rate; the whole clip from its start is also reported on its own (it must be accepted
  within 3 s);
* attacks: print and screen attacks made from every face photo of ``people/``, the three
  live-face stills of ``spoof/`` and a fixed sample of LFW; the genuine clip replayed on a
  screen; the ``spoof/`` photos of a real print and a real tablet attack, shaken.

Every source photo, clip window and seed belongs to one split: the thresholds were tuned on
``tuning`` only; ``held_out`` is what to quote. Both are printed.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from turnstile.errors import TurnstileError
from turnstile.evaluation.attacks import (
    AttackKind,
    Split,
    Stream,
    genuine_stream,
    load_photo,
    photo_attack,
    real_attack_photo,
    replay_attack,
    split_of,
)
from turnstile.vision.liveness import (
    Challenge,
    LivenessConfig,
    LivenessMode,
    LivenessState,
    LivenessTracker,
)

log = logging.getLogger(__name__)

DEFAULT_DATA_DIR = Path("../shared/data")
GENUINE_VIDEO = Path("video/selfie_blinks.mp4")
GENUINE_ACCEPT_BAR_S = 3.0
"""The issue's bar: the genuine clip is accepted within this long."""

LFW_SAMPLE = 60
"""LFW people used as attack sources (evenly spaced in the sorted list of names)."""

REPLAYS = 32
"""Replays of the genuine clip (each its own screen, hand and camera; half held out)."""

REAL_ATTACK_SEEDS = 6
"""Hand-held renditions of each real attack photo of ``spoof/`` (half held out)."""

GENUINE_STARTS_S = (0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0)
"""Where the genuine windows start in the 14 s clip (even ones tune, odd ones are held
out; the 7 s windows overlap, so the two halves share frames)."""

GENUINE_VARIANTS = ("plain", "mirror", "12fps")

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}
REAL_ATTACKS = {"print_attack_1.jpg": AttackKind.REAL_PRINT,
                "print_attack_2.jpg": AttackKind.REAL_PRINT,
                "screen_replay_attack_1.jpg": AttackKind.REAL_SCREEN}


@dataclass
class StreamResult:
    """What one liveness tracker decided on one stream."""

    name: str
    kind: str  # an AttackKind value, or "genuine"
    split: str
    mode: str
    state: str  # live, spoof, or pending (undecided at the end of the stream)
    decision_s: float | None
    reason: str
    cues: dict[str, float] = field(default_factory=dict)

    @property
    def accepted(self) -> bool:
        return self.state == LivenessState.LIVE.value


@dataclass
class LivenessReport:
    """Everything ``turnstile eval liveness`` prints."""

    results: list[StreamResult]
    data_dir: str
    skipped_sources: list[str]
    seconds: float
    frames: int

    # -- figures -------------------------------------------------------------------------

    def _select(self, mode: str, split: str | None = None, genuine: bool | None = None
                ) -> list[StreamResult]:
        return [r for r in self.results if r.mode == mode
                and (split is None or r.split == split)
                and (genuine is None or (r.kind == "genuine") == genuine)]

    def attack_table(self, mode: str, split: str) -> dict[str, dict[str, Any]]:
        table: dict[str, dict[str, Any]] = {}
        for kind in AttackKind:
            rows = [r for r in self._select(mode, split, genuine=False) if r.kind == kind.value]
            if not rows:
                continue
            accepted = sum(r.accepted for r in rows)
            times = [r.decision_s for r in rows if r.state == "spoof" and r.decision_s]
            table[kind.value] = {
                "n": len(rows), "accepted": accepted, "apcer": accepted / len(rows),
                "median_reject_s": float(np.median(times)) if times else None,
                "reasons": dict(Counter(_reason_key(r) for r in rows if not r.accepted)),
            }
        return table

    def genuine_table(self, mode: str, split: str) -> dict[str, Any]:
        rows = self._select(mode, split, genuine=True)
        accepted = [r for r in rows if r.accepted]
        times = [r.decision_s for r in accepted if r.decision_s is not None]
        return {
            "n": len(rows), "accepted": len(accepted),
            "bpcer": 1 - len(accepted) / len(rows) if rows else None,
            "accepted_within_3s": sum(t <= GENUINE_ACCEPT_BAR_S for t in times),
            "median_accept_s": float(np.median(times)) if times else None,
            "max_accept_s": float(max(times)) if times else None,
            "refusals": dict(Counter(_reason_key(r) for r in rows if not r.accepted)),
        }

    def summary(self, mode: str, split: str) -> dict[str, Any]:
        attacks = self.attack_table(mode, split)
        genuine = self.genuine_table(mode, split)
        n = sum(a["n"] for a in attacks.values())
        accepted = sum(a["accepted"] for a in attacks.values())
        return {
            "apcer": max((a["apcer"] for a in attacks.values()), default=None),
            "apcer_pooled": accepted / n if n else None,
            "bpcer": genuine["bpcer"],
            "attacks": attacks,
            "genuine": genuine,
        }

    def selfie_clip(self, mode: str) -> StreamResult | None:
        for r in self.results:
            if r.mode == mode and r.name == "genuine/selfie_blinks/full":
                return r
        return None

    def modes(self) -> list[str]:
        return list(dict.fromkeys(r.mode for r in self.results))

    def to_json(self) -> dict[str, Any]:
        main = self.modes()[0]
        held = self.summary(main, Split.HELD_OUT.value)
        clip = self.selfie_clip(main)
        return {
            "mode": main,
            "apcer": held["apcer"],
            "apcer_pooled": held["apcer_pooled"],
            "bpcer": held["bpcer"],
            "attacks": held["attacks"],
            "genuine": held["genuine"],
            "selfie_blinks": None if clip is None else {
                "accepted": clip.accepted, "decision_s": clip.decision_s, "reason": clip.reason,
                "accepted_within_3s": clip.accepted and clip.decision_s is not None
                and clip.decision_s <= GENUINE_ACCEPT_BAR_S},
            "splits": {mode: {split.value: self.summary(mode, split.value) for split in Split}
                       for mode in self.modes()},
            "data_dir": self.data_dir,
            "skipped_sources": self.skipped_sources,
            "frames": self.frames,
            "seconds": round(self.seconds, 1),
            "streams": [asdict(r) for r in self.results],
        }

    def to_text(self) -> str:
        lines = [f"Liveness (presentation-attack detection) on {self.data_dir}",
                 f"  {len(self.results)} stream runs, {self.frames} frames, "
                 f"{self.seconds:.0f} s"]
        for mode in self.modes():
            clip = self.selfie_clip(mode)
            lines.append("")
            lines.append(f"Mode: {mode}")
            if clip is not None:
                when = f"{clip.decision_s:.2f} s" if clip.decision_s is not None else "-"
                lines.append(f"  selfie_blinks.mp4 from the start: {clip.state.upper()} "
                             f"after {when} ({clip.reason})")
            for split in (Split.TUNING, Split.HELD_OUT):
                s = self.summary(mode, split.value)
                g = s["genuine"]
                lines.append(f"  [{split.value}]")
                lines.append(f"    {'species':<12} {'attacks':>7} {'passed':>6} {'APCER':>8}"
                             f" {'median time to reject':>22}")
                for kind, a in s["attacks"].items():
                    med = f"{a['median_reject_s']:.1f} s" if a["median_reject_s"] else "-"
                    lines.append(f"    {kind:<12} {a['n']:>7} {a['accepted']:>6} "
                                 f"{a['apcer'] * 100:>7.1f}% {med:>22}")
                if s["apcer"] is not None:
                    lines.append(f"    APCER worst species {s['apcer'] * 100:.1f} %, pooled "
                                 f"{s['apcer_pooled'] * 100:.1f} %")
                if g["n"]:
                    med = f"{g['median_accept_s']:.2f}" if g["median_accept_s"] else "-"
                    mx = f"{g['max_accept_s']:.2f}" if g["max_accept_s"] else "-"
                    lines.append(f"    genuine {g['n']} windows, accepted {g['accepted']} "
                                 f"(BPCER {g['bpcer'] * 100:.1f} %), within 3 s "
                                 f"{g['accepted_within_3s']}, time to accept median {med} s, "
                                 f"max {mx} s")
                    if g["refusals"]:
                        lines.append(f"    genuine refusals: {g['refusals']}")
                reasons = Counter[str]()
                for a in s["attacks"].values():
                    reasons.update(a["reasons"])
                if reasons:
                    lines.append(f"    attacks refused by: {dict(reasons)}")
        if self.skipped_sources:
            lines.append("")
            lines.append(f"Sources without a detectable face (not used): "
                         f"{', '.join(self.skipped_sources)}")
        lines.append("")
        lines.append("Caution: the genuine set is one person in one 14 s clip (windows overlap); "
                     "the attacks are rendered by turnstile/evaluation/attacks.py except the "
                     "spoof/ stills. See the README's liveness section.")
        return "\n".join(lines)


def _reason_key(result: StreamResult) -> str:
    if result.state == "pending":
        return "no face detected" if not result.cues else "undecided"
    text = result.reason.lower()
    if "moire" in text:
        return "moire pattern"
    if "surroundings" in text:
        return "moved with surroundings"
    if "border" in text:
        return "border moved with face"
    if "no blink" in text or "not made" in text:
        return "no sign of life (timeout)"
    return result.reason


# --- the material ---------------------------------------------------------------------------


def _seed(*parts: object) -> int:
    import hashlib

    digest = hashlib.sha256("/".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:4], "little")


def build_streams(data_dir: Path, *, quick: bool = False,
                  detector: Any = None) -> tuple[list[Stream], list[str]]:
    """All genuine and attack streams of the evaluation.

    Args:
        data_dir: the shared data folder.
        quick: a small subset (a few streams of each kind) for smoke runs.
        detector: finds the face in source photos (the photo detector by default).

    Returns:
        (streams, sources skipped because no face was found in them).

    Raises:
        TurnstileError: the folder lacks the genuine video.
    """
    video = _genuine_video(data_dir)
    detector = detector or _photo_detector()
    clip_box = _clip_face_box(video, detector)
    streams: list[Stream] = [_genuine(video, clip_box, 0.0, "full")]
    skipped: list[str] = []
    starts = GENUINE_STARTS_S[:2] if quick else GENUINE_STARTS_S
    labels = ("plain",) if quick else GENUINE_VARIANTS
    for start in starts:
        for label in labels:
            if not (start == 0.0 and label == "plain"):  # that one is the full clip
                streams.append(_genuine(video, clip_box, start, label))
    for rel in _photo_sources(data_dir, quick):
        try:
            photo = load_photo(data_dir / rel)
        except TurnstileError as exc:
            log.warning("skipping %s: %s", rel, exc)
            skipped.append(rel)
            continue
        faces = detector.detect(photo)
        if not faces:
            skipped.append(rel)
            continue
        for kind in (AttackKind.PRINT, AttackKind.SCREEN):
            streams.append(_photo(kind, rel, photo, faces[0].box))
    for i in range(2 if quick else REPLAYS):
        streams.append(_replay(video, clip_box, i))
    for name, kind in REAL_ATTACKS.items():
        path = data_dir / "spoof" / name
        if not path.is_file():
            skipped.append(f"spoof/{name}")
            continue
        photo = load_photo(path)
        for i in range(1 if quick else REAL_ATTACK_SEEDS):
            streams.append(_real(kind, name, photo, i))
    return streams, skipped


def make_stream(data_dir: Path, name: str, *, detector: Any = None) -> Stream:
    """Rebuild one stream of the evaluation from its name (as printed in the report), e.g.
    ``replay/1``, ``print/people/Joe_Biden/biden2.jpg``, ``real_print/print_attack_1.jpg/1``
    or ``genuine/selfie_blinks/2s-mirror``: the same frames as in the full run.

    Raises:
        TurnstileError: the name or its source is unknown.
    """
    kind, _, rest = name.partition("/")
    video = _genuine_video(data_dir)
    if kind in ("genuine", "replay"):
        box = _clip_face_box(video, detector or _photo_detector())
        if kind == "replay":
            return _replay(video, box, int(rest))
        label = rest.rpartition("/")[2]
        if label == "full":
            return _genuine(video, box, 0.0, "full")
        start, _, variant = label.partition("s-")
        return _genuine(video, box, float(start), variant)
    if kind in (AttackKind.PRINT.value, AttackKind.SCREEN.value):
        photo = load_photo(data_dir / rest)
        faces = (detector or _photo_detector()).detect(photo)
        if not faces:
            raise TurnstileError(f"No face found in {rest}.")
        return _photo(AttackKind(kind), rest, photo, faces[0].box)
    if kind in (AttackKind.REAL_PRINT.value, AttackKind.REAL_SCREEN.value):
        photo_name, _, index = rest.partition("/")
        return _real(AttackKind(kind), photo_name, load_photo(data_dir / "spoof" / photo_name),
                     int(index))
    raise TurnstileError(f"Unknown stream {name!r}.")


def _genuine_video(data_dir: Path) -> Path:
    video = data_dir / GENUINE_VIDEO
    if not video.is_file():
        raise TurnstileError(
            f"{video} not found: DATA_DIR must be the shared data folder (with video/ "
            "and people/).")
    return video


def _photo_detector() -> Any:
    from turnstile.app import build_detector

    return build_detector("photo")


def _genuine(video: Path, box: tuple[float, float, float, float], start: float,
             label: str) -> Stream:
    if label == "full":
        return genuine_stream(video, box, name="genuine/selfie_blinks/full",
                              split=Split.HELD_OUT, seed=1, start_s=0.0)
    index = GENUINE_STARTS_S.index(start)
    return genuine_stream(
        video, box, name=f"genuine/selfie_blinks/{start:.0f}s-{label}",
        split=Split.TUNING if index % 2 == 0 else Split.HELD_OUT,
        seed=_seed("genuine", start, label), start_s=start, mirror=label == "mirror",
        frame_step=2 if label == "12fps" else 1)


def _photo(kind: AttackKind, rel: str, photo: Any, box: tuple[float, float, float, float]
           ) -> Stream:
    return photo_attack(kind, photo, box, name=f"{kind.value}/{rel}", source=rel,
                        split=split_of(rel), seed=_seed(kind.value, rel))


def _replay(video: Path, box: tuple[float, float, float, float], i: int) -> Stream:
    return replay_attack(video, box, name=f"replay/{i}", source=str(GENUINE_VIDEO),
                         split=Split.TUNING if i % 2 == 0 else Split.HELD_OUT,
                         seed=_seed("replay", i), start_s=(i * 0.9) % 7.0)


def _real(kind: AttackKind, name: str, photo: Any, i: int) -> Stream:
    return real_attack_photo(kind, photo, name=f"{kind.value}/{name}/{i}",
                             source=f"spoof/{name}",
                             split=Split.TUNING if i % 2 == 0 else Split.HELD_OUT,
                             seed=_seed(kind.value, name, i))


def _clip_face_box(video: Path, detector: Any) -> tuple[float, float, float, float]:
    import cv2

    cap = cv2.VideoCapture(str(video))
    ok, frame = cap.read()
    cap.release()
    if not ok:
        raise TurnstileError(f"{video} cannot be decoded.")
    faces = detector.detect(frame)
    if not faces:
        raise TurnstileError(f"No face found in the first frame of {video}.")
    return faces[0].box


def _photo_sources(data_dir: Path, quick: bool) -> list[str]:
    found: list[str] = []
    people = data_dir / "people"
    if people.is_dir():
        found += sorted(str(p.relative_to(data_dir)) for p in people.rglob("*")
                        if p.suffix.lower() in IMAGE_SUFFIXES)
    spoof = data_dir / "spoof"
    if spoof.is_dir():
        found += sorted(str(p.relative_to(data_dir)) for p in spoof.glob("genuine_*")
                        if p.suffix.lower() in IMAGE_SUFFIXES)
    lfw = data_dir / "lfw" / "images"
    if lfw.is_dir():
        names = sorted(p.name for p in lfw.iterdir() if p.is_dir())
        count = 2 if quick else LFW_SAMPLE
        step = max(1, len(names) // count)
        for name in names[::step][:count]:
            first = sorted((lfw / name).glob("*.jpg"))
            if first:
                found.append(str(first[0].relative_to(data_dir)))
    if quick:
        # one photo per folder is enough for a smoke run
        by_parent: dict[str, str] = {}
        for rel in found:
            by_parent.setdefault(str(Path(rel).parent), rel)
        found = list(by_parent.values())[:6]
    return found


# --- running --------------------------------------------------------------------------------


def _trackers(stream: Stream, modes: Sequence[str], mesh: Any) -> list[LivenessTracker]:
    trackers = []
    for mode in modes:
        if mode == "challenge":
            # Recorded streams cannot answer a prompt: only the blink challenge (the genuine
            # clip blinks often) is measurable; the head-turn challenge is not evaluated here.
            trackers.append(LivenessTracker(
                LivenessMode.CHALLENGE, mesh=mesh,
                config=LivenessConfig(challenges=(Challenge.BLINK,)),
                rng=random.Random(stream.seed)))
        else:
            trackers.append(LivenessTracker(LivenessMode(mode), mesh=mesh))
    return trackers


def run_streams(streams: Iterable[Stream], modes: Sequence[str] = ("passive",), *,
                detector: Any = None, mesh: Any = None,
                progress: Any = None) -> tuple[list[StreamResult], int]:
    """Show each stream to one liveness tracker per mode, as the door would.

    Each frame: the door's face detector, then the trackers, fed exactly as the door feeds
    its own (each runs the face mesh itself, on the frames its configuration says). A stream
    stops as soon as every tracker decided.

    Returns:
        (one result per stream and mode, frames processed).
    """
    from turnstile import resources
    from turnstile.app import build_detector
    from turnstile.vision.landmarks import FaceMesh

    detector = detector or build_detector("door")
    mesh = mesh or FaceMesh(resources.model_path(resources.FACE_MESH))
    results: list[StreamResult] = []
    frames = 0
    for stream in streams:
        trackers = _trackers(stream, modes, mesh)
        for t, frame in stream.frames():
            frames += 1
            faces = detector.detect(frame)
            face = faces[0] if faces else None
            verdicts = [tr.update(frame, face, t) for tr in trackers]
            if all(v.final for v in verdicts):
                break
        for mode, tracker in zip(modes, trackers):
            v = tracker.verdict
            results.append(StreamResult(
                name=stream.name, kind=stream.kind.value if stream.kind else "genuine",
                split=stream.split.value, mode=mode, state=v.state.value,
                decision_s=round(v.elapsed_s, 3) if v.final else None, reason=v.reason,
                cues=v.cues))
        if progress is not None:
            progress(stream, results[-len(modes):])
    return results, frames


def evaluate_liveness(data_dir: Path, *, modes: Sequence[str] = ("passive", "challenge"),
                      quick: bool = False, progress: Any = None) -> LivenessReport:
    """Build the streams, run them, and report APCER/BPCER per split and mode."""
    started = time.perf_counter()
    streams, skipped = build_streams(data_dir, quick=quick)
    results, frames = run_streams(streams, modes, progress=progress)
    return LivenessReport(results, str(data_dir), skipped, time.perf_counter() - started, frames)


# --- command line ---------------------------------------------------------------------------


def add_liveness_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``liveness`` to the ``turnstile eval`` sub-commands."""
    sub = subparsers.add_parser(
        "liveness", help="presentation-attack detection: APCER / BPCER (ISO/IEC 30107-3)")
    sub.add_argument("data_dir", type=Path, nargs="?", default=DEFAULT_DATA_DIR,
                     help="the shared data folder (default: ../shared/data)")
    sub.add_argument("--json", action="store_true", help="print one JSON object")
    sub.add_argument("--quick", action="store_true",
                     help="a few streams of each kind (a smoke run of ~1 minute)")
    sub.add_argument("--mode", choices=["passive", "challenge", "both"], default="both",
                     help="which liveness mode to measure (default: both)")
    return sub


def run_liveness_eval(args: argparse.Namespace) -> int:
    """Run ``turnstile eval liveness`` and print its report; returns the exit code."""
    import sys

    modes = ["passive", "challenge"] if args.mode == "both" else [args.mode]

    def progress(stream: Stream, rows: list[StreamResult]) -> None:
        states = ", ".join(f"{r.mode}={r.state}" for r in rows)
        print(f"  {stream.name} [{stream.split.value}]: {states}", file=sys.stderr, flush=True)

    report = evaluate_liveness(Path(args.data_dir), modes=modes, quick=args.quick,
                               progress=progress if getattr(args, "verbose", False) else None)
    print(json.dumps(report.to_json()) if args.json else report.to_text())
    return 0
