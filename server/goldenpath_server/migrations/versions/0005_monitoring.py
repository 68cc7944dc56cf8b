"""Monitoring: the inference log pulled from serving runtimes, and drift windows.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inferences",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("service", sa.String(63), nullable=False),
        sa.Column("environment", sa.String(63), nullable=False),
        sa.Column("release_id", sa.String(32), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False, server_default=""),
        sa.Column("boot", sa.String(64), nullable=False, server_default=""),
        sa.Column("seq", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rows", sa.Integer, nullable=False, server_default="1"),
        sa.Column("inputs", sa.JSON),
        sa.Column("outputs", sa.JSON))
    op.create_index("ix_inferences_deployment", "inferences", ["service", "environment", "id"])
    op.create_index("ix_inferences_at", "inferences", ["at"])
    op.create_index("ix_inferences_boot", "inferences", ["boot", "seq"])
    op.create_table(
        "drift_windows",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("service", sa.String(63), nullable=False),
        sa.Column("environment", sa.String(63), nullable=False),
        sa.Column("release_id", sa.String(32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("first_inference_id", sa.Integer, nullable=False),
        sa.Column("last_inference_id", sa.Integer, nullable=False),
        sa.Column("rows", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("drifted", sa.JSON, nullable=False),
        sa.Column("report", sa.JSON, nullable=False))
    op.create_index("ix_drift_windows_deployment", "drift_windows",
                    ["service", "environment", "id"])


def downgrade() -> None:
    op.drop_table("drift_windows")
    op.drop_table("inferences")
