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
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
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
)
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

    ``embedding`` is ``dim`` little-endian float32 values, L2-normalised.
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
    embedding: Mapped[bytes] = mapped_column(LargeBinary)
    dim: Mapped[int] = mapped_column(Integer)
    model_id: Mapped[str] = mapped_column(String(MODEL_ID_MAX_CHARS))
    source: Mapped[str] = mapped_column(String(16))
    source_name: Mapped[str | None] = mapped_column(String(SOURCE_NAME_MAX_CHARS))
    quality: Mapped[float | None] = mapped_column(Float)
    face_crop: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    employee: Mapped[Employee] = relationship(back_populates="templates")


class Door(Base):
    """A door controlled by a station."""

    __tablename__ = "doors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(DOOR_NAME_MAX_CHARS), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AccessEvent(Base):
    """One decision taken at a door. Kept when the employee is deleted (employee_id NULL)."""

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
    snapshot: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)

    door: Mapped[Door] = relationship()
    employee: Mapped[Employee | None] = relationship(back_populates="events")


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
