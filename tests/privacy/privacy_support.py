"""Helpers shared by the privacy tests (imported by name, like tests/door/door_support.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from turnstile.storage import repositories as repo
from turnstile.storage.db import Database

MODEL = "test-model@1"


def unit(seed: int, dim: int = 128) -> np.ndarray:
    vector = np.random.default_rng(seed).normal(size=dim).astype(np.float32)
    return vector / np.linalg.norm(vector)


def raw_bytes(db_path: Path) -> bytes:
    """Everything a thief copying the database would get: the file and its -wal and -shm."""
    data = b""
    for suffix in ("", "-wal", "-shm", "-journal"):
        part = db_path.with_name(db_path.name + suffix)
        if part.exists():
            data += part.read_bytes()
    return data


CONFIRM_MODEL = "sface_2021dec@test/mesh5"
CONFIRM_SEED = 1000
"""The confirming embedding of the person added with ``seed`` is ``unit(seed + 1000)``."""


def add_person(db: Database, number: str, name: str, *, seed: int, crop: bytes | None,
               door: str = "Main entrance", events: int = 0, snapshot: bytes | None = None
               ) -> int:
    """A person with one template (real crop) and some access events with snapshots."""
    with db.session() as s:
        employee = repo.create_employee(s, employee_number=number, name=name)
        repo.add_template(s, employee.id, embedding=unit(seed), model_id=MODEL,
                          source="photo", face_crop=crop,
                          confirm_embedding=unit(seed + CONFIRM_SEED),
                          confirm_model_id=CONFIRM_MODEL)
        door_id = repo.get_or_create_door(s, door).id
        for _ in range(events):
            repo.add_event(s, door_id=door_id, decision="granted", employee_id=employee.id,
                           score=0.97, threshold=0.95, model_id=MODEL, snapshot=snapshot)
        return employee.id


def add_events(db: Database, count: int, **kwargs: object) -> list[int]:
    ids = []
    with db.session() as s:
        door_id = repo.get_or_create_door(s, "Main entrance").id
        for i in range(count):
            ids.append(repo.add_event(s, door_id=door_id, decision="unknown",
                                      reason=f"event {i}", score=0.5 + i / 1000,
                                      **kwargs).id)  # type: ignore[arg-type]
    return ids


def key_files() -> list[Path]:
    """The key files of this test's key folder."""
    import os

    return sorted(Path(os.environ["TURNSTILE_KEY_DIR"]).glob("*.key"))
