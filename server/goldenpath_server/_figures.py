"""The platform's figures, folded incrementally from the audit trail.

`Figures` reads the events table once, then on each `refresh` only the events whose id is
greater than the last one it folded (`where id > last`): a scrape reads what is new. Event
ids follow commit order (`_audit.append` locks the chain's head before inserting), so no
committed event is ever skipped. One `Figures` per database engine (`figures_for`), shared by
concurrent scrapes under a lock.

Definitions (by track, model or app; by environment where it applies):
- rollouts started: `promotion_started`, `deploy_started` and `rollback_started` events.
- change failure rate: (rollbacks started + failed rollouts + aborted progressive rollouts)
  / rollouts started. A progressive rollout that aborts writes `rollout_failed`: it counts
  once, as aborted; a failing rollback is not counted again (its rollback already was).
- validation to production: from a release's first `policy_evaluated` event that did not
  fail (the release passed its policies with its evidence), or its creation when it has
  none, to its first `rollout_succeeded` in production (the last environment on the path).
- production releases: releases live in production for the first time, per service.
- model autonomy: the share of model releases live in production on which nobody outside
  the service's team acted except approvers (see `_Release.autonomous`).
- governance compliance: the share of production promotions whose policies all passed
  (outcome `pass`: no warn-only failure, including the switch checks of a progressive one).
"""

from __future__ import annotations

import threading
import weakref
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from goldenpath_server._db import EventRow, ReleaseRow, RoleBindingRow, ServiceRow, UserRow
from goldenpath_server._environments import Environments
from goldenpath_server._store import Store

STARTED = ("promotion_started", "deploy_started", "rollback_started")
APPROVALS = ("approval_granted", "approval_rejected")  # what approvers write (_promotions)
SYSTEM = ("", "system")
_BATCH = 1000
_CHUNK = 900  # ids per IN (...): under SQLite's bound-parameter limit


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _seconds(later: datetime, earlier: datetime) -> float:
    return (_aware(later) - _aware(earlier)).total_seconds()


@dataclass
class _Release:
    """What the figures need to know of one release, gathered from its events."""

    track: str
    service: str
    submitter: str
    created: datetime
    validated: datetime | None = None
    actors: set[str] = field(default_factory=set)
    approvers: set[str] = field(default_factory=set)
    in_production: bool = False

    def autonomous(self, members: set[str]) -> bool:
        """True when every person who acted on the release (its events' actors) is the
        submitter, a member of the service's team (`members`) or one of its approvers
        (the actors of its approval events); the platform itself ("system") does not count."""
        return all(a in members or a == self.submitter or a in self.approvers
                   for a in self.actors if a not in SYSTEM)


@dataclass
class Snapshot:
    """The figures at one moment: plain counts and observations, copied out of the lock."""

    production: str
    last_id: int
    started: dict[tuple[str, str], int]
    rollbacks: dict[tuple[str, str], int]
    failed: dict[tuple[str, str], int]
    aborted: dict[tuple[str, str], int]
    policies: dict[tuple[str, str, str], int]
    lead: dict[str, list[float]]
    restore: dict[str, list[float]]
    validation: dict[str, list[float]]
    production_releases: dict[tuple[str, str], int]
    autonomy: tuple[int, int]  # (autonomous, model releases in production)
    compliance: dict[str, tuple[int, int]]  # track -> (compliant, production promotions)

    def failures(self, key: tuple[str, str]) -> int:
        return self.rollbacks.get(key, 0) + self.failed.get(key, 0) + self.aborted.get(key, 0)


class Figures:
    """The running totals, folded event by event in id order (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.production = ""
        self._reset()

    def _reset(self) -> None:
        self.last_id = 0
        self.folded = 0  # events folded by the latest refresh
        self._releases: dict[str, _Release] = {}
        self._teams: dict[str, str] = {}  # service -> team
        self._submitters: dict[str, set[str]] = defaultdict(set)  # team -> release creators
        self._running: dict[tuple[str, str], tuple[str, str]] = {}  # (svc, env) -> reason, strategy
        self._restoring: dict[tuple[str, str], datetime] = {}
        self._outcomes: dict[str, str] = {}  # promotion id -> policy outcome
        self._compliant: dict[str, tuple[str, bool]] = {}  # rollout id -> track, compliant
        self._started: dict[tuple[str, str], int] = defaultdict(int)
        self._rollbacks: dict[tuple[str, str], int] = defaultdict(int)
        self._failed: dict[tuple[str, str], int] = defaultdict(int)
        self._aborted: dict[tuple[str, str], int] = defaultdict(int)
        self._policies: dict[tuple[str, str, str], int] = defaultdict(int)
        self._lead: dict[str, list[float]] = defaultdict(list)
        self._restore: dict[str, list[float]] = defaultdict(list)
        self._validation: dict[str, list[float]] = defaultdict(list)
        self._production_releases: dict[tuple[str, str], int] = defaultdict(int)
        self._autonomy = [0, 0]

    def refresh(self, db: Session, production: str) -> Snapshot:
        """Fold the events added since the last refresh and return the figures."""
        with self._lock:
            if production != self.production:  # the path changed: production ends elsewhere
                self.production = production
                self._reset()
            self.folded = 0
            while True:
                rows = db.execute(
                    select(EventRow.id, EventRow.type, EventRow.service, EventRow.environment,
                           EventRow.release_id, EventRow.at, EventRow.actor, EventRow.data)
                    .where(EventRow.id > self.last_id).order_by(EventRow.id).limit(_BATCH)).all()
                if not rows:
                    break
                self._learn(db, {r.release_id for r in rows if r.release_id}, rows)
                for row in rows:
                    self._fold(db, row)
                    self.last_id = row.id
                self.folded += len(rows)
            return self._snapshot()

    # -- folding -----------------------------------------------------------------------
    def _learn(self, db: Session, ids: set[str], rows: Sequence[Any]) -> None:
        """Releases first seen in this batch without their `release_created` event (from
        before the trail): read their kind, submitter and team once."""
        created = {r.release_id for r in rows if r.type == "release_created"}
        missing = sorted(ids - created - set(self._releases))
        for start in range(0, len(missing), _CHUNK):
            for rid, kind, by, at, service, team in db.execute(
                    select(ReleaseRow.id, ReleaseRow.kind, ReleaseRow.created_by,
                           ReleaseRow.created_at, ServiceRow.name, ServiceRow.team)
                    .join(ServiceRow, ServiceRow.id == ReleaseRow.service_id)
                    .where(ReleaseRow.id.in_(missing[start:start + _CHUNK]))):
                self._releases[rid] = _Release(kind, service, by, at)
                self._teams.setdefault(service, team)
                self._submitters[team].add(by)

    def _fold(self, db: Session, e: Any) -> None:
        data = e.data or {}
        if e.type == "team_changed":
            self._teams[e.service] = str(data.get("to", ""))
            return
        if e.type == "release_created":
            self._releases[e.release_id] = _Release(str(data.get("kind", "")), e.service,
                                                    e.actor, e.at)
            team = str(data.get("team", ""))
            self._teams.setdefault(e.service, team)
            self._submitters[team].add(e.actor)
        release = self._releases.get(e.release_id)
        if release is None:
            return
        if not release.in_production:
            release.actors.add(e.actor or "")
            if e.type in APPROVALS:
                release.approvers.add(e.actor)
        key = (release.track, e.environment)
        if e.type in STARTED:
            self._start(e, release, key, data)
        elif e.type == "rollout_failed":
            reason, strategy = self._running.pop((e.service, e.environment), ("", "rolling"))
            if reason != "rollback":  # a failing rollback was counted as a rollback
                (self._aborted if strategy != "rolling" else self._failed)[key] += 1
        elif e.type == "rollout_succeeded":
            self._running.pop((e.service, e.environment), None)
            began = self._restoring.pop((e.service, e.environment), None)
            if began is not None:
                self._restore[release.track].append(_seconds(e.at, began))
            if e.environment == self.production and not release.in_production:
                self._reach_production(db, release, e.at)
        elif e.type == "policy_evaluated":
            self._evaluated(release, key, data, e.at)

    def _start(self, e: Any, release: _Release, key: tuple[str, str],
               data: dict[str, Any]) -> None:
        reason = e.type.removesuffix("_started")
        self._started[key] += 1
        self._running[(e.service, e.environment)] = (reason, str(data.get("strategy")
                                                               or "rolling"))
        if reason == "rollback":
            self._rollbacks[key] += 1
            self._restoring.setdefault((e.service, e.environment), e.at)
        promotion = data.get("promotion_id")
        if reason == "promotion" and e.environment == self.production and promotion:
            outcome = self._outcomes.get(str(promotion), "pass")
            self._compliant[str(data.get("rollout_id") or promotion)] = (
                release.track, outcome == "pass")

    def _evaluated(self, release: _Release, key: tuple[str, str], data: dict[str, Any],
                   at: datetime) -> None:
        outcome = str(data.get("outcome", ""))
        self._policies[(*key, outcome)] += 1
        if outcome != "fail" and release.validated is None:
            release.validated = at
        if data.get("promotion_id"):
            self._outcomes[str(data["promotion_id"])] = outcome
        rollout = self._compliant.get(str(data.get("rollout_id") or ""))
        if rollout is not None and outcome != "pass":  # a switch check warned
            self._compliant[str(data["rollout_id"])] = (rollout[0], False)

    def _reach_production(self, db: Session, release: _Release, at: datetime) -> None:
        release.in_production = True
        track = release.track
        self._lead[track].append(_seconds(at, release.created))
        self._validation[track].append(_seconds(at, release.validated or release.created))
        self._production_releases[(track, release.service)] += 1
        if track == "model":
            team = self._teams.get(release.service, "")
            members = self._submitters[team] | _bound(db, team, release.actors)
            self._autonomy[0] += release.autonomous(members)
            self._autonomy[1] += 1

    def _snapshot(self) -> Snapshot:
        compliance: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for track, ok in self._compliant.values():
            compliance[track][0] += ok
            compliance[track][1] += 1
        return Snapshot(
            self.production, self.last_id, dict(self._started), dict(self._rollbacks),
            dict(self._failed), dict(self._aborted), dict(self._policies),
            {k: list(v) for k, v in self._lead.items()},
            {k: list(v) for k, v in self._restore.items()},
            {k: list(v) for k, v in self._validation.items()},
            dict(self._production_releases), (self._autonomy[0], self._autonomy[1]),
            {k: (v[0], v[1]) for k, v in compliance.items()})


def _bound(db: Session, team: str, users: set[str]) -> set[str]:
    """Which of `users` hold a role in `team` itself (not `*`: platform operators are
    outside every team)."""
    names = sorted(u for u in users if u not in SYSTEM)
    if not team or not names:
        return set()
    return set(db.scalars(select(UserRow.name).join(RoleBindingRow,
                                                    RoleBindingRow.user_id == UserRow.id)
                          .where(RoleBindingRow.team == team, UserRow.name.in_(names))))


_BY_ENGINE: weakref.WeakKeyDictionary[Engine, Figures] = weakref.WeakKeyDictionary()
_REGISTRY_LOCK = threading.Lock()


def figures_for(db: Session) -> Figures:
    """The one aggregator of the database `db` is bound to (one per engine, per process)."""
    engine = db.get_bind()
    assert isinstance(engine, Engine)
    with _REGISTRY_LOCK:
        found = _BY_ENGINE.get(engine)
        if found is None:
            found = _BY_ENGINE[engine] = Figures()
        return found


def view(s: Snapshot) -> dict[str, Any]:
    """The figures as the API's `PlatformFigures` (goldenpath_api.figures)."""
    def durations(source: dict[str, list[float]]) -> list[dict[str, Any]]:
        return [{"track": t, "count": len(v), "sum_seconds": sum(v),
                 "mean_seconds": sum(v) / len(v) if v else None}
                for t, v in sorted(source.items())]

    done, total = s.autonomy
    return {
        "production": s.production, "last_event_id": s.last_id,
        "change_failure": [
            {"track": k[0], "environment": k[1], "rollouts_started": n,
             "rollbacks": s.rollbacks.get(k, 0), "failed_rollouts": s.failed.get(k, 0),
             "aborted_rollouts": s.aborted.get(k, 0), "rate": s.failures(k) / n}
            for k, n in sorted(s.started.items())],
        "validation_to_production": durations(s.validation),
        "lead_time": durations(s.lead),
        "time_to_restore": durations(s.restore),
        "production_releases": [{"track": t, "service": svc, "releases": n}
                                for (t, svc), n in sorted(s.production_releases.items())],
        "model_autonomy": {"releases": total, "autonomous": done,
                           "ratio": done / total if total else None},
        "governance_compliance": [{"track": t, "production_rollouts": n, "compliant": ok,
                                   "ratio": ok / n} for t, (ok, n) in sorted(s.compliance.items())],
    }


def current(store: Store, environments: Environments) -> dict[str, Any]:
    """The figures now, for the API (what `/metrics` exports, as one typed document)."""
    names = environments.names
    with store.read() as db:
        return view(figures_for(db).refresh(db, names[-1] if names else ""))
