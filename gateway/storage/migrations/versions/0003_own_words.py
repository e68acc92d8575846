"""fingerprints of the gateway's own mail

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 15:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("mail_threads") as batch:
        batch.add_column(sa.Column("own_words", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("mail_threads") as batch:
        batch.drop_column("own_words")
