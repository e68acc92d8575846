"""approval challenges: the client approves a held request in the Client Panel

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from gateway.storage.models import UTCDateTime

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "approval_challenges",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("public_id", sa.String(32), nullable=False),
        sa.Column(
            "request_id",
            sa.Integer(),
            sa.ForeignKey(
                "change_requests.id",
                ondelete="CASCADE",
                name="fk_approval_challenges_request_id_change_requests",
            ),
            nullable=False,
        ),
        sa.Column(
            "account_id",
            sa.Integer(),
            sa.ForeignKey(
                "accounts.id", ondelete="CASCADE", name="fk_approval_challenges_account_id_accounts"
            ),
            nullable=True,
        ),
        sa.Column("number", sa.String(8), nullable=False),
        sa.Column("description_sha256", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_approval_challenges"),
        sa.UniqueConstraint("public_id", name="uq_approval_challenges_public_id"),
    )
    op.create_index("ix_approval_challenges_request_id", "approval_challenges", ["request_id"])
    op.create_index(
        "ux_approval_challenges_pending_account",
        "approval_challenges",
        ["account_id"],
        unique=True,
        sqlite_where=sa.text("status = 'pending'"),
        postgresql_where=sa.text("status = 'pending'"),
    )


def downgrade() -> None:
    op.drop_index("ux_approval_challenges_pending_account", "approval_challenges")
    op.drop_index("ix_approval_challenges_request_id", "approval_challenges")
    op.drop_table("approval_challenges")
