"""The tamper-evident access log: a SHA-256 hash chain over the access events.

**The chain.** Each event stores ``prev_hash`` (the previous event's ``hash``, or
:data:`GENESIS` for the first) and ``hash`` = SHA-256 over a canonical encoding of its fields
(:func:`canonical`: sorted-key ASCII JSON with times in UTC to the microsecond and numbers as
``float.hex``) and ``prev_hash``. The snapshot is covered through ``snapshot_sha256`` (the
hash of the JPEG, so erasing a snapshot keeps the chain verifiable) and the person through
``subject_hash`` = SHA-256(random salt || employee id) (so erasing a person, which clears
``employee_id`` and the salt, keeps it verifiable too, while leaving nothing that ties the
event to them). Chain order is id order.

**Several writers.** There is one chain for the whole database, not one per door: ``verify``
then needs no door bookkeeping, and a deleted door cannot hide its events. Appending starts
with ``UPDATE protection_state SET lock_seq = lock_seq + 1`` on the single state row, which
takes SQLite's write lock (the ``sqlite3`` driver issues ``BEGIN`` before that first write,
see :mod:`turnstile.storage.db`) and, on PostgreSQL, a row lock held to commit (what
``SELECT ... FOR UPDATE`` would take). The head is read only after that, so two stations or
processes take turns and each links to the event the other just committed; the event's id is
assigned while the lock is held, so id order is chain order. Doors write a few events a
minute; serialising them costs nothing noticeable.

**The head and signatures.** The state row records the last event's id and hash and the
number of events ever chained, signed with HMAC-SHA256 under a key derived from the data key
(:func:`turnstile.storage.crypto.chain_mac`). Plain SHA-256 alone would let someone who edits
the database recompute every later hash; the signed head means they also need the key.
Deleting the newest events is caught by the head. Retention purges delete the oldest events
and leave a signed :class:`~turnstile.storage.models.LogCheckpoint` with the hash of the
last purged event, where :func:`verify` starts.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from turnstile.storage import crypto
from turnstile.storage.db import Database
from turnstile.storage.models import AccessEvent, LogCheckpoint, ProtectionState

log = logging.getLogger(__name__)

GENESIS = "0" * 64
"""``prev_hash`` of the first event ever written."""
VERIFY_CHUNK_ROWS = 5000


def _num(value: float | None) -> str | None:
    return None if value is None else float(value).hex()


def moment_text(at: datetime) -> str:
    """A time as the chain encodes it: UTC, microseconds, ``Z``."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class ChainFields:
    """The parts of an event the hash covers (everything but its id and the erasable
    ``employee_id``/salt/snapshot, which are covered through their hashes)."""

    at: datetime
    door_id: int
    decision: str
    reason: str | None
    score: float | None
    threshold: float | None
    liveness_score: float | None
    model_id: str | None
    subject_hash: str | None
    snapshot_sha256: str | None


def canonical(fields: ChainFields, prev_hash: str) -> bytes:
    """The canonical encoding (version 1) that is hashed."""
    doc = {
        "v": 1, "at": moment_text(fields.at), "door": fields.door_id,
        "decision": fields.decision, "reason": fields.reason, "score": _num(fields.score),
        "threshold": _num(fields.threshold), "liveness": _num(fields.liveness_score),
        "model": fields.model_id, "subject": fields.subject_hash,
        "snapshot": fields.snapshot_sha256, "prev": prev_hash,
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=True).encode("ascii")


def event_hash(fields: ChainFields, prev_hash: str) -> str:
    """SHA-256 (hex) of an event linked to ``prev_hash``."""
    return hashlib.sha256(canonical(fields, prev_hash)).hexdigest()


def subject_commitment(employee_id: int | None) -> tuple[str | None, str | None]:
    """``(salt, subject_hash)`` hex for a person (``(None, None)`` for nobody)."""
    if employee_id is None:
        return None, None
    salt = os.urandom(16).hex()
    return salt, _subject(salt, employee_id)


def _subject(salt: str, employee_id: int) -> str:
    return hashlib.sha256(bytes.fromhex(salt) + f"employee:{employee_id}".encode()).hexdigest()


def _fields(event: AccessEvent) -> ChainFields:
    return ChainFields(event.at, event.door_id, event.decision, event.reason, event.score,
                       event.threshold, event.liveness_score, event.model_id,
                       event.subject_hash, event.snapshot_sha256)


_unsigned_warned = False


def append(session: Session, event: AccessEvent, snapshot: bytes | None) -> AccessEvent:
    """Chain a new, not yet added event, encrypt its snapshot, insert it, move the head.

    Args:
        session: the caller's unit of work (committed by the caller).
        event: a new :class:`AccessEvent` with its fields and ``employee_id`` set.
        snapshot: the JPEG to keep with it (encrypted here), or ``None``.

    Raises:
        KeyMissingError: a snapshot was given but the data key is not here (nothing was
            written; the event writer then writes the event without it).
    """
    global _unsigned_warned
    crypto.lock_state(session)
    state = session.get(ProtectionState, 1, populate_existing=True)
    assert state is not None  # lock_state checked it
    key_id: str | None = None
    if snapshot is not None:
        key_id = crypto.active_key_id(session)
        assert key_id is not None
        crypto.keys().key(key_id)  # fail before anything is written
    event.subject_salt, event.subject_hash = subject_commitment(event.employee_id)
    event.snapshot_sha256 = None if snapshot is None else hashlib.sha256(snapshot).hexdigest()
    event.prev_hash = state.chain_last_hash
    event.hash = event_hash(_fields(event), state.chain_last_hash)
    if snapshot is not None and key_id is not None:
        event.snapshot_sealed = crypto.keys().seal(key_id, snapshot,
                                                   crypto.snapshot_aad(event.hash))
        event.snapshot_key_id = key_id
    session.add(event)
    session.flush()
    state.chain_last_event_id = event.id
    state.chain_last_hash = event.hash
    state.chain_events = state.chain_events + 1
    session.flush()
    try:
        signer = key_id or crypto.active_key_id(session)
        if signer is not None:
            crypto.keys().key(signer)
    except crypto.ProtectionError as exc:
        signer = None
        if not _unsigned_warned:
            _unsigned_warned = True
            log.error("access log head left unsigned: %s", exc)
    crypto.sign_head(session, signer)
    return event


@dataclass(frozen=True)
class VerifyReport:
    """The result of :func:`verify`.

    Attributes:
        ok: the log is intact.
        events: events checked.
        first_bad: id of the first event found wrong (for a deleted last event: its id, taken
            from the signed head), or ``None``.
        reason: what is wrong, in words ('' when ok).
        checkpoint: id of the last purged event the check started after (None: from the
            first event ever written).
        head_event_id: the last event the signed head names.
        erased_people: events whose person was erased (they still verify).
    """

    ok: bool
    events: int
    first_bad: int | None
    reason: str
    checkpoint: int | None = None
    head_event_id: int | None = None
    erased_people: int = 0

    def as_dict(self) -> dict[str, object]:
        return {"ok": self.ok, "events": self.events, "first_bad": self.first_bad,
                "reason": self.reason, "checkpoint": self.checkpoint,
                "head_event_id": self.head_event_id, "erased_people": self.erased_people}


def _check_checkpoint(cp: LogCheckpoint) -> bool:
    expected = crypto.chain_mac(cp.key_id, crypto.checkpoint_message(
        cp.last_event_id, cp.last_hash, cp.events_purged,
        crypto.checkpoint_moment(cp.purged_before)))
    return hmac.compare_digest(expected, cp.mac)


def verify(db: Database) -> VerifyReport:
    """Check the whole access log: every hash, every link, the checkpoint and the head.

    Detects an edited event (its hash no longer matches), a deleted or reordered one (the
    next event's ``prev_hash`` no longer matches), deleted newest events, and a rewritten
    chain (the head's or the checkpoint's signature no longer matches).

    Raises:
        KeyMissingError: a signature must be checked but the data key is not here.
    """
    with db.session() as s:
        state = s.get(ProtectionState, 1)
        if state is None:
            return VerifyReport(False, 0, None, "The database has no access-log chain "
                                                "(it was not migrated).")
        checkpoint = s.scalars(select(LogCheckpoint)
                               .order_by(LogCheckpoint.last_event_id.desc()).limit(1)).first()
        head = (state.chain_last_event_id, state.chain_last_hash, state.chain_events,
                state.chain_mac, state.chain_mac_key_id)
    start_id = 0
    expected_prev = GENESIS
    if checkpoint is not None:
        if not _check_checkpoint(checkpoint):
            return VerifyReport(False, 0, checkpoint.last_event_id + 1,
                                "The retention checkpoint's signature does not match: it was "
                                "changed outside Turnstile.", checkpoint.last_event_id)
        start_id, expected_prev = checkpoint.last_event_id, checkpoint.last_hash
    cp_id = checkpoint.last_event_id if checkpoint is not None else None

    def bad(event_id: int | None, reason: str) -> VerifyReport:
        return VerifyReport(False, count, event_id, reason, cp_id, head[0], erased)

    count = erased = 0
    last_seen: int | None = None
    with db.session() as s:
        if checkpoint is not None:
            early = s.scalar(select(AccessEvent.id).where(AccessEvent.id <= start_id)
                             .order_by(AccessEvent.id).limit(1))
            if early is not None:
                return bad(early, f"Event {early} is older than the retention checkpoint "
                                  f"(event {start_id}) but still present: it was added or "
                                  f"renumbered outside Turnstile.")
        after = start_id
        while True:
            rows = list(s.scalars(select(AccessEvent).where(AccessEvent.id > after)
                                  .order_by(AccessEvent.id).limit(VERIFY_CHUNK_ROWS)))
            if not rows:
                break
            for e in rows:
                count += 1
                if e.hash is None or e.prev_hash is None:
                    return bad(e.id, f"Event {e.id} has no hash: it was added outside "
                                     f"Turnstile.")
                if event_hash(_fields(e), e.prev_hash) != e.hash:
                    return bad(e.id, f"Event {e.id} was changed after it was written.")
                if e.prev_hash != expected_prev:
                    return bad(e.id, f"Event {e.id} does not follow the event before it: an "
                                     f"event was deleted or the order was changed "
                                     f"{'after' if last_seen is None else 'between'} "
                                     f"{'the start' if last_seen is None else last_seen} "
                                     f"and {e.id}.")
                if e.employee_id is not None:
                    if e.subject_salt is None or e.subject_hash is None or not \
                            hmac.compare_digest(_subject(e.subject_salt, e.employee_id),
                                                e.subject_hash):
                        return bad(e.id, f"Event {e.id} was changed after it was written "
                                         f"(the person it names).")
                elif e.subject_salt is not None:
                    return bad(e.id, f"The person was removed from event {e.id} outside "
                                     f"Turnstile's erasure.")
                elif e.subject_hash is not None:
                    erased += 1
                expected_prev, last_seen = e.hash, e.id
            after = rows[-1].id
            s.expunge_all()

    head_id, head_hash, head_events, head_mac, head_key = head
    if head_hash != expected_prev or (last_seen is not None and head_id != last_seen):
        if head_id is not None and (last_seen is None or head_id > last_seen):
            return bad(head_id, f"The newest events were deleted: the log ends at event "
                                f"{last_seen if last_seen is not None else '(none)'} but "
                                f"event {head_id} was written.")
        return bad(last_seen, "The log's head does not match its last event: the chain was "
                              "changed outside Turnstile.")
    if head_mac is None or head_key is None:
        if head_events or count:
            return bad(None, "The log's head is not signed (events were written while the "
                             "encryption key was missing, or the signature was removed). It is "
                             "signed again at the next event written with the key.")
    elif not hmac.compare_digest(head_mac, crypto.chain_mac(
            head_key, crypto.head_message(head_id, head_hash, head_events))):
        return bad(None, "The log's head signature does not match: the log was rewritten "
                         "outside Turnstile.")
    return VerifyReport(True, count, None, "", cp_id, head_id, erased)
