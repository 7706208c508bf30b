"""A missing key at the door: a typed error where the staff list is read, and the door stays
closed for an enrolled face that opens it when the key is there (real models, real faces)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from privacy_support import key_files

from turnstile.app import AppContext
from turnstile.capture.base import CapturedFrame
from turnstile.config import Settings
from turnstile.door.station import DoorStation, load_snapshot
from turnstile.matching.door_policy import DoorPolicy
from turnstile.services.access_log import EventRecord, EventWriter
from turnstile.storage import crypto
from turnstile.storage import repositories as repo
from turnstile.storage.models import utcnow


class Door:
    """Records what it was told."""

    def __init__(self) -> None:
        self.opened = 0

    def request_open(self, passage: int) -> None:
        self.opened += 1

    def request_close(self, reason: str) -> None:
        pass


@pytest.fixture
def ctx(tmp_path: Path, photo_pipeline):
    context = AppContext(Settings(), database_url=f"sqlite:///{tmp_path / 'door.db'}")
    context._photo_pipeline = photo_pipeline
    yield context
    context.close()


def _frames(photo: Path, count: int) -> list[CapturedFrame]:
    image = cv2.imread(str(photo))
    scale = 480 / image.shape[0]
    image = cv2.resize(image, (round(image.shape[1] * scale), 480))
    canvas = np.zeros((480, 640, 3), np.uint8)
    width = min(640, image.shape[1])
    canvas[:, :width] = image[:, :width]
    return [CapturedFrame(canvas.copy(), i, i / 30) for i in range(count)]


def _play(station: DoorStation, frames: list[CapturedFrame]) -> list:
    return [d for i, f in enumerate(frames)
            if (d := station.process(f, i + 1, now=f.t_capture)[1]) is not None]


def test_without_the_key_nobody_is_recognised_and_the_door_stays_closed(
        ctx: AppContext, pipeline, shared_data: Path) -> None:
    people = shared_data / "people" / "Barack_Obama"
    ctx.enrollment.enroll(people / "obama.jpg", employee_number="E1", name="Barack Obama",
                          consent=True)
    frames = _frames(people / "obama2.jpg", 12)

    # With the key: the enrolled face opens the door (so the test below can fail).
    door = Door()
    snapshot = load_snapshot(ctx.db, pipeline.model_id, pipeline.embedder.dim, ctx.thresholds())
    station = DoorStation(pipeline, DoorPolicy(3, cooldown_s=1.0), door=door,  # type: ignore[arg-type]
                          snapshot=snapshot)
    decisions = _play(station, frames)
    assert [d.verdict for d in decisions][:1] == ["granted"] and door.opened == 1

    (key_file,) = key_files()
    key_file.unlink()
    crypto.set_backend(crypto.FileKeyBackend(key_file.parent))  # a fresh process's memory
    try:
        with pytest.raises(crypto.KeyMissingError, match="door stays locked"):
            load_snapshot(ctx.db, pipeline.model_id, pipeline.embedder.dim, ctx.thresholds())
        fresh = AppContext(Settings(), database_url=ctx.database_url)
        fresh._photo_pipeline = ctx.photo_pipeline
        try:
            with pytest.raises(crypto.KeyMissingError):
                fresh.recognition.identify(people / "obama2.jpg")
        finally:
            fresh.close()
        # The door page then runs the station without a staff list: no decision, no opening.
        door = Door()
        station = DoorStation(pipeline, DoorPolicy(3, cooldown_s=1.0), door=door,  # type: ignore[arg-type]
                              snapshot=None)
        assert _play(station, frames) == [] and door.opened == 0
    finally:
        crypto.set_backend(None)


def test_the_event_writer_keeps_the_decision_but_never_a_plain_snapshot(
        ctx: AppContext, astronaut_bgr: np.ndarray) -> None:
    with ctx.db.session() as s:  # a key exists, then goes missing
        employee = repo.create_employee(s, employee_number="E1", name="Ada")
        repo.add_template(s, employee.id, embedding=np.ones(4, np.float32) / 2, model_id="m",
                          source="photo")
    (key_file,) = key_files()
    key_file.unlink()
    crypto.set_backend(crypto.FileKeyBackend(key_file.parent))
    problems: list[str] = []
    writer = EventWriter(ctx.db, "Main entrance", "all", on_error=problems.append)
    writer.start()
    try:
        writer.submit(EventRecord("unknown", utcnow(), reason="not enrolled"), astronaut_bgr)
        assert writer.flush(10)
    finally:
        writer.close()
        crypto.set_backend(None)
    with ctx.db.session() as s:
        (event,) = repo.query_events(s)
        assert event.decision == "unknown" and event.snapshot_sealed is None
    assert problems and "key" in problems[0]
