"""contract v2: where each solution's bond is (held, returned, forfeited, none)

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 00:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("solution", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "bond",
                sqlmodel.sql.sqltypes.AutoString(length=16),
                nullable=False,
                server_default="held",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("solution", schema=None) as batch_op:
        batch_op.drop_column("bond")
