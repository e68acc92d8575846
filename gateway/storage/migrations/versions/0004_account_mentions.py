"""the squashed keys accounts may be mentioned by; the outbox's and held requests' seals

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from gateway.accounts.mentions import keys_of_account

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    mentions = op.create_table(
        "account_mentions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "account_id",
            sa.Integer(),
            sa.ForeignKey("accounts.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("key", sa.String(253), nullable=False),
    )
    op.create_index("ix_account_mentions_account_id", "account_mentions", ["account_id"])
    op.create_index("ix_account_mentions_key", "account_mentions", ["key"])
    # Accounts imported before this revision get their keys now.
    bind = op.get_bind()
    services: dict[int, list[str]] = {}
    for account_id, name in bind.execute(sa.text("SELECT account_id, name FROM account_services")):
        services.setdefault(account_id, []).append(name)
    rows = [
        {"account_id": account_id, "kind": mention.kind, "key": mention.key}
        for account_id, login, name in bind.execute(sa.text("SELECT id, login, name FROM accounts"))
        for mention in keys_of_account(login, name or "", services.get(account_id, []))
    ]
    if rows:
        op.bulk_insert(mentions, rows)
    # Items queued before this revision have no seal and are not delivered: drain the outbox
    # before upgrading (README, upgrading).
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("seal", sa.String(100), nullable=True))
    # Held requests from before it have no seal: no code verifies them; they expire.
    with op.batch_alter_table("change_requests") as batch:
        batch.add_column(sa.Column("seal", sa.String(100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("change_requests") as batch:
        batch.drop_column("seal")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("seal")
    op.drop_index("ix_account_mentions_key", "account_mentions")
    op.drop_index("ix_account_mentions_account_id", "account_mentions")
    op.drop_table("account_mentions")
