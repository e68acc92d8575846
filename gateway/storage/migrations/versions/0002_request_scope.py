"""request scope and transcript coverage

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("change_requests") as batch:
        for name in ("intents", "services", "destinations"):
            batch.add_column(sa.Column(name, sa.Text(), nullable=False, server_default="[]"))
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("request_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("request_id")
    with op.batch_alter_table("change_requests") as batch:
        for name in ("destinations", "services", "intents"):
            batch.drop_column(name)
