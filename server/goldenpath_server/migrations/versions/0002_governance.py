"""Governance: users, tokens, roles, promotions, approvals, evidence, the hash-chained audit.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    ts = sa.DateTime(timezone=True)
    empty = sa.text("'{}'")
    with op.batch_alter_table("releases") as batch:
        batch.add_column(sa.Column("evidence", sa.JSON, nullable=False, server_default=empty))
        batch.add_column(sa.Column("registry_uri", sa.String(300), nullable=False,
                                   server_default=""))
    with op.batch_alter_table("deployments") as batch:
        batch.add_column(sa.Column("promotion_id", sa.String(32), nullable=True))
        batch.add_column(sa.Column("live_since", ts, nullable=True))
        batch.create_index("ix_deployments_environment", ["environment"])
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("seq", sa.BigInteger, nullable=True))
        batch.add_column(sa.Column("actor", sa.String(200), nullable=False, server_default=""))
        batch.add_column(sa.Column("prev_hash", sa.String(64), nullable=False, server_default=""))
        batch.add_column(sa.Column("hash", sa.String(64), nullable=False, server_default=""))
        batch.create_unique_constraint("uq_events_seq", ["seq"])
        batch.create_index("ix_events_type", ["type"])
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("created_at", ts, nullable=False),
    )
    op.create_table(
        "role_bindings",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False, index=True),
        sa.Column("team", sa.String(63), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.UniqueConstraint("user_id", "team"),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False, index=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", ts, nullable=False),
        sa.Column("last_used_at", ts, nullable=True),
        sa.Column("revoked_at", ts, nullable=True),
    )
    op.create_table(
        "promotions",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("release_id", sa.String(32), sa.ForeignKey("releases.id"), nullable=False),
        sa.Column("environment", sa.String(63), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("required_approvals", sa.Integer, nullable=False),
        sa.Column("policy_outcome", sa.String(16), nullable=False),
        sa.Column("policy_results", sa.JSON, nullable=False),
        sa.Column("created_at", ts, nullable=False),
        sa.Column("decided_at", ts, nullable=True),
    )
    op.create_index("ix_promotions_release", "promotions", ["release_id"])
    op.create_index("ix_promotions_status", "promotions", ["status"])
    op.create_table(
        "approvals",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("promotion_id", sa.String(32), sa.ForeignKey("promotions.id"), nullable=False,
                  index=True),
        sa.Column("user", sa.String(200), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("at", ts, nullable=False),
        sa.UniqueConstraint("promotion_id", "user"),
    )
    _chain_existing_events()


def _chain_existing_events() -> None:
    """Events written before the chain existed join it, in the order they were written."""
    from goldenpath_server._audit import GENESIS, event_hash

    bind = op.get_bind()
    events = sa.table("events", sa.column("id"), sa.column("at", sa.DateTime(timezone=True)),
                      sa.column("service"),
                      sa.column("environment"), sa.column("release_id"), sa.column("type"),
                      sa.column("message"), sa.column("data", sa.JSON), sa.column("seq"),
                      sa.column("actor"), sa.column("prev_hash"), sa.column("hash"))
    prev, seq = GENESIS, 0
    for row in bind.execute(sa.select(events).order_by(events.c.id)).mappings().all():
        seq += 1
        fields = {**row, "seq": seq, "actor": "", "prev_hash": prev}
        digest = event_hash(fields)
        bind.execute(events.update().where(events.c.id == row["id"]).values(
            seq=seq, prev_hash=prev, hash=digest))
        prev = digest
    bind.execute(sa.table("audit_head", sa.column("id"), sa.column("seq"), sa.column("hash"))
                 .insert().values(id=1, seq=seq, hash=prev))


def downgrade() -> None:
    for table in ("approvals", "promotions", "api_tokens", "role_bindings", "users",
                  "audit_head"):
        op.drop_table(table)
    with op.batch_alter_table("events") as batch:
        batch.drop_index("ix_events_type")
        batch.drop_constraint("uq_events_seq", type_="unique")
        for column in ("hash", "prev_hash", "actor", "seq"):
            batch.drop_column(column)
    with op.batch_alter_table("deployments") as batch:
        batch.drop_index("ix_deployments_environment")
        batch.drop_column("live_since")
        batch.drop_column("promotion_id")
    with op.batch_alter_table("releases") as batch:
        batch.drop_column("registry_uri")
        batch.drop_column("evidence")
