"""Models of the people who operate Turnstile and of what they did.

:class:`Account` is an operator (front desk or admin) who may leave the door page;
:class:`AuditEntry` is one line of the audit trail. Both live on the declarative
:class:`~turnstile.storage.models.Base`; ``models`` imports this module at its end so the
shared metadata (and so Alembic and ``create_all``) sees them.

An account stores a password *hash* only (see :mod:`turnstile.services.auth`); its ``repr``
carries the id alone so no hash or username reaches a log by accident.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from turnstile.storage.models import Base, UTCDateTime, _in_list, utcnow

ROLES: tuple[str, ...] = ("front_desk", "admin")

USERNAME_MAX_CHARS = 64
PASSWORD_HASH_MAX_CHARS = 255
ACTOR_MAX_CHARS = 128
ACTION_MAX_CHARS = 64
TARGET_MAX_CHARS = 255


class Account(Base):
    """An operator who may log in. Accounts are disabled, never deleted, so the audit trail
    keeps naming someone who existed."""

    __tablename__ = "accounts"
    __table_args__ = (
        CheckConstraint(_in_list("role", ROLES), name="role"),
        CheckConstraint("failed_count >= 0", name="failed_count"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(USERNAME_MAX_CHARS), unique=True)
    password_hash: Mapped[str] = mapped_column(String(PASSWORD_HASH_MAX_CHARS))
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # Failures since the last successful login; drives the backoff and the lockout.
    failed_count: Mapped[int] = mapped_column(Integer, default=0)
    # No login attempt is even checked before this time (backoff or lockout).
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_login: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AuditEntry(Base):
    """One thing an operator (or the system) did: who, when, what, to what, and whether it
    worked. ``detail`` is plain text for a person to read; never a password, an embedding
    or an image."""

    __tablename__ = "audit_entries"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    # An account's username, "system", or "os:<user>" for a CLI run before any account.
    actor: Mapped[str] = mapped_column(String(ACTOR_MAX_CHARS), index=True)
    action: Mapped[str] = mapped_column(String(ACTION_MAX_CHARS), index=True)
    target: Mapped[str | None] = mapped_column(String(TARGET_MAX_CHARS))
    detail: Mapped[str | None] = mapped_column(Text)
    success: Mapped[bool] = mapped_column(Boolean, default=True)
