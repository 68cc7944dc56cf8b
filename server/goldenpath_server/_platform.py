"""The domain core: services, releases, deployments and their events.

Nothing here knows HTTP or CLI. Routes call these methods and map GoldenpathError to JSON.
Rollouts run on a worker thread; their progress and result land in the database as events
so every client (SDK, CLI, panel) reads the same story.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

import goldenpath_serving
from goldenpath_api.errors import ConfigurationError, Conflict, InvalidInput, NotFound
from goldenpath_server import _audit
from goldenpath_server._access import TEAM, Access, Principal, as_principal
from goldenpath_server._audit import event_view
from goldenpath_server._bundles import ArtifactStore, Upload
from goldenpath_server._db import (
    DeploymentRow,
    EventRow,
    PromotionRow,
    ReleaseRow,
    RolloutRow,
    ServiceRow,
    make_engine,
    migrate,
    utcnow,
)
from goldenpath_server._environments import EnvironmentConfig, load_platform_config
from goldenpath_server._evidence import record_verified, scan_bundle, unpinned, verified
from goldenpath_server._governance import Governance
from goldenpath_server._history import live_environments, rollback_target
from goldenpath_server._notify import WebhookSender
from goldenpath_server._oversight import Oversight
from goldenpath_server._policies import PolicySet
from goldenpath_server._registry import ModelRegistry
from goldenpath_server._settings import Settings
from goldenpath_server.targets import (
    LocalProcessTarget,
    Rollout,
    RolloutInterrupted,
    Sandbox,
    Target,
    TargetError,
)
from goldenpath_server.targets._warm import WORKER_SCRIPT

log = logging.getLogger("goldenpath.server")
_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,50}[a-z0-9])?$")
_DIGEST_IMAGE = re.compile(r"^[\w.\-/:]+@sha256:[0-9a-f]{64}$")
ACTIVE = ("live", "rolling_out")


Actor = Principal | str  # a plain name is a trusted in-process caller (admin)


class Platform(Governance, Oversight):
    """Everything the promotion server does, behind plain method calls.

    This file holds releases and rollouts; promotions, approvals, policies and evidence are
    in Governance (_governance.py); inventory, audit, events, metrics, users and the model
    registry in Oversight (_oversight.py)."""

    def __init__(self, settings: Settings, targets: dict[str, Target] | None = None) -> None:
        self.settings = settings
        self.engine = make_engine(settings.resolved_database_url())
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.artifacts = ArtifactStore(settings.artifacts_dir, settings.max_bundle_bytes)
        self.config = load_platform_config(settings.config, settings.environments)
        self.policies = PolicySet.load(self.config.policy_files)
        self._write_lock = threading.RLock()
        self.access = Access(self.sessions, settings.admin_token(), self._write_lock)
        outbound = self.config.outbound()
        self.webhooks = WebhookSender(self.config.webhooks, self.events_since, self.head_seq,
                                      http=outbound.session())
        if settings.mlflow_tracking_uri:
            outbound.check_url(settings.mlflow_tracking_uri, "GOLDENPATH_MLFLOW_TRACKING_URI")
        self.registry = (ModelRegistry(settings.mlflow_tracking_uri, settings.public_url(),
                                       http=outbound.session())
                         if settings.mlflow_tracking_uri else None)
        self._stop = threading.Event()  # set on shutdown; targets stop waiting on rollouts
        self.targets: dict[str, Target] = targets or self._make_targets()
        self._workers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="gp-rollout")
        self._monitor: threading.Thread | None = None

    def _make_targets(self) -> dict[str, Target]:
        local: LocalProcessTarget | None = None
        targets: dict[str, Target] = {}
        for name, env in self.config.environments.items():
            if env.target == "local":
                local = local or LocalProcessTarget(
                    self.settings.runtime_dir, self._sandbox(), self.settings.rollout_timeout_s,
                    stopping=self._stop, warm=self.settings.local_warm_worker,
                    warm_preload=self.settings.local_warm_preload)
                targets[name] = local
            elif env.target == "kubernetes":
                targets[name] = self._kubernetes_target(name, env)
            else:
                raise ConfigurationError(f"environment {name!r} has unknown target "
                                         f"{env.target!r}", "use `local` or `kubernetes`")
        return targets

    def _sandbox(self) -> Sandbox:
        """The local serving processes' sandbox, hiding every server file they could read."""
        hidden = [p for p in (self.settings.config, self.settings.sqlite_path(),
                              *(Path(e.kubeconfig) for e in self.config.environments.values()
                                if e.kubeconfig)) if p is not None]
        if self.settings.sqlite_path() is not None:  # with its -wal and -shm files
            hidden.append(self.settings.sqlite_path().parent)  # type: ignore[union-attr]
        # the zygote preloads the installed runtime's imports (its code is not secret)
        runtime = Path(goldenpath_serving.__file__).parent
        sandbox = Sandbox.detect(self.settings.sandbox, self.settings.home, hidden,
                                 extra_ro=[WORKER_SCRIPT, runtime])
        sandbox.announce()
        return sandbox

    def _kubernetes_target(self, name: str, env: EnvironmentConfig) -> Target:
        from goldenpath_server.targets.kubernetes import KubernetesTarget, TemplateSettings

        if not _DIGEST_IMAGE.match(env.runtime_image):
            raise ConfigurationError(
                f"environment {name!r} delivers to Kubernetes but its runtime_image "
                f"{env.runtime_image!r} is not an image pinned by digest",
                "build it with scripts/image/build.sh runtime (docs/kubernetes.md) and set "
                "runtime_image: REGISTRY/IMG@sha256:...")
        template = TemplateSettings(
            namespace=env.namespace or f"gp-{name}", runtime_image=env.runtime_image,
            bundle_base_url=env.bundle_base_url or self.settings.public_url(),
            replicas=env.replicas, public_url=env.public_url, ingress_class=env.ingress_class,
            runtime_images=dict(env.runtime_images))
        return KubernetesTarget(template, kubeconfig=env.kubeconfig, context=env.context,
                                stopping=self._stop,
                                rollout_timeout_s=self.settings.rollout_timeout_s,
                                unschedulable_grace_s=env.unschedulable_grace_s)

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        migrate(self.engine)
        with self._tx() as db:  # rows from before the trail covered them, once
            covered = _audit.baseline(db)
        if covered:
            log.info("the audit trail now covers %d earlier rows", covered)
        removed = self.artifacts.clean_partial()
        if removed:
            log.info("removed %d half-written uploads", removed)
        self._reconcile()
        self._monitor = threading.Thread(target=self._watch, name="gp-monitor", daemon=True)
        self._monitor.start()
        self.webhooks.start()

    def close(self) -> None:
        self._stop.set()
        self.webhooks.close()
        self._workers.shutdown(wait=True, cancel_futures=False)
        if self.settings.stop_deployments_on_exit:
            with self.sessions() as db:
                for row in db.scalars(select(DeploymentRow)):
                    self._target(row.environment).stop(row.target_state)
        for target in set(self.targets.values()):
            target.close()
        self.engine.dispose()

    # -- releases ----------------------------------------------------------------------
    def create_model_release(self, service: str, upload: Upload, *, actor: Actor,
                             team: str = "", resources: dict[str, float] | None = None
                             ) -> dict[str, Any]:
        """Ingest a finished upload as the next release of `service` (all or nothing)."""
        self._check_submitter(as_principal(actor), service, team)
        info = self.artifacts.ingest(upload)
        spec = {"labels": info.labels, "schema": info.schema, "resources": resources or {},
                "requirements": info.requirements, "models": info.models}
        loose = unpinned(info.requirements)
        scan, scanned = verified({"scan": scan_bundle(self.artifacts.unpacked_path(
            info.digest))}, "picklescan over every pickle in the bundle, none loaded")
        pins, pinned = verified({"pinned": bool(info.requirements) and not loose,
                                 "unpinned": loose}, "the bundle's requirements.txt, read")
        try:
            return self._add_release(service, "model", team, actor, digest=info.digest,
                                     size=info.size, bento_tag=info.bento_tag, spec=spec,
                                     evidence={**scan, **pins},
                                     evidence_sources={**scanned, **pinned})
        except Exception:
            if not self._digest_in_use(info.digest):
                self.artifacts.discard(info.digest)  # nothing half-written stays behind
            raise

    def create_app_release(self, service: str, image: str, port: int, *, actor: Actor,
                           team: str = "", resources: dict[str, float] | None = None
                           ) -> dict[str, Any]:
        self._check_submitter(as_principal(actor), service, team)
        if len(image) > 512 or not _DIGEST_IMAGE.match(image):
            raise InvalidInput(
                f"image {image!r} is not pinned by digest",
                "tags move; pass the immutable digest, e.g. registry/app@sha256:<64 hex>")
        digest = image.rsplit("@", 1)[1]
        return self._add_release(service, "app", team, actor, digest=digest, size=0,
                                 image=image, spec={"port": port,
                                                    "resources": resources or {}})

    def _check_submitter(self, who: Principal, service: str, team: str) -> None:
        """May `who` create a release of `service` (for `team`)? Names are checked here, at
        the door, before a byte of an upload is read."""
        _check_name(service)
        if team and not TEAM.match(team):
            raise InvalidInput(f"invalid team name {team[:80]!r}",
                               "use lowercase letters, digits and '-', at most 63 characters")
        with self.sessions() as db:
            svc = db.scalar(select(ServiceRow).where(ServiceRow.name == service))
            owner = svc.team if svc is not None else team
        who.require("submitter", owner, f"create releases of {service}")
        if svc is not None and team and team != svc.team:
            raise Conflict(f"{service} belongs to team {svc.team or '(none)'}, not {team}: a "
                           "release cannot move a service to another team",
                           f"an admin changes the team: goldenpath team {service} --set "
                           f"{team}; or leave the team out")

    def _add_release(self, service: str, kind: str, team: str, actor: Actor,
                     **fields: Any) -> dict[str, Any]:
        actor = as_principal(actor).name
        with self._tx() as db:
            svc = db.scalar(select(ServiceRow).where(ServiceRow.name == service))
            if svc is None:
                svc = ServiceRow(name=service, kind=kind, team=team)
                db.add(svc)
                db.flush()
            elif svc.kind != kind:
                raise Conflict(f"service {service!r} is a {svc.kind}, not a {kind}",
                               "pick another name for this release")
            version = 1 + max(db.scalars(select(ReleaseRow.version).where(
                ReleaseRow.service_id == svc.id)), default=0)
            row = ReleaseRow(id=uuid.uuid4().hex[:16], service_id=svc.id, version=version,
                             kind=kind, created_by=actor, **fields)
            db.add(row)
            db.flush()
            self._event(db, service, "", row.id, "release_created",
                        f"{service} v{version} created by {actor}",
                        {"digest": row.digest, "kind": kind, "team": svc.team}, actor=actor)
            _audit.cover(db, svc, row)
            return _release_view(row, service)

    def _digest_in_use(self, digest: str) -> bool:
        with self.sessions() as db:
            return db.scalar(select(ReleaseRow.id).where(ReleaseRow.digest == digest)) is not None

    def get_release(self, release_id: str) -> dict[str, Any]:
        with self.sessions() as db:
            row, service = self._release(db, release_id)
            return {**_release_view(row, service), **self._governance_of(db, row)}

    # -- services ----------------------------------------------------------------------
    def list_services(self) -> list[dict[str, Any]]:
        """Every service with its deployments, by name."""
        return self.services_page()[0]

    def services_page(self, limit: int | None = None, after: tuple[str, ...] | None = None
                      ) -> tuple[list[dict[str, Any]], tuple[str, ...] | None]:
        """Up to `limit` services named after `after` (all when limit is None), each with
        its deployments, and the (name,) to continue after (None on the last page).

        Core SELECTs of the shown columns only: no ORM entities, no JSON column decoded."""
        query = select(ServiceRow.name, ServiceRow.kind, ServiceRow.team,
                       ServiceRow.created_at).order_by(ServiceRow.name)
        deployments = _DEPLOYMENTS.order_by(ServiceRow.name, DeploymentRow.id)
        if after:
            query = query.where(ServiceRow.name > after[0])
            deployments = deployments.where(ServiceRow.name > after[0])
        with self.engine.connect() as db:
            services = db.execute(query if limit is None else query.limit(limit + 1)).all()
            more = limit is not None and len(services) > limit
            services = services[:limit] if more else services
            if limit is not None and services:  # the page's names are one range
                deployments = deployments.where(ServiceRow.name <= services[-1].name)
            by_service: dict[str, list[dict[str, Any]]] = {}
            for row in db.execute(deployments) if services else ():
                by_service.setdefault(row.service, []).append(_deployment_row_view(row))
        listed = [{**_service_row_view(s), "deployments": by_service.get(s.name, [])}
                  for s in services]
        return listed, (services[-1].name,) if more else None

    def set_team(self, name: str, team: str, *, actor: Actor) -> dict[str, Any]:
        """Give service `name` to `team` (admins only): its owners, the team label on its
        pods from the next rollout on, and whose submitters and approvers act on it."""
        who = as_principal(actor)
        who.require("admin", "*", f"change the team of {name}")
        if team and not TEAM.match(team):
            raise InvalidInput(f"invalid team name {team[:80]!r}",
                               "use lowercase letters, digits and '-', at most 63 characters")
        with self._tx() as db:
            svc = self._service(db, name)
            before, svc.team = svc.team, team
            self._event(db, name, "", "", "team_changed", f"{who.name} moved {name} from team "
                        f"{before or '(none)'} to {team or '(none)'}",
                        {"from": before, "to": team}, actor=who.name)
            _audit.cover(db, svc)
            return _service_view(svc)

    def get_service(self, name: str) -> dict[str, Any]:
        with self.sessions() as db:
            svc = self._service(db, name)
            releases = db.scalars(select(ReleaseRow).where(ReleaseRow.service_id == svc.id)
                                  .order_by(ReleaseRow.version.desc())).all()
            by_id = {r.id: r for r in releases}
            deployments = db.scalars(select(DeploymentRow).where(
                DeploymentRow.service_id == svc.id)).all()
            return {**_service_view(svc),
                    "releases": [_release_view(r, name) for r in releases],
                    "deployments": [_deployment_view(d, by_id[d.release_id], name)
                                    for d in deployments]}

    # -- deployments -------------------------------------------------------------------
    def _start_rollout(self, release_id: str, environment: str, *, actor: str,
                       reason: str = "deploy", promotion_id: str | None = None,
                       from_version: int | None = None) -> dict[str, Any]:
        """Start rolling `release_id` out to `environment`; returns at once (rolling_out).

        Only governance calls this, once policies and approvals allow the release in."""
        self._check_environment(environment)
        with self._tx() as db:
            release, service = self._release(db, release_id)
            dep = db.scalar(select(DeploymentRow).where(
                DeploymentRow.service_id == release.service_id,
                DeploymentRow.environment == environment))
            rollout = RolloutRow(id=uuid.uuid4().hex[:16], service_id=release.service_id,
                                 environment=environment, release_id=release.id, reason=reason,
                                 status="running", promotion_id=promotion_id, started_by=actor)
            if dep is None:
                dep = DeploymentRow(service_id=release.service_id, environment=environment,
                                    release_id=release.id, status="rolling_out",
                                    promotion_id=promotion_id, rollout_id=rollout.id,
                                    target=self._target(environment).name, target_state={})
                db.add(dep)
                try:
                    db.flush()
                except IntegrityError:
                    raise _busy(service, environment) from None
            else:
                previous = dep.release_id if dep.status == "live" else dep.previous_release_id
                claimed = db.execute(
                    update(DeploymentRow)
                    .where(DeploymentRow.id == dep.id, DeploymentRow.status != "rolling_out")
                    .values(status="rolling_out", release_id=release.id, message="",
                            previous_release_id=previous, updated_at=utcnow(),
                            promotion_id=promotion_id, rollout_id=rollout.id))
                if claimed.rowcount != 1:  # type: ignore[attr-defined]
                    raise _busy(service, environment)
                db.refresh(dep)
            db.add(rollout)
            covered: list[Any] = [dep, rollout]
            if promotion_id:
                db.execute(update(PromotionRow).where(PromotionRow.id == promotion_id)
                           .values(status="deployed", decided_at=utcnow()))
                promotion = db.get(PromotionRow, promotion_id)
                if promotion is not None:
                    db.refresh(promotion)
                    covered.append(promotion)
            what = (f"{actor} started rollback of {service} in {environment} from "
                    f"v{from_version} to v{release.version}" if reason == "rollback" else
                    f"{actor} started {reason} of {service} v{release.version} to "
                    f"{environment}")
            self._event(db, service, environment, release.id, f"{reason}_started", what,
                        {"promotion_id": promotion_id, "rollout_id": rollout.id,
                         "from_version": from_version}, actor=actor)
            _audit.cover(db, *covered)
            view = _deployment_view(dep, release, service)
        self._workers.submit(self._roll_out, release_id, environment)
        return view

    def rollback(self, service: str, environment: str, *, actor: Actor,
                 to: int | None = None) -> dict[str, Any]:
        """Put an earlier release back, with no rebuild: the one live before the current one
        (each rollback goes one further back), or version `to`. Either passed this
        environment's controls before: it went live here."""
        who = as_principal(actor)
        self._check_environment(environment)
        with self.sessions() as db:
            svc = self._service(db, service)
            dep = self._deployment(db, svc, environment)
            who.require(self._restore_role(environment), svc.team,
                        f"roll back {service} in {environment}")
            if to is None:
                target_release = rollback_target(db, svc.id, environment)
            else:
                target_release = self._earlier_live(db, svc, environment, to)
            promotion_id = self._last_promotion(db, target_release, environment)
            current = db.get(ReleaseRow, dep.release_id)
        if not target_release or target_release == dep.release_id:
            raise Conflict(f"{service} in {environment} has no earlier release to roll back to",
                           f"roll back to a version that ran here: goldenpath rollback "
                           f"{service} --env {environment} --to VERSION (goldenpath status "
                           f"{service} --env {environment} lists the history)")
        return self._start_rollout(target_release, environment, actor=who.name,
                                   reason="rollback", promotion_id=promotion_id,
                                   from_version=current.version if current else None)

    def _earlier_live(self, db: Session, svc: ServiceRow, environment: str, version: int
                      ) -> str:
        release = db.scalar(select(ReleaseRow).where(ReleaseRow.service_id == svc.id,
                                                     ReleaseRow.version == version))
        if release is None:
            raise NotFound(f"{svc.name} has no v{version}", f"list its releases: goldenpath "
                           f"status {svc.name} --env {environment}")
        if environment not in live_environments(db, release.id):
            raise Conflict(f"{svc.name} v{version} never went live in {environment}: a "
                           "rollback only restores what passed this environment's controls",
                           f"promote it instead: goldenpath promote {svc.name} --to "
                           f"{environment}")
        return release.id

    def status(self, service: str, environment: str) -> dict[str, Any]:
        """The SDK's polling read: one indexed Core join, no ORM entities."""
        with self.engine.connect() as conn:
            row = conn.execute(_DEPLOYMENTS.where(ServiceRow.name == service,
                                                  DeploymentRow.environment == environment)
                               ).first()
        if row is None:  # say which is missing: the environment, service or deployment
            self._check_environment(environment)
            with self.sessions() as db:
                self._deployment(db, self._service(db, service), environment)
        assert row is not None
        return _deployment_row_view(row)

    def rollouts(self, service: str, environment: str, limit: int = 50
                 ) -> list[dict[str, Any]]:
        """The environment's rollouts of `service`, newest first: what went live, when, why
        (deploy, promotion, rollback) and by whom; what `rollback --to` can restore."""
        self._check_environment(environment)
        with self.sessions() as db:
            svc = self._service(db, service)
            rows = db.execute(select(RolloutRow, ReleaseRow.version)
                              .join(ReleaseRow, ReleaseRow.id == RolloutRow.release_id)
                              .where(RolloutRow.service_id == svc.id,
                                     RolloutRow.environment == environment)
                              .order_by(RolloutRow.started_at.desc()).limit(limit)).all()
            return [_rollout_view(r, version) for r, version in rows]

    def logs(self, service: str, environment: str, tail: int = 200) -> list[str]:
        with self.sessions() as db:
            dep = self._deployment(db, self._service(db, service), environment)
            return self._target(environment).logs(dep.target_state, tail)

    def undeploy(self, service: str, environment: str, *, actor: Actor) -> None:
        who = as_principal(actor)
        with self._tx() as db:
            svc = self._service(db, service)
            dep = self._deployment(db, svc, environment)
            who.require(self._restore_role(environment), svc.team,
                        f"remove {service} from {environment}")
            if dep.status == "rolling_out":
                raise _busy(service, environment)
            self._target(environment).stop(dep.target_state)
            db.delete(dep)
            self._event(db, service, environment, dep.release_id, "undeployed",
                        f"{who.name} removed {service} from {environment}", actor=who.name)
            _audit.cover(db, deleted=(dep,))

    def events(self, service: str | None = None, after: int = 0,
               limit: int = 100) -> list[dict[str, Any]]:
        with self.sessions() as db:
            query = select(EventRow).where(EventRow.id > after)
            if service:
                query = query.where(EventRow.service == service)
            rows = db.scalars(query.order_by(EventRow.id.desc()).limit(limit)).all()
            return [event_view(r) for r in reversed(rows)]

    # -- rollout machinery -------------------------------------------------------------
    def _roll_out(self, release_id: str, environment: str, adopt: bool = False) -> None:
        with self.sessions() as db:
            release, service = self._release(db, release_id)
            svc = self._service(db, service)
            dep = self._deployment(db, svc, environment)
            state = dict(dep.target_state)

        def progress(message: str) -> None:
            with self._tx() as db:
                self._event(db, service, environment, release_id, "rollout_progress", message)

        target = self._target(environment)
        try:
            rollout = self._rollout(release, service, environment, svc.team)
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
            self._finish(service, environment, release_id, "live", "", new_state, adopt)
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
        with self._tx() as db:
            dep = self._deployment(db, self._service(db, service), environment)
            if status == "live" and not (adopted and dep.live_since is not None):
                dep.live_since = utcnow()
            dep.status, dep.message, dep.target_state = status, message, state
            dep.url = state.get("url", dep.url)
            dep.updated_at = utcnow()
            covered: list[Any] = [dep]
            rollout = db.get(RolloutRow, dep.rollout_id) if dep.rollout_id else None
            if rollout is not None and rollout.status == "running":
                rollout.status = "succeeded" if status == "live" else "failed"
                rollout.message, rollout.finished_at = message, utcnow()
                covered.append(rollout)
            release = db.get(ReleaseRow, release_id)
            if parity is not None and release is not None:
                release.evidence, release.evidence_sources = record_verified(
                    release.evidence or {}, release.evidence_sources or {}, environment,
                    parity, dep.target)
                covered.append(release)
            kind = "rollout_succeeded" if status == "live" else "rollout_failed"
            data: dict[str, Any] = {"url": dep.url, **(failure or {})}
            if parity is not None:
                data["parity"] = {k: parity[k] for k in ("passed", "rows") if k in parity}
            self._event(db, service, environment, release_id, kind,
                        message or f"{service} is live in {environment} at {dep.url}", data)
            _audit.cover(db, *covered)

    def _rollout(self, release: ReleaseRow, service: str, environment: str,
                 team: str) -> Rollout:
        model = release.kind == "model"
        return Rollout(service=service, environment=environment, release_id=release.id,
                       kind=release.kind, digest=release.digest, image=release.image,
                       team=team,
                       bundle_dir=self.artifacts.unpacked_path(release.digest) if model else None,
                       port=int(release.spec.get("port", 3000)), spec=release.spec,
                       serving_env=self._serving_env(environment),
                       parity=self.artifacts.parity_case(release.digest) if model else None)

    def _serving_env(self, environment: str) -> dict[str, str]:
        """The server's variables that `environment`'s config grants to serving processes."""
        names = self._environment(environment).serving_env
        missing = [n for n in names if n not in os.environ]
        if missing:
            raise TargetError(f"the config of {environment} grants {', '.join(missing)} to "
                              "serving processes, but the server's environment does not set "
                              "it", code="configuration_error")
        return {n: os.environ[n] for n in names}

    def _reconcile(self) -> None:
        """After a restart: re-adopt or restart every deployment that should be serving,
        and have targets remove what no deployment holds any more."""
        with self.sessions() as db:
            deployments = list(db.scalars(select(DeploymentRow)))
        for target in set(self.targets.values()):
            sweep = getattr(target, "sweep", None)
            if sweep is not None:
                removed = sweep([dict(d.target_state) for d in deployments])
                if removed:
                    log.info("removed %d containers no deployment holds", removed)
        for dep in deployments:
            if dep.status in ACTIVE:
                self._workers.submit(self._roll_out, dep.release_id, dep.environment, True)

    def _watch(self) -> None:
        """Supervise live deployments: restart any whose process died."""
        while not self._stop.wait(5.0):
            try:
                with self.sessions() as db:
                    live = [(d.id, d.updated_at, d.release_id, d.environment,
                             dict(d.target_state)) for d in db.scalars(
                                select(DeploymentRow).where(DeploymentRow.status == "live"))]
                for dep_id, seen_at, release_id, environment, state in live:
                    ok, reason = self._target(environment).health(state)
                    if not ok and not self._stop.is_set() and self._claim(dep_id, seen_at):
                        log.warning("restarting %s in %s: %s", release_id, environment, reason)
                        self._roll_out(release_id, environment, adopt=True)
            except Exception:  # the monitor must outlive any single bad check
                log.exception("monitor pass failed")

    def _claim(self, dep_id: int, seen_at: datetime) -> bool:
        """Take a live deployment over for a restart, unless it changed since it was seen
        (a rollout or an undeploy in between owns it: restarting would orphan a process).
        It stays `live` for readers; the new updated_at tells a second claimer it lost."""
        with self._tx() as db:
            claimed = db.execute(update(DeploymentRow).where(
                DeploymentRow.id == dep_id, DeploymentRow.status == "live",
                DeploymentRow.updated_at == seen_at).values(updated_at=utcnow()))
            return claimed.rowcount == 1  # type: ignore[attr-defined]

    # -- helpers -----------------------------------------------------------------------
    def _target(self, environment: str) -> Target:
        self._check_environment(environment)
        return self.targets[environment]

    def _environment(self, environment: str) -> EnvironmentConfig:
        self._check_environment(environment)
        return self.config.environments.get(environment) or EnvironmentConfig()

    def _check_environment(self, environment: str) -> None:
        if environment not in self.targets:
            raise NotFound(f"unknown environment {environment!r}",
                           f"use one of: {', '.join(self.targets)}")

    def _service(self, db: Session, name: str) -> ServiceRow:
        svc = db.scalar(select(ServiceRow).where(ServiceRow.name == name))
        if svc is None:
            raise NotFound(f"no service named {name!r}", "list services with `goldenpath ls`")
        return svc

    def _release(self, db: Session, release_id: str) -> tuple[ReleaseRow, str]:
        row = db.get(ReleaseRow, release_id)
        if row is None:
            raise NotFound(f"no release {release_id!r}", "list releases with "
                           "`goldenpath status NAME`")
        svc = db.get(ServiceRow, row.service_id)
        assert svc is not None
        return row, svc.name

    def _deployment(self, db: Session, svc: ServiceRow, environment: str) -> DeploymentRow:
        dep = db.scalar(select(DeploymentRow).where(DeploymentRow.service_id == svc.id,
                                                    DeploymentRow.environment == environment))
        if dep is None:
            raise NotFound(f"{svc.name} is not deployed to {environment}",
                           f"promote a release there: goldenpath promote {svc.name} --to "
                           f"{environment}" + (" (or deploy one: goldenpath deploy MODEL "
                                               f"--name {svc.name} --env {environment})"
                                               if svc.kind == "model" else ""))
        return dep

    @contextmanager
    def _tx(self) -> Iterator[Session]:
        """A write transaction. Writers are serialised in this process so that the audit
        chain has one head (PostgreSQL also locks the head row for other processes). Once
        it commits, the new head goes to the head file too (when configured)."""
        with self._write_lock:
            with self.sessions.begin() as db:
                yield db
                event = db.info.get("gp_event")
                head = (event.seq, event.hash) if event is not None else None
            if head is not None and self.settings.audit_head_file is not None:
                _audit.write_head(self.settings.audit_head_file, *head)

    def _event(self, db: Session, service: str, environment: str, release_id: str,
               kind: str, message: str, data: dict[str, Any] | None = None,
               actor: str = "system") -> EventRow:
        return _audit.append(db, service=service, environment=environment,
                             release_id=release_id, kind=kind, message=message, data=data,
                             actor=actor)


def _busy(service: str, environment: str) -> Conflict:
    return Conflict(f"{service} is already rolling out to {environment}",
                    "wait for that rollout to finish (goldenpath status), then retry")


def _check_name(name: str) -> None:
    if not _NAME.match(name):
        raise InvalidInput(f"invalid service name {name[:80]!r}",
                           "use lowercase letters, digits and '-', at most 52 characters")


def _iso(value: datetime) -> str:
    return value.isoformat()


def _service_view(row: ServiceRow) -> dict[str, Any]:
    return {"name": row.name, "kind": row.kind, "team": row.team,
            "created_at": _iso(row.created_at)}


def _release_view(row: ReleaseRow, service: str) -> dict[str, Any]:
    return {"id": row.id, "service": service, "version": row.version, "kind": row.kind,
            "digest": row.digest, "size": row.size, "image": row.image,
            "bento_tag": row.bento_tag, "schema": row.spec.get("schema"),
            "spec": row.spec, "created_by": row.created_by, "created_at": _iso(row.created_at),
            "evidence": row.evidence, "evidence_sources": row.evidence_sources}


# A deployment with its release's version and digest, labelled as _deployment_view reads them.
_DEPLOYMENTS = (select(DeploymentRow.environment, DeploymentRow.status, DeploymentRow.url,
                       DeploymentRow.message, DeploymentRow.release_id,
                       DeploymentRow.previous_release_id, DeploymentRow.target,
                       DeploymentRow.promotion_id, DeploymentRow.live_since,
                       DeploymentRow.updated_at, ReleaseRow.version, ReleaseRow.digest,
                       ServiceRow.name.label("service"))
                .join(ServiceRow, ServiceRow.id == DeploymentRow.service_id)
                .join(ReleaseRow, ReleaseRow.id == DeploymentRow.release_id))


def _rollout_view(row: RolloutRow, version: int) -> dict[str, Any]:
    return {"id": row.id, "environment": row.environment, "release_id": row.release_id,
            "release_version": version, "reason": row.reason, "status": row.status,
            "message": row.message, "started_by": row.started_by,
            "started_at": _iso(row.started_at),
            "finished_at": _iso(row.finished_at) if row.finished_at else None}


def _deployment_row_view(row: Any) -> dict[str, Any]:
    """The view of a Core row of _DEPLOYMENTS (its labels are the ORM rows' names)."""
    return _deployment_view(row, row, row.service)


def _service_row_view(row: Any) -> dict[str, Any]:
    return _service_view(row)


def _deployment_view(row: DeploymentRow, release: ReleaseRow, service: str) -> dict[str, Any]:
    return {"service": service, "environment": row.environment, "status": row.status,
            "url": row.url, "message": row.message, "release_id": row.release_id,
            "release_version": release.version, "digest": release.digest,
            "previous_release_id": row.previous_release_id, "target": row.target,
            "promotion_id": row.promotion_id,
            "live_since": _iso(row.live_since) if row.live_since else None,
            "updated_at": _iso(row.updated_at)}

