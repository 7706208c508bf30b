"""Accounts (who may leave the door page) and the audit trail (what they did).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05

Written by hand to match :mod:`turnstile.storage.accounts`. As in 0001, the models'
``UTCDateTime`` is written as its storage type, ``DateTime(timezone=True)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("failed_count", sa.Integer(), nullable=False),
        sa.Column("locked_until", _utc(), nullable=True),
        sa.Column("last_login", _utc(), nullable=True),
        sa.CheckConstraint("role IN ('front_desk', 'admin')", name=op.f("ck_accounts_role")),
        sa.CheckConstraint("failed_count >= 0", name=op.f("ck_accounts_failed_count")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.UniqueConstraint("username", name=op.f("uq_accounts_username")),
        sqlite_autoincrement=True,
    )

    op.create_table(
        "audit_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", _utc(), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=255), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_entries")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_audit_entries_at"), "audit_entries", ["at"])
    op.create_index(op.f("ix_audit_entries_actor"), "audit_entries", ["actor"])
    op.create_index(op.f("ix_audit_entries_action"), "audit_entries", ["action"])


def downgrade() -> None:
    op.drop_table("audit_entries")
    op.drop_table("accounts")
