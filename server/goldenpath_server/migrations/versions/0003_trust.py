"""Trust: rollouts (every attempt to put a release live), where evidence came from, and
delegation tokens.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    ts = sa.DateTime(timezone=True)
    with op.batch_alter_table("releases") as batch:
        batch.add_column(sa.Column("evidence_sources", sa.JSON, nullable=False,
                                   server_default=sa.text("'{}'")))
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("kind", sa.String(16), nullable=False,
                                   server_default="user"))
    with op.batch_alter_table("deployments") as batch:
        batch.add_column(sa.Column("rollout_id", sa.String(32), nullable=True))
    op.create_table(
        "rollouts",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("service_id", sa.Integer, sa.ForeignKey("services.id"), nullable=False),
        sa.Column("environment", sa.String(63), nullable=False),
        sa.Column("release_id", sa.String(32), sa.ForeignKey("releases.id"), nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("message", sa.Text, nullable=False, server_default=""),
        sa.Column("promotion_id", sa.String(32), nullable=True),
        sa.Column("started_by", sa.String(200), nullable=False, server_default=""),
        sa.Column("started_at", ts, nullable=False),
        sa.Column("finished_at", ts, nullable=True),
    )
    op.create_index("ix_rollouts_service_env", "rollouts", ["service_id", "environment"])
    op.create_index("ix_rollouts_release", "rollouts", ["release_id"])


def downgrade() -> None:
    op.drop_table("rollouts")
    with op.batch_alter_table("deployments") as batch:
        batch.drop_column("rollout_id")
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("kind")
    with op.batch_alter_table("releases") as batch:
        batch.drop_column("evidence_sources")
