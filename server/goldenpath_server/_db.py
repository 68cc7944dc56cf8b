"""Tables (SQLAlchemy 2) and the engine; the schema itself is owned by Alembic migrations."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, datetime: DateTime(timezone=True)}


class ServiceRow(Base):
    __tablename__ = "services"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # model | app
    team: Mapped[str] = mapped_column(String(63), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReleaseRow(Base):
    __tablename__ = "releases"
    __table_args__ = (UniqueConstraint("service_id", "version"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"))
    version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    digest: Mapped[str] = mapped_column(String(71))  # sha256:<hex> of the bundle or image
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    image: Mapped[str] = mapped_column(Text, default="")
    bento_tag: Mapped[str] = mapped_column(String(200), default="")
    spec: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # per evidence item: {"source": "server"} (checked by the server) or
    # {"source": "declared", "by": user} (what a caller said), with "at"
    evidence_sources: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    registry_uri: Mapped[str] = mapped_column(String(300), default="")  # models:/name/version


class DeploymentRow(Base):
    __tablename__ = "deployments"
    __table_args__ = (UniqueConstraint("service_id", "environment"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"))
    environment: Mapped[str] = mapped_column(String(63), index=True)
    release_id: Mapped[str] = mapped_column(ForeignKey("releases.id"))
    previous_release_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    status: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text, default="")
    url: Mapped[str] = mapped_column(Text, default="")
    target: Mapped[str] = mapped_column(String(32), default="local")
    target_state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    promotion_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    live_since: Mapped[datetime | None] = mapped_column(nullable=True)
    rollout_id: Mapped[str | None] = mapped_column(String(32), nullable=True)


class RolloutRow(Base):
    """One attempt to put a release live in an environment, and how it ended.

    The succeeded ones are the environment's history of live releases: what rollback walks
    back through, and where a release "ran" for the promotion path."""

    __tablename__ = "rollouts"
    __table_args__ = (Index("ix_rollouts_service_env", "service_id", "environment"),
                      Index("ix_rollouts_release", "release_id"))
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"))
    environment: Mapped[str] = mapped_column(String(63))
    release_id: Mapped[str] = mapped_column(ForeignKey("releases.id"))
    reason: Mapped[str] = mapped_column(String(16))  # deploy | promotion | rollback
    status: Mapped[str] = mapped_column(String(16))  # running | succeeded | failed
    message: Mapped[str] = mapped_column(Text, default="")
    promotion_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    started_by: Mapped[str] = mapped_column(String(200), default="")
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # its delivery strategy and, for a progressive one, the plan, the step it is at, the
    # candidate's target state and the analyses so far (_progression.py): a restart resumes
    # it where it stood
    strategy: Mapped[str] = mapped_column(String(24), default="rolling")
    progress: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class EventRow(Base):
    """One audit event; `seq`, `prev_hash` and `hash` chain every event to the one before."""

    __tablename__ = "events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    seq: Mapped[int | None] = mapped_column(BigInteger, unique=True, nullable=True)
    actor: Mapped[str] = mapped_column(String(200), default="")
    prev_hash: Mapped[str] = mapped_column(String(64), default="")
    hash: Mapped[str] = mapped_column(String(64), default="")
    at: Mapped[datetime] = mapped_column(default=utcnow)
    service: Mapped[str] = mapped_column(String(63), index=True)
    environment: Mapped[str] = mapped_column(String(63), default="")
    release_id: Mapped[str] = mapped_column(String(32), default="")
    type: Mapped[str] = mapped_column(String(63), index=True)
    message: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class AuditHeadRow(Base):
    """The chain's head (one row): the last sequence number and hash, to detect a cut tail."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    hash: Mapped[str] = mapped_column(String(64), default="")


class UserRow(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RoleBindingRow(Base):
    """A user's role in one team (`*` = every team)."""

    __tablename__ = "role_bindings"
    __table_args__ = (UniqueConstraint("user_id", "team"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    team: Mapped[str] = mapped_column(String(63))
    role: Mapped[str] = mapped_column(String(16))


class TokenRow(Base):
    """An API token; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # user: acts as its user; delegation: may name the user it acts for (X-Goldenpath-User)
    kind: Mapped[str] = mapped_column(String(16), default="user")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)


class PromotionRow(Base):
    """A request to put a release into an environment: policies, approvals, outcome."""

    __tablename__ = "promotions"
    __table_args__ = (Index("ix_promotions_release", "release_id"),
                      Index("ix_promotions_status", "status"))
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    release_id: Mapped[str] = mapped_column(ForeignKey("releases.id"))
    environment: Mapped[str] = mapped_column(String(63))
    status: Mapped[str] = mapped_column(String(32))  # pending_approval|rejected|denied|deployed
    requested_by: Mapped[str] = mapped_column(String(200), default="")
    required_approvals: Mapped[int] = mapped_column(Integer, default=0)
    policy_outcome: Mapped[str] = mapped_column(String(16), default="pass")
    policy_results: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # the strategy asked for ({"strategy", "steps"}): the rollout after approval uses it
    delivery: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ApprovalRow(Base):
    __tablename__ = "approvals"
    __table_args__ = (UniqueConstraint("promotion_id", "user"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    promotion_id: Mapped[str] = mapped_column(ForeignKey("promotions.id"), index=True)
    user: Mapped[str] = mapped_column(String(200))
    decision: Mapped[str] = mapped_column(String(16))  # approve | reject
    comment: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(default=utcnow)


class InferenceRow(Base):
    """One logged request of a live model: what it was sent and answered (after the
    environment's drop and hash rules), pulled from its serving runtime. Data, not a
    decision: not in the audit chain; deleted after the environment's retention."""

    __tablename__ = "inferences"
    __table_args__ = (Index("ix_inferences_deployment", "service", "environment", "id"),
                      Index("ix_inferences_at", "at"), Index("ix_inferences_boot", "boot", "seq"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    service: Mapped[str] = mapped_column(String(63))
    environment: Mapped[str] = mapped_column(String(63))
    release_id: Mapped[str] = mapped_column(String(32))
    request_id: Mapped[str] = mapped_column(String(64), default="")
    boot: Mapped[str] = mapped_column(String(64), default="")  # the serving process's run
    seq: Mapped[int] = mapped_column(BigInteger, default=0)  # its record number in that run
    at: Mapped[datetime] = mapped_column(default=utcnow)
    rows: Mapped[int] = mapped_column(Integer, default=1)
    inputs: Mapped[Any] = mapped_column(JSON)
    outputs: Mapped[Any] = mapped_column(JSON)


class DriftWindowRow(Base):
    """One window of logged rows judged against the release's reference profile."""

    __tablename__ = "drift_windows"
    __table_args__ = (Index("ix_drift_windows_deployment", "service", "environment", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    service: Mapped[str] = mapped_column(String(63))
    environment: Mapped[str] = mapped_column(String(63))
    release_id: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    first_inference_id: Mapped[int] = mapped_column(Integer)
    last_inference_id: Mapped[int] = mapped_column(Integer)
    rows: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # ok | drift | insufficient | no_reference
    drifted: Mapped[list[str]] = mapped_column(JSON, default=list)
    report: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def migrate(engine: Engine) -> None:
    """Bring the database schema to the latest Alembic revision."""
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
