"""A door station without a screen: the same per-frame work as the Door page
(:class:`~turnstile.door.station.DoorStation`), driven by a plain loop instead of a QThread.

For a door whose computer has no display (a small box beside the door, many doors served from
one rack) and for tests. ``turnstile door run --source CAMERA --door-name NAME --db URL``
runs it (:mod:`turnstile.cli_door`).

Threads: the calling thread owns the camera, the vision pipeline and the station; the door
commander and the event writer have their own (as on the Door page); a ``staff-watch`` thread
asks the database twice a second whether the staff list changed
(:class:`~turnstile.services.change_watch.ChangeWatcher`) and, when it did (or every
:data:`GALLERY_RELOAD_S`, for validity periods that start or end), loads a new gallery
snapshot, which the loop swaps in between two frames.

The door stays locked until the staff list is loaded, on any error, and at exit.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from turnstile.app import AppContext
from turnstile.capture import (
    DEMO_SOURCE,
    Camera,
    CameraError,
    CameraLost,
    CameraState,
    CameraStatus,
    CapturedFrame,
    ReconnectingCamera,
    open_source,
)
from turnstile.config import data_dir
from turnstile.door.base import DoorController
from turnstile.door.commander import DoorCommander
from turnstile.door.liveness_gate import DoorLiveness, build_door_liveness
from turnstile.door.station import DoorStation, StationDecision
from turnstile.matching.door_policy import DoorPolicy, GallerySnapshot
from turnstile.services.access_log import EventWriter
from turnstile.services.change_watch import WATCH_INTERVAL_S, ChangeWatcher
from turnstile.vision.pipeline import FacePipeline

log = logging.getLogger(__name__)

GALLERY_RELOAD_S = 30.0
"""The staff list is also read again this often, changed or not (validity periods starting
and ending with the passing of time change nothing in the database)."""
HEADLESS_EMBEDDER_THREADS = 1
"""As on the Door page: on two cores a second interpreter thread slows a frame down."""


@dataclass(frozen=True)
class StaffReload:
    """A new staff list was put in force at the door.

    Attributes:
        generation: 1 for the first list, then one more for each reload.
        allowed: people in the gallery of those who may pass now.
        enrolled: people enrolled with this model (suspended and expired included).
        at: when it was put in force (wall clock, seconds since the epoch, for comparing
            with other processes).
        load_s: how long reading it took.
        changed: whether a change in the database caused it (False: the timer).
    """

    generation: int
    allowed: int
    enrolled: int
    at: float
    load_s: float
    changed: bool


@dataclass
class HeadlessSummary:
    """What a run did.

    Attributes:
        frames: frames processed.
        seconds: how long the run lasted.
        decisions: decisions taken, by verdict (granted, denied, unknown, error).
        reloads: staff lists put in force (the first load included).
        events_written: access events written to the database by this run.
        events_unsaved: events that could not be written before exit (saved to the spool
            file, written at the next start).
        stopped: why the run ended ("time limit", "frame limit", "video ended", "stopped").
    """

    frames: int = 0
    seconds: float = 0.0
    decisions: Counter[str] = field(default_factory=Counter)
    reloads: int = 0
    events_written: int = 0
    events_unsaved: int = 0
    stopped: str = ""


def spool_path_for(door_name: str) -> Path:
    """The file where this door's unwritten events wait at exit: one per door name, so
    several stations on one computer never pick up each other's events."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "_", door_name.strip()).strip("_") or "door"
    return data_dir() / f"unsaved_events-{slug}.jsonl"


class HeadlessDoor:
    """Camera -> recognition -> door and access log, without Qt.

    Args:
        ctx: the application context (settings and database; the database is opened, and
            migrated if needed, on this thread before anything starts).
        source: ``"demo"``, a camera index, a video file or a stream URL.
        door_name: the door's name in the access log (default: the settings').
        door_backend: the door hardware (default: from ``door.toml``).
        pipeline_factory: builds the vision pipeline (default: the door pipeline).
        liveness_factory: builds the liveness check (default: from the settings, as on the
            Door page, and off for the demo video, which is a moving photo).
        realtime: play video files and the demo at their frame rate (False: as fast as
            they can be processed).
        loop: start a video file again when it ends (default: stop the run).
        watch_interval_s: how often to ask whether the staff list changed.
        reload_interval_s: how often to reload it anyway.
        on_decision: called on the loop's thread with each decision the door acted on.
        on_reload: called on the watch thread each time a staff list is put in force.
    """

    def __init__(self, ctx: AppContext, source: str, *, door_name: str | None = None,
                 door_backend: DoorController | None = None,
                 pipeline_factory: Callable[[], FacePipeline] | None = None,
                 liveness_factory: Callable[[], DoorLiveness | None] | None = None,
                 realtime: bool = True, loop: bool = False,
                 watch_interval_s: float = WATCH_INTERVAL_S,
                 reload_interval_s: float = GALLERY_RELOAD_S,
                 on_decision: Callable[[StationDecision], None] | None = None,
                 on_reload: Callable[[StaffReload], None] | None = None) -> None:
        if watch_interval_s <= 0 or reload_interval_s <= 0:
            raise ValueError("watch and reload intervals must be positive")
        settings = ctx.settings
        if door_name is not None:
            settings = dataclasses.replace(settings, door_name=door_name)  # validated
        self.ctx = ctx
        self.settings = settings
        self.door_name = settings.door_name.strip()
        self.source = source
        self.realtime = realtime
        self.loop = loop
        self.watch_interval_s = watch_interval_s
        self.reload_interval_s = reload_interval_s
        self.on_decision = on_decision
        self.on_reload = on_reload
        self.pipeline_factory = pipeline_factory or _door_pipeline
        self.liveness_factory = liveness_factory or self._settings_liveness
        self._door_backend = door_backend
        self._stop = threading.Event()
        self._claims: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._snapshot_lock = threading.Lock()
        self._new_snapshot: GallerySnapshot | None = None
        self._generation = 0
        self.summary = HeadlessSummary()
        self.door_problem: str | None = None
        """Why the configured door hardware is not used (None when it is)."""

    # -- any thread --------------------------------------------------------------------------
    def request_stop(self) -> None:
        """Ask :meth:`run` to finish after the current frame (safe from a signal handler)."""
        self._stop.set()

    def claim(self, number: str) -> None:
        """1:1 mode (``door_mode = "verify"``): an employee number was typed or a badge
        scanned; the next face is verified against that person (taken before the next
        frame)."""
        self._claims.put(number)

    # -- the calling thread ------------------------------------------------------------------
    def run(self, max_seconds: float | None = None,
            max_frames: int | None = None) -> HeadlessSummary:
        """Run the station until stopped, the time or frame limit, or (without ``loop``)
        the end of a video file.

        Raises:
            DatabaseError: the database cannot be opened at start.
            ModelFileError: a model file is missing or corrupt.
            CameraError: a video file cannot be read (cameras and streams are retried
                instead, with the door locked, until they come back).
        """
        started = time.monotonic()
        db = self.ctx.db  # opened (and migrated) here, before the threads start
        settings = self.settings
        if self._door_backend is None:
            from turnstile.door import create_door

            choice = create_door(door_name=self.door_name, unlock_ms=settings.unlock_ms)
            self._door_backend, self.door_problem = choice.controller, choice.problem
            if choice.problem:
                log.error("door hardware unusable (%s): the door stays locked", choice.problem)
        door = DoorCommander(self._door_backend, settings.unlock_ms)
        events = EventWriter(db, self.door_name, settings.snapshot_policy,
                             spool_path=spool_path_for(self.door_name),
                             on_error=lambda m: log.error("access log: %s", m))
        door.start()
        events.start()
        watch: threading.Thread | None = None
        camera: _Source | None = None
        station: DoorStation | None = None
        summary = self.summary
        try:
            pipeline = self.pipeline_factory()
            station = DoorStation(pipeline, DoorPolicy(settings.frames_to_confirm,
                                                       cooldown_s=settings.cooldown_s),
                                  door=door, events=events, liveness=self.liveness_factory(),
                                  one_to_one=settings.door_mode == "verify")
            watch = threading.Thread(target=self._watch, name="staff-watch", daemon=True,
                                     args=(pipeline.model_id, pipeline.embedder.dim))
            watch.start()
            camera = _Source(self.source, self.realtime, self.loop, station)
            camera.open()
            deadline = None if max_seconds is None else started + max_seconds
            seq = 0
            while True:
                if self._stop.is_set():
                    summary.stopped = "stopped"
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    summary.stopped = "time limit"
                    break
                if max_frames is not None and summary.frames >= max_frames:
                    summary.stopped = "frame limit"
                    break
                with self._snapshot_lock:
                    snapshot, self._new_snapshot = self._new_snapshot, None
                if snapshot is not None:
                    station.set_snapshot(snapshot)
                while station.snapshot is not None and not self._claims.empty():
                    # (a number given while the staff list is still loading waits for it)
                    refused = station.claim(self._claims.get(), time.monotonic())
                    if refused is not None:
                        self._decided(refused)
                try:
                    frame = camera.read()
                except _VideoEnded:
                    summary.stopped = "video ended"
                    break
                for decision in camera.take_problems():
                    self._decided(decision)
                if frame is None:
                    continue
                seq += 1
                try:
                    _, decision = station.process(frame, seq)
                except Exception:  # noqa: BLE001 (a bad frame must not stop the door)
                    log.exception("processing a door frame failed; the door stays locked")
                    door.request_close("processing error")
                    continue
                summary.frames += 1
                if decision is not None:
                    self._decided(decision)
        finally:
            self._stop.set()
            if camera is not None:
                camera.release()
            if station is not None:
                station.close()
            if watch is not None:
                watch.join(timeout=5.0)
            door.shutdown()
            events.close()
            summary.events_written = events.written
            summary.events_unsaved = events.pending
            summary.seconds = time.monotonic() - started
        return summary

    def _settings_liveness(self) -> DoorLiveness | None:
        s = self.settings
        mode = "off" if self.source.strip().lower() == DEMO_SOURCE else s.liveness_mode
        return build_door_liveness(mode, s.spoof_max_attempts, s.spoof_lockout_min)

    def _decided(self, decision: StationDecision) -> None:
        self.summary.decisions[decision.verdict] += 1
        if self.on_decision is not None:
            self.on_decision(decision)

    # -- the staff-watch thread --------------------------------------------------------------
    def _watch(self, model_id: str, dim: int) -> None:
        watcher = ChangeWatcher(self.ctx.db)
        next_reload = 0.0
        failing = False
        while not self._stop.is_set():
            now = time.monotonic()
            try:
                # The fingerprint is read before the list: a change made while the list is
                # read is seen by the next check.
                changed = watcher.check()
                if changed or now >= next_reload:
                    self._reload(model_id, dim, changed)
                    next_reload = time.monotonic() + self.reload_interval_s
                if failing:
                    log.warning("the staff list can be read again")
                failing = False
            except Exception as exc:  # noqa: BLE001 (the door keeps its last list, locked
                # for nobody new; it tries again at the next check)
                watcher.reset()
                if not failing:
                    log.error("the staff list cannot be read (%s); keeping the last one and "
                              "trying again every %.0f s", exc, self.watch_interval_s)
                failing = True
            self._stop.wait(self.watch_interval_s)

    def _reload(self, model_id: str, dim: int, changed: bool) -> None:
        t0 = time.perf_counter()
        generation = self._generation + 1
        snapshot = self.ctx.door_snapshot(model_id, dim, generation)
        self._generation = generation
        with self._snapshot_lock:
            self._new_snapshot = snapshot
        self.summary.reloads += 1
        info = StaffReload(generation, snapshot.allowed.people, snapshot.everyone.people,
                           time.time(), time.perf_counter() - t0, changed)
        log.info("staff list %d in force: %d people may pass (%d enrolled), read in %.0f ms",
                 generation, info.allowed, info.enrolled, info.load_s * 1000)
        if self.on_reload is not None:
            self.on_reload(info)


def _door_pipeline() -> FacePipeline:
    from turnstile.app import build_pipeline

    return build_pipeline("door", num_threads=HEADLESS_EMBEDDER_THREADS)


class _VideoEnded(Exception):
    """The video file ended and is not looped."""


class _Source:
    """The station's camera: a video file is read directly (looped or ending the run); a
    camera, stream or the demo goes through :class:`ReconnectingCamera`, and each outage
    locks the door and logs an "error" event, as on the Door page."""

    def __init__(self, source: str, realtime: bool, loop: bool, station: DoorStation) -> None:
        self.station = station
        self.loop = loop
        self._problems: list[StationDecision] = []
        camera: Camera = open_source(source, realtime=realtime)
        self.is_file = getattr(camera, "kind", None) == "file" and \
            source.strip().lower() != DEMO_SOURCE
        self.camera = camera
        self.reconnecting: ReconnectingCamera | None = None
        self._reported_unavailable = False
        if not self.is_file:
            self.reconnecting = ReconnectingCamera(camera, on_status=self._on_status)

    def open(self) -> None:
        if self.is_file:
            self.camera.open()  # CameraUnavailable: a file that cannot be read is a mistake
        else:
            self.reconnecting.read()  # type: ignore[union-attr]  (first attempt to open)

    def read(self) -> CapturedFrame | None:
        if self.reconnecting is not None:
            return self.reconnecting.read()
        try:
            return self.camera.read()
        except CameraLost:
            if not self.loop:
                raise _VideoEnded from None
            self.camera.open()
            return None
        except CameraError:
            raise

    def take_problems(self) -> list[StationDecision]:
        problems, self._problems = self._problems, []
        return problems

    def release(self) -> None:
        if self.reconnecting is not None:
            self.reconnecting.release()
        else:
            self.camera.release()

    def _on_status(self, status: CameraStatus) -> None:
        if status.state is CameraState.LIVE:
            self._reported_unavailable = False
            log.info("camera live: %s", self.camera.description)
        elif status.state is CameraState.LOST and status.attempts == 1:
            self._problems.append(self.station.camera_problem("camera lost"))
        elif status.state is CameraState.UNAVAILABLE and not self._reported_unavailable:
            self._reported_unavailable = True
            log.error("camera unavailable: %s", status.message)
            self._problems.append(self.station.camera_problem("camera unavailable"))
