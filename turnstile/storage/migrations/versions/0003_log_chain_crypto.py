"""Tamper-evident access log, encryption at rest, retention bookkeeping.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05

Adds the hash-chain columns of ``access_events``, the key id of encrypted biometric columns,
``employees.suspended_at`` (retention counts from it), the single-row ``protection_state``
(chain head and active data key), ``data_keys`` (key ids only, never key material) and
``log_checkpoints`` (signed starting points left by retention purges).

Existing access events are chained here, in id order, with the v1 encoding of
:mod:`turnstile.services.log_chain` copied below (a migration describes the schema as it was
at its revision and never imports application code). Hashing needs no key. Encrypting the
biometric columns of existing rows does need the key, which a migration cannot know: that
happens at the first start of the new version, in
:func:`turnstile.storage.crypto.protect_legacy_data` (called by the GUI at start, by
``turnstile keys rotate`` and by the retention job). Until then those rows, marked by a NULL
key id, are read as they are.

Downgrading drops the new columns; rows encrypted since then stay ciphertext that the older
version cannot read. Restore the backup made before this migration instead.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_GENESIS = "0" * 64
_BATCH_ROWS = 2000


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _num(value: float | None) -> str | None:
    return None if value is None else float(value).hex()


def _at_text(at: datetime | str) -> str:
    if isinstance(at, str):  # a driver that returns text
        at = datetime.fromisoformat(at)
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _event_hash(row: sa.Row, subject: str | None, snapshot_sha256: str | None,
                prev: str) -> str:
    doc = {
        "v": 1, "at": _at_text(row.at), "door": row.door_id, "decision": row.decision,
        "reason": row.reason, "score": _num(row.score), "threshold": _num(row.threshold),
        "liveness": _num(row.liveness_score), "model": row.model_id, "subject": subject,
        "snapshot": snapshot_sha256, "prev": prev,
    }
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def _chain_existing_events(bind: sa.Connection) -> tuple[int | None, str, int]:
    events = sa.table(
        "access_events", sa.column("id", sa.Integer), sa.column("at", _utc()),
        sa.column("door_id", sa.Integer), sa.column("employee_id", sa.Integer),
        sa.column("decision", sa.String), sa.column("reason", sa.String),
        sa.column("score", sa.Float), sa.column("threshold", sa.Float),
        sa.column("liveness_score", sa.Float), sa.column("model_id", sa.String),
        sa.column("snapshot", sa.LargeBinary), sa.column("snapshot_sha256", sa.String),
        sa.column("subject_salt", sa.String), sa.column("subject_hash", sa.String),
        sa.column("prev_hash", sa.String), sa.column("hash", sa.String),
    )
    prev, last_id, count = _GENESIS, None, 0
    while True:
        stmt = sa.select(events.c.id, events.c.at, events.c.door_id, events.c.employee_id,
                         events.c.decision, events.c.reason, events.c.score,
                         events.c.threshold, events.c.liveness_score, events.c.model_id,
                         events.c.snapshot).order_by(events.c.id).limit(_BATCH_ROWS)
        if last_id is not None:
            stmt = stmt.where(events.c.id > last_id)
        rows = bind.execute(stmt).all()
        if not rows:
            break
        updates = []
        for row in rows:
            salt = subject = None
            if row.employee_id is not None:
                salt = os.urandom(16).hex()
                subject = hashlib.sha256(bytes.fromhex(salt)
                                         + f"employee:{row.employee_id}".encode()).hexdigest()
            snap = None if row.snapshot is None else hashlib.sha256(row.snapshot).hexdigest()
            digest = _event_hash(row, subject, snap, prev)
            updates.append({"b_id": row.id, "b_snap": snap, "b_salt": salt,
                            "b_subject": subject, "b_prev": prev, "b_hash": digest})
            prev, last_id = digest, row.id
        count += len(rows)
        bind.execute(
            events.update().where(events.c.id == sa.bindparam("b_id")).values(
                snapshot_sha256=sa.bindparam("b_snap"), subject_salt=sa.bindparam("b_salt"),
                subject_hash=sa.bindparam("b_subject"), prev_hash=sa.bindparam("b_prev"),
                hash=sa.bindparam("b_hash")),
            updates)
    return last_id, prev, count


def upgrade() -> None:
    with op.batch_alter_table("employees") as batch:
        batch.add_column(sa.Column("suspended_at", _utc(), nullable=True))
    with op.batch_alter_table("face_templates") as batch:
        batch.add_column(sa.Column("key_id", sa.String(length=32), nullable=True))
    with op.batch_alter_table("access_events") as batch:
        batch.add_column(sa.Column("snapshot_key_id", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("snapshot_sha256", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("subject_salt", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("subject_hash", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("hash", sa.String(length=64), nullable=True))

    op.create_table(
        "protection_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lock_seq", sa.Integer(), nullable=False),
        sa.Column("active_key_id", sa.String(length=32), nullable=True),
        sa.Column("chain_last_event_id", sa.Integer(), nullable=True),
        sa.Column("chain_last_hash", sa.String(length=64), nullable=False),
        sa.Column("chain_events", sa.Integer(), nullable=False),
        sa.Column("chain_mac", sa.String(length=64), nullable=True),
        sa.Column("chain_mac_key_id", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_protection_state")),
    )
    op.create_table(
        "data_keys",
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("retired_at", _utc(), nullable=True),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_data_keys")),
    )
    op.create_table(
        "log_checkpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("last_event_id", sa.Integer(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.Column("events_purged", sa.Integer(), nullable=False),
        sa.Column("purged_before", _utc(), nullable=False),
        sa.Column("mac", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_log_checkpoints")),
        sqlite_autoincrement=True,
    )

    bind = op.get_bind()
    employees = sa.table("employees", sa.column("status", sa.String),
                         sa.column("updated_at", _utc()), sa.column("suspended_at", _utc()))
    bind.execute(employees.update().where(employees.c.status == "suspended")
                 .values(suspended_at=employees.c.updated_at))
    last_id, last_hash, count = _chain_existing_events(bind)
    state = sa.table("protection_state", sa.column("id", sa.Integer),
                     sa.column("lock_seq", sa.Integer),
                     sa.column("chain_last_event_id", sa.Integer),
                     sa.column("chain_last_hash", sa.String),
                     sa.column("chain_events", sa.Integer))
    bind.execute(state.insert().values(id=1, lock_seq=0, chain_last_event_id=last_id,
                                       chain_last_hash=last_hash, chain_events=count))


def downgrade() -> None:
    op.drop_table("log_checkpoints")
    op.drop_table("data_keys")
    op.drop_table("protection_state")
    with op.batch_alter_table("access_events") as batch:
        for name in ("hash", "prev_hash", "subject_hash", "subject_salt", "snapshot_sha256",
                     "snapshot_key_id"):
            batch.drop_column(name)
    with op.batch_alter_table("face_templates") as batch:
        batch.drop_column("key_id")
    with op.batch_alter_table("employees") as batch:
        batch.drop_column("suspended_at")
