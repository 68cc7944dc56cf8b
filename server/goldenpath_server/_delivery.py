"""Delivery: bringing a release live on its environment's target, and keeping it live.

Rollouts run on worker threads; their progress and result land in the store as events, so
every client (SDK, CLI, panel) reads the same story. After a restart `reconcile` re-adopts
what should be serving; `watch` restarts live deployments whose process died.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from goldenpath_api.errors import NotFound
from goldenpath_api.rules import ACTIVE, LIVE
from goldenpath_server import _audit
from goldenpath_server._bundles import ArtifactStore
from goldenpath_server._db import DeploymentRow, ReleaseRow, RolloutRow, utcnow
from goldenpath_server._environments import Environments
from goldenpath_server._evidence import record_verified
from goldenpath_server._outcomes import Outcomes
from goldenpath_server._progression import Progressions
from goldenpath_server._store import Store
from goldenpath_server.targets import Rollout, RolloutInterrupted, TargetError

log = logging.getLogger("goldenpath.server")
WentLive = Callable[[str, str], None]  # (release_id, environment)


class Delivery:
    def __init__(self, store: Store, artifacts: ArtifactStore, environments: Environments,
                 stopping: threading.Event, went_live: WentLive) -> None:
        self.store = store
        self.artifacts = artifacts
        self.environments = environments
        self._stop = stopping
        self._went_live = went_live
        self._workers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="gp-rollout")
        self._monitor: threading.Thread | None = None
        self.progressions = Progressions(store, environments, stopping, self._finish,
                                         self._rollout_of, went_live)
        self.outcomes = Outcomes(store, environments)

    def start(self) -> None:
        """Reconcile what the store says should run, then supervise it."""
        self._reconcile()
        self.progressions.start()
        self._monitor = threading.Thread(target=self._watch, name="gp-monitor", daemon=True)
        self._monitor.start()

    def close(self, stop_deployments: bool) -> None:
        self._workers.shutdown(wait=True, cancel_futures=False)
        if stop_deployments:
            with self.store.read() as db:
                for row in db.scalars(select(DeploymentRow)):
                    self.environments.target(row.environment).stop(row.target_state)

    def submit(self, release_id: str, environment: str) -> None:
        """Roll the deployment's new release out in the background."""
        self._workers.submit(self._roll_out, release_id, environment)

    # -- one rollout -------------------------------------------------------------------
    def _roll_out(self, release_id: str, environment: str, adopt: bool = False) -> None:
        store = self.store
        with store.read() as db:
            release, service = store.release(db, release_id)
            svc = store.service(db, service)
            dep = store.deployment(db, svc, environment)
            state = dict(dep.target_state)
            plan = db.get(RolloutRow, dep.rollout_id) if dep.rollout_id else None
            progressive = (plan is not None and plan.status == "running"
                           and plan.strategy != "rolling")

        def progress(message: str) -> None:
            with store.tx() as db:
                store.event(db, service, environment, release_id, "rollout_progress", message)

        target = self.environments.target(environment)
        try:
            rollout = self._rollout(release, service, environment, svc.team)
            if not adopt and (unknown := self._unknown_log_columns(release, environment)):
                progress(f"monitoring.drop/hash of {environment} name columns the model's "
                         f"schema does not have: {', '.join(unknown)} (nothing of them to "
                         "drop or hash: check their spelling against the schema)")
            if progressive:
                assert plan is not None
                self._progress(rollout, plan.id, state, progress, adopt)
                return
            if adopt:
                new_state = target.adopt(rollout, state, progress)
            else:
                new_state = target.deploy(rollout, state, progress)
        except RolloutInterrupted:  # shutting down: stays rolling_out, reconciled at start
            log.info("left %s in %s rolling out for the next start", service, environment)
            return
        except TargetError as exc:
            failed = {**state, **exc.state}
            self._finish(service, environment, release_id, "failed", str(exc), failed, adopt,
                         failure={"code": exc.code, "details": exc.details})
            return
        except Exception as exc:  # any target failure must end the rollout, never hang it
            self._finish(service, environment, release_id, "failed",
                         f"{type(exc).__name__}: {exc}", state, adopt)
            return
        try:
            self._finish(service, environment, release_id, LIVE, "", new_state, adopt)
        except NotFound:  # removed while it was starting (e.g. the monitor raced an undeploy)
            target.stop(new_state)
            return
        if not adopt:
            self._went_live(release_id, environment)

    def _finish(self, service: str, environment: str, release_id: str, status: str,
                message: str, state: dict[str, Any], adopted: bool = False,
                failure: dict[str, Any] | None = None) -> None:
        """Record how a rollout ended: the deployment, its Rollout row, and the parity the
        target verified (evidence of the server's own, for this environment)."""
        state = dict(state)
        parity = state.pop("parity", None)
        store = self.store
        with store.tx() as db:
            dep = store.deployment(db, store.service(db, service), environment)
            if status == LIVE and not (adopted and dep.live_since is not None):
                dep.live_since = utcnow()
            dep.status, dep.message, dep.target_state = status, message, state
            dep.url = state.get("url", dep.url)
            dep.updated_at = utcnow()
            covered: list[Any] = [dep]
            rollout = db.get(RolloutRow, dep.rollout_id) if dep.rollout_id else None
            if rollout is not None and rollout.status == "running":
                rollout.status = "succeeded" if status == LIVE else "failed"
                rollout.message, rollout.finished_at = message, utcnow()
                covered.append(rollout)
            release = db.get(ReleaseRow, release_id)
            if parity is not None and release is not None:
                release.evidence, release.evidence_sources = record_verified(
                    release.evidence or {}, release.evidence_sources or {}, environment,
                    parity, dep.target)
                covered.append(release)
            kind = "rollout_succeeded" if status == LIVE else "rollout_failed"
            data: dict[str, Any] = {"url": dep.url, **(failure or {})}
            if parity is not None:
                data["parity"] = {k: parity[k] for k in ("passed", "rows") if k in parity}
            store.event(db, service, environment, release_id, kind,
                        message or f"{service} is live in {environment} at {dep.url}", data)
            _audit.cover(db, *covered)

    def _progress(self, rollout: Rollout, rollout_id: str, state: dict[str, Any],
                  progress: Callable[[str], None], adopt: bool) -> None:
        """A progressive rollout: the candidate beside the stable release; a candidate that
        cannot start ends it with the stable release still serving."""
        try:
            self.progressions.begin(rollout, rollout_id, state, progress, adopt)
        except RolloutInterrupted:
            raise
        except TargetError as exc:
            self.progressions.abort_start(rollout_id, str(exc), exc.code, exc.details)
        except Exception as exc:  # as for any rollout: end it, never hang it
            self.progressions.abort_start(rollout_id, f"{type(exc).__name__}: {exc}",
                                          "deployment_failed", {})

    def _rollout_of(self, release_id: str, environment: str) -> Rollout:
        with self.store.read() as db:
            release, service = self.store.release(db, release_id)
            team = self.store.team_of(db, release)
        return self._rollout(release, service, environment, team)

    def _rollout(self, release: ReleaseRow, service: str, environment: str,
                 team: str) -> Rollout:
        model = release.kind == "model"
        monitoring = self.environments.get(environment).monitoring
        return Rollout(service=service, environment=environment, release_id=release.id,
                       kind=release.kind, digest=release.digest, image=release.image,
                       team=team,
                       bundle_dir=self.artifacts.unpacked_path(release.digest) if model else None,
                       port=int(release.spec.get("port", 3000)), spec=release.spec,
                       # and, for models, what the runtime's inference log keeps
                       serving_env={**self._serving_env(environment), **(
                           monitoring.serving_env(environment) if model else {})},
                       parity=self.artifacts.parity_case(release.digest) if model else None,
                       metrics=None if model else monitoring.app_metrics.model_dump())

    def _unknown_log_columns(self, release: ReleaseRow, environment: str) -> list[str]:
        """Columns the environment's inference log drops or hashes that a table model's
        schema lacks: a misspelled name would leave the real column logged as it is."""
        schema = (release.spec or {}).get("schema") or {}
        if release.kind != "model" or schema.get("kind") != "dataframe":
            return []
        names = {c.get("name") for c in schema.get("columns") or []}
        config = self.environments.get(environment).monitoring
        return [c for c in (*config.drop, *config.hash) if c not in names]

    def _serving_env(self, environment: str) -> dict[str, str]:
        """The server's variables that `environment`'s config grants to serving processes."""
        names = self.environments.get(environment).serving_env
        missing = [n for n in names if n not in os.environ]
        if missing:
            raise TargetError(f"the config of {environment} grants {', '.join(missing)} to "
                              "serving processes, but the server's environment does not set "
                              "it", code="configuration_error")
        return {n: os.environ[n] for n in names}

    # -- supervision -------------------------------------------------------------------
    def _reconcile(self) -> None:
        """After a restart: re-adopt or restart every deployment that should be serving,
        and have targets remove what no deployment holds any more."""
        with self.store.read() as db:
            deployments = list(db.scalars(select(DeploymentRow)))
            # a progressive rollout's candidate runs beside the stable release: held too
            candidates = [dict((r.progress or {}).get("candidate") or {}) for r in db.scalars(
                select(RolloutRow).where(RolloutRow.status == "running",
                                         RolloutRow.strategy != "rolling"))]
        for target in set(self.environments.targets.values()):
            sweep = getattr(target, "sweep", None)
            if sweep is not None:
                removed = sweep([dict(d.target_state) for d in deployments] + candidates)
                if removed:
                    log.info("removed %d containers no deployment holds", removed)
        for dep in deployments:
            if dep.status in ACTIVE:
                self._workers.submit(self._roll_out, dep.release_id, dep.environment, True)

    def _watch(self) -> None:
        """Supervise live deployments: restart any whose process died."""
        while not self._stop.wait(5.0):
            try:
                with self.store.read() as db:
                    live = [(d.id, d.updated_at, d.release_id, d.environment,
                             dict(d.target_state)) for d in db.scalars(
                                select(DeploymentRow).where(DeploymentRow.status == LIVE))]
                for dep_id, seen_at, release_id, environment, state in live:
                    ok, reason = self.environments.target(environment).health(state)
                    if not ok and not self._stop.is_set() and self._claim(dep_id, seen_at):
                        log.warning("restarting %s in %s: %s", release_id, environment, reason)
                        self._roll_out(release_id, environment, adopt=True)
            except Exception:  # the monitor must outlive any single bad check
                log.exception("monitor pass failed")

    def _claim(self, dep_id: int, seen_at: datetime) -> bool:
        """Take a live deployment over for a restart, unless it changed since it was seen
        (a rollout or an undeploy in between owns it: restarting would orphan a process).
        It stays `live` for readers; the new updated_at tells a second claimer it lost."""
        with self.store.tx() as db:
            claimed = db.execute(update(DeploymentRow).where(
                DeploymentRow.id == dep_id, DeploymentRow.status == LIVE,
                DeploymentRow.updated_at == seen_at).values(updated_at=utcnow()))
            return claimed.rowcount == 1  # type: ignore[attr-defined]
