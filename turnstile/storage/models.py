"""SQLAlchemy 2.0 typed models: employees, face templates, doors, access events, thresholds.

Times: every timestamp column is :class:`UTCDateTime`. Python code passes and receives
timezone-aware UTC datetimes only; a naive datetime is refused when bound. On SQLite the
value is stored as naive UTC text (``YYYY-MM-DD HH:MM:SS.ffffff``, which sorts correctly);
on PostgreSQL as ``timestamp with time zone``. Either way it comes back aware, in UTC.

Enumerated texts (status, source, decision) are plain strings guarded by named CHECK
constraints, so adding a value later is a small batch migration rather than a native enum
type change. All constraints are named by :data:`NAMING_CONVENTION`, which Alembic's batch
mode on SQLite needs to find them again.

Room left on purpose: admin users and an audit trail will be new tables (``admin_users``,
``audit_entries``) referencing these by id; nothing here assumes a single operator.

Biometric columns (``face_templates.embedding``, ``face_templates.face_crop``,
``access_events.snapshot``) hold AES-GCM ciphertext (see :mod:`turnstile.storage.crypto`):
the mapped attributes ``embedding_sealed``/``face_crop_sealed``/``snapshot_sealed`` are the
stored bytes, and ``embedding``/``face_crop``/``snapshot`` read them decrypted (in SQL
expressions they stand for the stored column). Only
:mod:`turnstile.storage.repositories` writes them.

Access events form a hash chain (:mod:`turnstile.services.log_chain`); its head and the active
data key live in the single row of :class:`ProtectionState`, and retention purges leave signed
:class:`LogCheckpoint` rows.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    false,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    WriteOnlyMapped,
    mapped_column,
    relationship,
)
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

EMPLOYEE_STATUSES: tuple[str, ...] = ("active", "suspended")
TEMPLATE_SOURCES: tuple[str, ...] = ("photo", "camera", "import")
DECISIONS: tuple[str, ...] = ("granted", "denied", "unknown", "spoof", "error")

EMPLOYEE_NUMBER_MAX_CHARS = 64
NAME_MAX_CHARS = 200
DEPARTMENT_MAX_CHARS = 200
CONSENT_VERSION_MAX_CHARS = 64
MODEL_ID_MAX_CHARS = 128
SOURCE_NAME_MAX_CHARS = 255
DOOR_NAME_MAX_CHARS = 200
REASON_MAX_CHARS = 200
THRESHOLD_NAME_MAX_CHARS = 64
THRESHOLD_SOURCE_MAX_CHARS = 500
KEY_ID_MAX_CHARS = 32
HASH_HEX_CHARS = 64
"""SHA-256 and HMAC-SHA256 values are stored as 64 lowercase hex digits."""
SALT_HEX_CHARS = 32


def utcnow() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)


def _in_list(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{v}'" for v in values)  # constants above, never user input
    return f"{column} IN ({quoted})"


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always an aware UTC datetime in Python.

    Binding a naive datetime raises ``ValueError``: guessing its zone is how logs end up an
    hour off twice a year.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime given to the database; use an aware UTC datetime")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            # SQLite has no time zone type; the UTC wall time is stored as text.
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base holding the shared, convention-named metadata."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)

    def __repr__(self) -> str:
        # Only the primary key: a repr must never carry names, embeddings or images into logs.
        return f"<{type(self).__name__} id={getattr(self, 'id', '?')}>"


class Employee(Base):
    """A person who may be let in. Deleting one deletes their face templates; their access
    events stay (employee_id becomes NULL) but their snapshots must be erased first, see
    :func:`turnstile.storage.repositories.delete_employee`.
    """

    __tablename__ = "employees"
    __table_args__ = (
        CheckConstraint(_in_list("status", EMPLOYEE_STATUSES), name="status"),
        CheckConstraint(
            "valid_from IS NULL OR valid_until IS NULL OR valid_from <= valid_until",
            name="valid_period",
        ),
        # Never reuse the id of a deleted person: exports and audit entries stay unambiguous.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    employee_number: Mapped[str] = mapped_column(String(EMPLOYEE_NUMBER_MAX_CHARS), unique=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX_CHARS), index=True)
    department: Mapped[str | None] = mapped_column(String(DEPARTMENT_MAX_CHARS))
    status: Mapped[str] = mapped_column(String(16), default="active", index=True)
    valid_from: Mapped[datetime | None] = mapped_column(UTCDateTime())
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    consent_text_version: Mapped[str | None] = mapped_column(String(CONSENT_VERSION_MAX_CHARS))
    suspended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    """When the person was last suspended (None while active); retention counts from it."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    templates: Mapped[list[FaceTemplate]] = relationship(
        back_populates="employee",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="FaceTemplate.id",
    )
    # Write-only: an employee may have 100k events; they are queried with filters and paging.
    events: WriteOnlyMapped[AccessEvent] = relationship(
        back_populates="employee", passive_deletes=True
    )


class FaceTemplate(Base):
    """One face embedding of an employee, as produced by one model version.

    ``embedding`` is ``dim`` little-endian float32 values, L2-normalised; ``face_crop`` a
    small JPEG; ``confirm_embedding`` the same face's embedding by the confirming embedder
    ``confirm_model_id`` (None until computed; ``confirm_from_crop``: computed from the stored
    crop rather than the photo, second best). All are stored encrypted with the data key
    ``key_id`` (``None``: a row written before encryption existed, still plain until
    :func:`turnstile.storage.crypto.protect_legacy_data` runs).
    """

    __tablename__ = "face_templates"
    __table_args__ = (
        CheckConstraint(_in_list("source", TEMPLATE_SOURCES), name="source"),
        CheckConstraint("dim > 0", name="dim_positive"),
        Index("ix_face_templates_model_id_employee_id", "model_id", "employee_id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    employee_id: Mapped[int] = mapped_column(
        ForeignKey("employees.id", ondelete="CASCADE"), index=True
    )
    embedding_sealed: Mapped[bytes] = mapped_column("embedding", LargeBinary)
    dim: Mapped[int] = mapped_column(Integer)
    model_id: Mapped[str] = mapped_column(String(MODEL_ID_MAX_CHARS))
    source: Mapped[str] = mapped_column(String(16))
    source_name: Mapped[str | None] = mapped_column(String(SOURCE_NAME_MAX_CHARS))
    quality: Mapped[float | None] = mapped_column(Float)
    face_crop_sealed: Mapped[bytes | None] = mapped_column("face_crop", LargeBinary)
    key_id: Mapped[str | None] = mapped_column(String(KEY_ID_MAX_CHARS))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    confirm_sealed: Mapped[bytes | None] = mapped_column("confirm_embedding", LargeBinary)
    confirm_model_id: Mapped[str | None] = mapped_column(String(MODEL_ID_MAX_CHARS))
    confirm_from_crop: Mapped[bool] = mapped_column(Boolean, default=False,
                                                    server_default=false())

    employee: Mapped[Employee] = relationship(back_populates="templates")

    @hybrid_property
    def embedding(self) -> bytes:
        """The embedding bytes, decrypted (raises ``KeyMissingError`` without the key)."""
        from turnstile.storage import crypto

        return crypto.open_template_embedding(self)

    @embedding.inplace.expression
    @classmethod
    def _embedding_expression(cls) -> Any:
        return cls.embedding_sealed

    @hybrid_property
    def face_crop(self) -> bytes | None:
        """The face crop JPEG, decrypted (``None`` when there is none)."""
        from turnstile.storage import crypto

        return crypto.open_template_face_crop(self)

    @face_crop.inplace.expression
    @classmethod
    def _face_crop_expression(cls) -> Any:
        return cls.face_crop_sealed


class Door(Base):
    """A door controlled by a station."""

    __tablename__ = "doors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(DOOR_NAME_MAX_CHARS), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AccessEvent(Base):
    """One decision taken at a door. Kept when the employee is deleted (employee_id NULL).

    Chain columns (see :mod:`turnstile.services.log_chain`): ``hash`` is SHA-256 over the
    event's fields, ``subject_hash`` (which commits to ``employee_id`` through the random
    ``subject_salt``), ``snapshot_sha256`` and ``prev_hash``. Erasing a person clears
    ``employee_id``, ``subject_salt`` and the snapshot but keeps both hashes, so the chain
    still verifies and the event can no longer be tied to anyone.
    """

    __tablename__ = "access_events"
    __table_args__ = (CheckConstraint(_in_list("decision", DECISIONS), name="decision"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    door_id: Mapped[int] = mapped_column(ForeignKey("doors.id"), index=True)
    employee_id: Mapped[int | None] = mapped_column(
        ForeignKey("employees.id", ondelete="SET NULL"), index=True
    )
    decision: Mapped[str] = mapped_column(String(16), index=True)
    reason: Mapped[str | None] = mapped_column(String(REASON_MAX_CHARS))
    score: Mapped[float | None] = mapped_column(Float)
    threshold: Mapped[float | None] = mapped_column(Float)
    liveness_score: Mapped[float | None] = mapped_column(Float)
    model_id: Mapped[str | None] = mapped_column(String(MODEL_ID_MAX_CHARS))
    snapshot_sealed: Mapped[bytes | None] = mapped_column("snapshot", LargeBinary,
                                                          deferred=True)
    snapshot_key_id: Mapped[str | None] = mapped_column(String(KEY_ID_MAX_CHARS))
    snapshot_sha256: Mapped[str | None] = mapped_column(String(HASH_HEX_CHARS))
    subject_salt: Mapped[str | None] = mapped_column(String(SALT_HEX_CHARS))
    subject_hash: Mapped[str | None] = mapped_column(String(HASH_HEX_CHARS))
    prev_hash: Mapped[str | None] = mapped_column(String(HASH_HEX_CHARS))
    hash: Mapped[str | None] = mapped_column(String(HASH_HEX_CHARS))

    door: Mapped[Door] = relationship()
    employee: Mapped[Employee | None] = relationship(back_populates="events")

    @hybrid_property
    def snapshot(self) -> bytes | None:
        """The snapshot JPEG, decrypted (``None`` when there is none)."""
        from turnstile.storage import crypto

        return crypto.open_event_snapshot(self)

    @snapshot.inplace.expression
    @classmethod
    def _snapshot_expression(cls) -> Any:
        return cls.snapshot_sealed


class ProtectionState(Base):
    """The one row (id 1) holding the access log's chain head and the active data key.

    Every write to the chain and every key change first updates this row (``lock_seq``):
    that takes SQLite's write lock, or a row lock on PostgreSQL, so concurrent writers take
    turns and the head always names the last event written.
    """

    __tablename__ = "protection_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lock_seq: Mapped[int] = mapped_column(Integer, default=0)
    active_key_id: Mapped[str | None] = mapped_column(String(KEY_ID_MAX_CHARS))
    chain_last_event_id: Mapped[int | None] = mapped_column(Integer)
    chain_last_hash: Mapped[str] = mapped_column(String(HASH_HEX_CHARS))
    chain_events: Mapped[int] = mapped_column(Integer, default=0)
    chain_mac: Mapped[str | None] = mapped_column(String(HASH_HEX_CHARS))
    chain_mac_key_id: Mapped[str | None] = mapped_column(String(KEY_ID_MAX_CHARS))


class DataKey(Base):
    """A data key's id and history; the key itself is in the OS keyring or the key file,
    never in the database."""

    __tablename__ = "data_keys"

    key_id: Mapped[str] = mapped_column(String(KEY_ID_MAX_CHARS), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    def __repr__(self) -> str:
        return f"<DataKey {self.key_id}>"


class LogCheckpoint(Base):
    """Where the access log starts after a retention purge: the hash of the last purged event,
    signed (HMAC-SHA256 with a key derived from the data key ``key_id``)."""

    __tablename__ = "log_checkpoints"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_event_id: Mapped[int] = mapped_column(Integer)
    last_hash: Mapped[str] = mapped_column(String(HASH_HEX_CHARS))
    events_purged: Mapped[int] = mapped_column(Integer)
    purged_before: Mapped[datetime] = mapped_column(UTCDateTime())
    mac: Mapped[str] = mapped_column(String(HASH_HEX_CHARS))
    key_id: Mapped[str] = mapped_column(String(KEY_ID_MAX_CHARS))


class ModelThreshold(Base):
    """A calibrated threshold of one model version (e.g. ``accept`` for a target FAR)."""

    __tablename__ = "model_thresholds"

    model_id: Mapped[str] = mapped_column(String(MODEL_ID_MAX_CHARS), primary_key=True)
    name: Mapped[str] = mapped_column(String(THRESHOLD_NAME_MAX_CHARS), primary_key=True)
    value: Mapped[float] = mapped_column(Float)
    target_far: Mapped[float | None] = mapped_column(Float)
    source: Mapped[str | None] = mapped_column(String(THRESHOLD_SOURCE_MAX_CHARS))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    def __repr__(self) -> str:
        return f"<ModelThreshold {self.model_id!r} {self.name!r}={self.value!r}>"


# Accounts and the audit trail share this metadata (imported last: they subclass Base).
from turnstile.storage import accounts as _accounts  # noqa: E402, F401
