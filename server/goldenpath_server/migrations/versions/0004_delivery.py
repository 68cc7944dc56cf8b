"""Progressive delivery: a rollout's strategy and progress, a promotion's chosen strategy.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("rollouts") as batch:
        batch.add_column(sa.Column("strategy", sa.String(24), nullable=False,
                                   server_default="rolling"))
        batch.add_column(sa.Column("progress", sa.JSON, nullable=False,
                                   server_default=sa.text("'{}'")))
    with op.batch_alter_table("promotions") as batch:
        batch.add_column(sa.Column("delivery", sa.JSON, nullable=False,
                                   server_default=sa.text("'{}'")))


def downgrade() -> None:
    with op.batch_alter_table("promotions") as batch:
        batch.drop_column("delivery")
    with op.batch_alter_table("rollouts") as batch:
        batch.drop_column("progress")
        batch.drop_column("strategy")
