"""The store every part of the core shares: the database, its one write path, and lookups.

Writes go through `tx()`: writers are serialised in this process so the audit chain has one
head (PostgreSQL also locks the head row for other processes), and every write transaction
appends its events to that chain with `event()`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, sessionmaker

from goldenpath_api.errors import InvalidInput, NotFound
from goldenpath_api.rules import SERVICE_NAME, SERVICE_NAME_HINT
from goldenpath_server import _audit
from goldenpath_server._db import (
    DeploymentRow,
    EventRow,
    ReleaseRow,
    ServiceRow,
    make_engine,
    migrate,
)
from goldenpath_server._settings import Settings


class Store:
    def __init__(self, settings: Settings) -> None:
        self.engine = make_engine(settings.resolved_database_url())
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.write_lock = threading.RLock()
        self._head_file = settings.audit_head_file
        # bumped after every commit: in-process readers (the event stream) wake on it at
        # once, instead of waiting for their next poll of the database
        self.commits = 0

    def migrate(self) -> int:
        """Bring the schema up to date; returns how many earlier rows the trail now covers."""
        migrate(self.engine)
        with self.tx() as db:  # rows from before the trail covered them, once
            return _audit.baseline(db)

    def close(self) -> None:
        self.engine.dispose()

    def read(self) -> Session:
        """A session for reads (a context manager)."""
        return self.sessions()

    def connect(self) -> Connection:
        """A Core connection, for listings that decode no ORM entities."""
        return self.engine.connect()

    @contextmanager
    def tx(self) -> Iterator[Session]:
        """A write transaction. Once it commits, the new chain head goes to the head file
        too (when configured)."""
        with self.write_lock:
            with self.sessions.begin() as db:
                yield db
                event = db.info.get("gp_event")
                head = (event.seq, event.hash) if event is not None else None
            self.commits += 1
            if head is not None and self._head_file is not None:
                _audit.write_head(self._head_file, *head)

    @staticmethod
    def event(db: Session, service: str, environment: str, release_id: str, kind: str,
              message: str, data: dict[str, Any] | None = None,
              actor: str = "system") -> EventRow:
        return _audit.append(db, service=service, environment=environment,
                             release_id=release_id, kind=kind, message=message, data=data,
                             actor=actor)

    # -- lookups that say what is missing -----------------------------------------------
    @staticmethod
    def service(db: Session, name: str) -> ServiceRow:
        svc = db.scalar(select(ServiceRow).where(ServiceRow.name == name))
        if svc is None:
            raise NotFound(f"no service named {name!r}", "list services with `goldenpath ls`")
        return svc

    @staticmethod
    def release(db: Session, release_id: str) -> tuple[ReleaseRow, str]:
        """The release and its service's name."""
        row = db.get(ReleaseRow, release_id)
        if row is None:
            raise NotFound(f"no release {release_id!r}", "list releases with "
                           "`goldenpath status NAME`")
        svc = db.get(ServiceRow, row.service_id)
        assert svc is not None
        return row, svc.name

    @staticmethod
    def team_of(db: Session, release: ReleaseRow) -> str:
        svc = db.get(ServiceRow, release.service_id)
        return svc.team if svc is not None else ""

    @staticmethod
    def deployment(db: Session, svc: ServiceRow, environment: str) -> DeploymentRow:
        dep = db.scalar(select(DeploymentRow).where(DeploymentRow.service_id == svc.id,
                                                    DeploymentRow.environment == environment))
        if dep is None:
            raise NotFound(f"{svc.name} is not deployed to {environment}",
                           f"promote a release there: goldenpath promote {svc.name} --to "
                           f"{environment}" + (" (or deploy one: goldenpath deploy MODEL "
                                               f"--name {svc.name} --env {environment})"
                                               if svc.kind == "model" else ""))
        return dep


def check_service_name(name: str) -> None:
    if not SERVICE_NAME.match(name):
        raise InvalidInput(f"invalid service name {name[:80]!r}", SERVICE_NAME_HINT)
