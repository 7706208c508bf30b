"""Remember which confirming embeddings were made from a stored face crop.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29

Adds ``face_templates.confirm_from_crop``: true when the confirming embedding was computed
from the stored 150x150 crop (people enrolled before the confirming embedder existed), false
when it was computed from the photo itself at enrollment. A crop-made embedding is second best
(the crop lacks the forehead band the confirming model sees), so once a person has any
photo-made one the gallery uses only those. Rows already at 0004 are marked photo-made: the
older version did not record the difference, and keeping an embedding is the safe default.

Downgrading drops the column.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("face_templates") as batch:
        batch.add_column(sa.Column("confirm_from_crop", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("face_templates") as batch:
        batch.drop_column("confirm_from_crop")
