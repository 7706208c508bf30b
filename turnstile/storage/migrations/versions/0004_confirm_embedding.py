"""A second embedding per face template, from the confirming embedder.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29

Adds ``face_templates.confirm_embedding`` (encrypted like ``embedding``, with the same data
key) and ``face_templates.confirm_model_id``: the embedding of the same face by the stronger
embedder that confirms the person the door's search found (SFace). Existing rows get theirs
at the next start, computed from their stored face crop
(:func:`turnstile.services.gallery.fill_confirm_embeddings`): a migration cannot run models.

Downgrading drops both columns (the older version never reads them).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("face_templates") as batch:
        batch.add_column(sa.Column("confirm_embedding", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("confirm_model_id", sa.String(length=128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("face_templates") as batch:
        batch.drop_column("confirm_model_id")
        batch.drop_column("confirm_embedding")
