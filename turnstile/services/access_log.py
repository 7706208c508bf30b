"""Writing the door's decisions to the access log, off the video path.

The vision worker hands each decision (and the frame it was taken on) to
:meth:`EventWriter.submit`, which only appends to a queue and returns. The writer's own
thread makes the small JPEG snapshot (when the snapshot policy keeps one for that decision)
and writes the :class:`~turnstile.storage.models.AccessEvent`.

An event is never lost silently:

* a busy or unreachable database is retried, waiting longer each time (the events wait in
  memory, in order; the error is reported once per outage through ``on_error``);
* events still unwritten when the station stops are saved to a spool file in the data folder
  (JSON lines, owner-only; snapshots sealed with a key of their own, kept where the data
  keys are and deleted once they are written) and written first at the next start;
* an event the database refuses outright (which would be a bug) is logged as an error;
* when the data key is missing, the event is written without its snapshot (a snapshot is
  only ever stored encrypted).

Each event is appended to the tamper-evident hash chain as it is written
(:func:`turnstile.services.log_chain.append`, called by ``repositories.add_event``).

Nothing biometric goes to the log: no names, no images, only decisions and ids.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np

from turnstile.config import SNAPSHOT_POLICIES, data_dir
from turnstile.storage import crypto
from turnstile.storage import repositories as repo
from turnstile.storage.crypto import ProtectionError
from turnstile.storage.db import Database
from turnstile.storage.errors import DatabaseError, ValidationError
from turnstile.storage.models import utcnow

log = logging.getLogger(__name__)

SPOOL_FILENAME = "unsaved_events.jsonl"
SNAPSHOT_MAX_SIDE_PX = 400
"""Snapshots are scaled down so their longer side is at most this (enough to recognise a
person when reviewing the log; ~15 kB)."""
SNAPSHOT_JPEG_QUALITY = 75
RETRY_DELAYS_S: tuple[float, ...] = (0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
"""Waits between attempts to write to a busy database; the last repeats."""
MAX_PENDING_WITH_SNAPSHOT = 2000
"""When this many events wait for the database, newer ones are kept without snapshot (the
decision is what must not be lost; memory must not grow without bound)."""


@dataclass(frozen=True)
class EventRecord:
    """One decision to log (see :func:`turnstile.storage.repositories.add_event`).

    Attributes:
        decision: granted, denied, unknown, spoof or error.
        at: when it was taken (aware, UTC).
        employee_id: the person (None for unknown faces and errors).
        reason: why it was denied, or the error ("camera lost").
        score: the best similarity of the deciding frame.
        threshold: the accept threshold in force.
        model_id: the embedding model.
        liveness_score: the liveness check's score, when there is one.
    """

    decision: str
    at: datetime
    employee_id: int | None = None
    reason: str | None = None
    score: float | None = None
    threshold: float | None = None
    model_id: str | None = None
    liveness_score: float | None = None


def keeps_snapshot(decision: str, policy: str) -> bool:
    """Whether the snapshot policy (all / denied / none) keeps a picture of this decision."""
    if policy == "all":
        return True
    if policy == "denied":
        return decision != "granted"
    return False


def encode_snapshot(frame: np.ndarray, max_side_px: int = SNAPSHOT_MAX_SIDE_PX,
                    quality: int = SNAPSHOT_JPEG_QUALITY) -> bytes | None:
    """A small JPEG of a BGR frame (None when it cannot be encoded)."""
    if frame is None or frame.ndim != 3 or frame.size == 0:
        return None
    h, w = frame.shape[:2]
    scale = max_side_px / max(h, w)
    if scale < 1.0:
        frame = cv2.resize(frame, (max(1, round(w * scale)), max(1, round(h * scale))),
                           interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return buf.tobytes() if ok else None


@dataclass
class _Item:
    record: EventRecord
    frame: np.ndarray | None = None
    snapshot: bytes | None = None


class EventWriter:
    """Writes access events on its own thread.

    Args:
        db: the database (or a function returning it, called on the writer thread, so a
            slow first open never holds up the caller).
        door_name: the door the events belong to (created in the database if needed).
        snapshot_policy: ``"all"``, ``"denied"`` or ``"none"``.
        spool_path: where unwritten events are saved at exit (default: the data folder).
        on_error: called (on the writer thread) with a plain-language message when the log
            cannot be written; must not block.
        on_written: called (on the writer thread) with the new event id and its record.
        retry_delays_s: see :data:`RETRY_DELAYS_S`.
    """

    def __init__(self, db: Database | Callable[[], Database], door_name: str,
                 snapshot_policy: str = "denied", *, spool_path: Path | None = None,
                 on_error: Callable[[str], None] | None = None,
                 on_written: Callable[[int, EventRecord], None] | None = None,
                 retry_delays_s: Sequence[float] = RETRY_DELAYS_S) -> None:
        if snapshot_policy not in SNAPSHOT_POLICIES:
            raise ValueError(f"snapshot policy must be one of {SNAPSHOT_POLICIES}")
        if not retry_delays_s:
            raise ValueError("retry_delays_s needs at least one delay")
        self._db_source = db
        self.door_name = door_name
        self.snapshot_policy = snapshot_policy
        self.spool_path = spool_path if spool_path is not None else data_dir() / SPOOL_FILENAME
        self.on_error = on_error
        self.on_written = on_written
        self.retry_delays_s = tuple(retry_delays_s)
        self._pending: deque[_Item] = deque()
        self._cond = threading.Condition()
        self._closing = False
        self._thread: threading.Thread | None = None
        self._door_id: int | None = None
        self._busy = False
        self._spooled_loaded = 0
        self._spool_keys: set[str] = set()  # keys of the loaded spool's sealed snapshots
        self.written = 0
        """Events written since start."""
        self.failed_attempts = 0
        """Write attempts that failed (each retried)."""

    # -- any thread --------------------------------------------------------------------------
    @property
    def pending(self) -> int:
        """Events waiting to be written (including the one being written, which stays at
        the head of the queue until it is committed)."""
        with self._cond:
            return len(self._pending)

    def start(self) -> None:
        """Load events left over from the last run, then start the thread."""
        if self._thread is not None:
            return
        for item in self._load_spool():
            self._pending.append(item)
        self._thread = threading.Thread(target=self._run, name="access-log", daemon=True)
        self._thread.start()

    def submit(self, record: EventRecord, frame: np.ndarray | None = None) -> None:
        """Queue one event; never blocks. ``frame`` (BGR) becomes its snapshot when the
        policy keeps one; the caller must not modify it afterwards."""
        if record.at.tzinfo is None:
            raise ValueError("EventRecord.at must be an aware datetime")
        keep = frame is not None and keeps_snapshot(record.decision, self.snapshot_policy)
        with self._cond:
            if keep and len(self._pending) >= MAX_PENDING_WITH_SNAPSHOT:
                log.warning("access log far behind (%d events waiting): event kept without "
                            "snapshot", len(self._pending))
                keep = False
            self._pending.append(_Item(record, frame if keep else None))
            self._cond.notify_all()

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every queued event is written; False when ``timeout_s`` ran out."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._pending and not self._busy,
                                       timeout_s)

    def close(self, timeout_s: float = 5.0) -> None:
        """Write what is queued (waiting up to ``timeout_s``), save the rest to the spool
        file, stop the thread."""
        if self._thread is None:
            self._save_spool(list(self._pending))
            self._pending.clear()
            return
        self.flush(timeout_s)
        with self._cond:
            self._closing = True
            left = list(self._pending)
            self._pending.clear()
            self._cond.notify_all()
        self._thread.join(timeout=1.0)
        self._save_spool(left)
        self._thread = None

    def history(self, decisions: Sequence[str], since: datetime, limit: int = 10_000
                ) -> list[tuple[datetime, int | None, str]]:
        """``(time, employee id, decision)`` of this door's logged events with one of these
        decisions since ``since``, oldest first: the newest ``limit`` of them (read on the
        caller's thread; events still queued here are not included)."""
        with self._db().session() as s:
            door = repo.find_door(s, self.door_name)
            if door is None:
                return []
            flt = repo.EventFilter(start=since, decisions=tuple(decisions),  # type: ignore[arg-type]
                                   door_id=door.id)
            newest = repo.query_events(s, flt, limit=limit, newest_first=True)
            return [(e.at, e.employee_id, e.decision) for e in reversed(newest)]

    # -- the writer thread -------------------------------------------------------------------
    def _db(self) -> Database:
        source = self._db_source
        return source if isinstance(source, Database) else source()

    def _run(self) -> None:
        outage = False
        attempt = 0
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending or self._closing)
                if self._closing:
                    return
                raw = [i for i in self._pending if i.frame is not None]
                item = self._pending[0]
                self._busy = True
            # Outside the lock: submit() must never wait for a JPEG encoder.
            self._encode_snapshots(raw)
            try:
                event_id = self._write(item)
            except DatabaseError as exc:
                self.failed_attempts += 1
                delay = self.retry_delays_s[min(attempt, len(self.retry_delays_s) - 1)]
                attempt += 1
                if not outage:
                    outage = True
                    log.error("access log not written (%s); retrying", exc)
                    self._report(f"The access log cannot be written right now ({exc}) "
                                 f"Decisions are kept and written as soon as it works again.")
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()
                    self._cond.wait_for(lambda: self._closing, delay)
                continue
            except (ValidationError, ValueError) as exc:
                # Refused outright: retrying cannot help. Logged, never silently dropped.
                log.error("access event refused by the database and dropped: decision=%s "
                          "at=%s (%s)", item.record.decision, item.record.at.isoformat(), exc)
                self._report(f"An access event could not be saved ({exc}).")
                event_id = None
            except Exception:  # noqa: BLE001 (the writer must not die)
                log.exception("unexpected error writing the access log; retrying")
                self.failed_attempts += 1
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()
                    self._cond.wait_for(lambda: self._closing, self.retry_delays_s[-1])
                continue
            if outage:
                log.warning("access log writable again after %d failed attempt(s)", attempt)
            outage, attempt = False, 0
            with self._cond:
                if self._pending and self._pending[0] is item:
                    self._pending.popleft()
                self._busy = False
                if self._spooled_loaded and not self._pending:
                    self._remove_spool()
                self._cond.notify_all()
            if event_id is not None:
                self.written += 1
                if self.on_written is not None:
                    try:
                        self.on_written(event_id, item.record)
                    except Exception:  # noqa: BLE001
                        log.exception("on_written callback failed")

    @staticmethod
    def _encode_snapshots(items: list[_Item]) -> None:
        """Turn waiting frames into small JPEGs (a raw frame is ~1 MB, a snapshot ~15 kB)."""
        for item in items:
            frame = item.frame
            if frame is not None:
                item.snapshot = encode_snapshot(frame)
                item.frame = None

    def _write(self, item: _Item) -> int:
        try:
            return self._write_once(item)
        except ProtectionError as exc:
            if item.snapshot is None:
                raise
            # No key: the decision is kept, the picture is not (never stored unencrypted).
            log.error("snapshot of an access event dropped: %s", type(exc).__name__)
            self._report(f"A camera snapshot could not be stored: {exc}")
            item.snapshot = None
            self._door_id = None  # it may have been created in the rolled-back transaction
            return self._write_once(item)

    def _write_once(self, item: _Item) -> int:
        """Write one event; the repositories chain it (and encrypt its snapshot)."""
        r = item.record
        db = self._db()
        with db.session() as s:
            if self._door_id is None:
                self._door_id = repo.get_or_create_door(s, self.door_name).id
            event = repo.add_event(
                s, door_id=self._door_id, decision=r.decision,  # type: ignore[arg-type]
                at=r.at, employee_id=r.employee_id, reason=r.reason, score=r.score,
                threshold=r.threshold, liveness_score=r.liveness_score, model_id=r.model_id,
                snapshot=item.snapshot)
            return int(event.id)

    def _report(self, message: str) -> None:
        if self.on_error is not None:
            try:
                self.on_error(message)
            except Exception:  # noqa: BLE001
                log.exception("on_error callback failed")

    # -- the spool file ----------------------------------------------------------------------
    def _save_spool(self, items: list[_Item]) -> None:
        if not items:
            return
        key_id = self._spool_key(items)
        lines = []
        for item in items:
            snapshot = item.snapshot
            if snapshot is None and item.frame is not None:
                snapshot = encode_snapshot(item.frame)
            data = asdict(item.record)
            data["at"] = item.record.at.isoformat()
            data["door"] = self.door_name
            data["snapshot"] = None
            if snapshot and key_id is not None:
                sealed = crypto.keys().seal(key_id, snapshot, _spool_aad(data))
                data["snapshot_sealed"] = base64.b64encode(sealed).decode("ascii")
                data["key_id"] = key_id
            elif snapshot:
                data["snapshot"] = base64.b64encode(snapshot).decode("ascii")
            lines.append(json.dumps(data))
        try:
            self.spool_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.spool_path.with_suffix(".tmp")
            # Owner-only (the snapshots are sealed with a key of their own, kept where the
            # data keys are; plain only when no key could be made there).
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with open(fd, "w", encoding="utf-8") as f:
                f.write("\n".join(lines) + "\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.spool_path)
        except OSError as exc:
            log.error("%d access event(s) could not be written to the database nor saved to "
                      "%s (%s): they are lost", len(items), self.spool_path, exc)
            return
        log.warning("%d access event(s) not yet in the database were saved to %s and will "
                    "be written at the next start", len(items), self.spool_path)

    @staticmethod
    def _spool_key(items: list[_Item]) -> str | None:
        """A new data key for the spool's snapshots (forgotten once they are written at the
        next start); None when there is nothing to seal or the key backend refuses."""
        if not any(item.snapshot is not None or item.frame is not None for item in items):
            return None
        try:
            return crypto.keys().new_key()
        except Exception as exc:  # noqa: BLE001 - saving the events comes first
            log.error("no key for the spool file's snapshots (%s): they are saved unsealed, "
                      "owner-only", type(exc).__name__)
            return None

    def _load_spool(self) -> list[_Item]:
        try:
            text = self.spool_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except OSError as exc:
            log.error("saved access events in %s cannot be read (%s)", self.spool_path, exc)
            return []
        items, bad = [], []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                sealed, key_id = data.pop("snapshot_sealed", None), data.pop("key_id", None)
                aad = _spool_aad(data)
                snapshot = data.pop("snapshot", None)
                data.pop("door", None)
                record = EventRecord(**{**data, "at": datetime.fromisoformat(data["at"])})
                if record.at.tzinfo is None:
                    raise ValueError("time without time zone")
                picture = base64.b64decode(snapshot) if snapshot else None
                if sealed and key_id:
                    picture = self._unseal_spooled(key_id, base64.b64decode(sealed), aad)
                    self._spool_keys.add(key_id)
                items.append(_Item(record, snapshot=picture))
            except (ValueError, TypeError, KeyError) as exc:
                log.error("line %d of %s is not a saved access event (%s)", number,
                          self.spool_path, exc)
                bad.append(line)
        if bad:
            # Kept aside for someone to look at; the good lines are written now.
            aside = self.spool_path.with_suffix(".unreadable.jsonl")
            try:
                with open(aside, "a", encoding="utf-8") as f:
                    f.write("\n".join(bad) + "\n")
            except OSError as exc:
                log.error("unreadable saved events could not be set aside (%s)", exc)
        if not items:
            self._remove_spool()
            return []
        self._spooled_loaded = len(items)
        if items:
            log.info("%d access event(s) saved at the last stop will be written now",
                     len(items))
        return items

    @staticmethod
    def _unseal_spooled(key_id: str, blob: bytes, aad: bytes) -> bytes | None:
        try:
            return crypto.keys().unseal(key_id, blob, aad, "a saved access event's snapshot")
        except ProtectionError as exc:  # the event is kept, its picture cannot be
            log.error("the snapshot of a saved access event cannot be opened (%s): the event "
                      "is written without it", type(exc).__name__)
            return None

    def _remove_spool(self) -> None:
        self._spooled_loaded = 0
        try:
            self.spool_path.unlink(missing_ok=True)
        except OSError as exc:
            log.error("the written spool file %s cannot be removed (%s)", self.spool_path, exc)
            return
        for key_id in self._spool_keys:  # the pictures are in the database now
            try:
                crypto.keys().forget(key_id)
            except Exception as exc:  # noqa: BLE001 - an unused key left behind is harmless
                log.warning("the spool file's key could not be deleted (%s)",
                            type(exc).__name__)
        self._spool_keys.clear()


def _spool_aad(data: dict[str, object]) -> bytes:
    """Associated data of a spooled snapshot: it only opens on its own line's event."""
    return (f"turnstile:spool.snapshot:{data.get('door')}:{data.get('at')}:"
            f"{data.get('decision')}:{data.get('employee_id')}").encode()


def error_record(reason: str, at: datetime | None = None, model_id: str | None = None
                 ) -> EventRecord:
    """An "error" event (the camera was lost, the door failed...)."""
    return EventRecord("error", at or utcnow(), reason=reason, model_id=model_id)
