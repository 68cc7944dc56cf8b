"""Releases: the catalogue of services and their immutable releases.

A model release is a BentoML bundle ingested whole (scanned and its pins checked by the
server, none of it loaded); an app release is an image pinned by digest. Names and the
submitter's rights are checked at the door, before a byte of an upload is read.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from goldenpath_api.errors import Conflict, InvalidInput
from goldenpath_api.rules import DIGEST_IMAGE, DIGEST_IMAGE_HINT, TEAM_HINT, TEAM_NAME
from goldenpath_server import _audit
from goldenpath_server._access import Actor, Principal, as_principal
from goldenpath_server._bundles import ArtifactStore, Upload
from goldenpath_server._db import DeploymentRow, ReleaseRow, RolloutRow, ServiceRow
from goldenpath_server._evidence import declare, scan_bundle, unpinned, verified
from goldenpath_server._store import Store, check_service_name
from goldenpath_server._views import (
    DEPLOYMENTS,
    deployment_row_view,
    deployment_view,
    governance_of,
    release_view,
    service_view,
)


class Releases:
    def __init__(self, store: Store, artifacts: ArtifactStore) -> None:
        self.store = store
        self.artifacts = artifacts

    # -- releases ----------------------------------------------------------------------
    def create_model_release(self, service: str, upload: Upload, *, actor: Actor,
                             team: str = "", resources: dict[str, float] | None = None
                             ) -> dict[str, Any]:
        """Ingest a finished upload as the next release of `service` (all or nothing)."""
        self.check_submitter(as_principal(actor), service, team)
        info = self.artifacts.ingest(upload)
        spec = {"labels": info.labels, "schema": info.schema, "resources": resources or {},
                "requirements": info.requirements, "models": info.models}
        loose = unpinned(info.requirements)
        scan, scanned = verified({"scan": scan_bundle(self.artifacts.unpacked_path(
            info.digest))}, "picklescan over every pickle in the bundle, none loaded")
        pins, pinned = verified({"pinned": bool(info.requirements) and not loose,
                                 "unpinned": loose}, "the bundle's requirements.txt, read")
        evidence, sources = {**scan, **pins}, {**scanned, **pinned}
        if info.profile is not None:  # the submitter's statistics: checked in shape, not redone
            evidence, sources = declare(evidence, sources, {"profile": info.profile},
                                        as_principal(actor).name)
        try:
            return self._add(service, "model", team, actor, digest=info.digest,
                             size=info.size, bento_tag=info.bento_tag, spec=spec,
                             evidence=evidence, evidence_sources=sources)
        except Exception:
            if not self._digest_in_use(info.digest):
                self.artifacts.discard(info.digest)  # nothing half-written stays behind
            raise

    def create_app_release(self, service: str, image: str, port: int, *, actor: Actor,
                           team: str = "", resources: dict[str, float] | None = None
                           ) -> dict[str, Any]:
        self.check_submitter(as_principal(actor), service, team)
        if len(image) > 512 or not DIGEST_IMAGE.match(image):
            raise InvalidInput(f"image {image!r} is not pinned by digest", DIGEST_IMAGE_HINT)
        digest = image.rsplit("@", 1)[1]
        return self._add(service, "app", team, actor, digest=digest, size=0, image=image,
                         spec={"port": port, "resources": resources or {}})

    def check_submitter(self, who: Principal, service: str, team: str) -> None:
        """May `who` create a release of `service` (for `team`)? Checked before a byte of an
        upload is read."""
        check_service_name(service)
        _check_team(team)
        with self.store.read() as db:
            svc = db.scalar(select(ServiceRow).where(ServiceRow.name == service))
            owner = svc.team if svc is not None else team
        who.require("submitter", owner, f"create releases of {service}")
        if svc is not None and team and team != svc.team:
            raise Conflict(f"{service} belongs to team {svc.team or '(none)'}, not {team}: a "
                           "release cannot move a service to another team",
                           f"an admin changes the team: goldenpath team {service} --set "
                           f"{team}; or leave the team out")

    def _add(self, service: str, kind: str, team: str, actor: Actor,
             **fields: Any) -> dict[str, Any]:
        actor = as_principal(actor).name
        with self.store.tx() as db:
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
            self.store.event(db, service, "", row.id, "release_created",
                             f"{service} v{version} created by {actor}",
                             {"digest": row.digest, "kind": kind, "team": svc.team},
                             actor=actor)
            _audit.cover(db, svc, row)
            return release_view(row, service)

    def _digest_in_use(self, digest: str) -> bool:
        with self.store.read() as db:
            return db.scalar(select(ReleaseRow.id).where(ReleaseRow.digest == digest)) is not None

    def get_release(self, release_id: str) -> dict[str, Any]:
        """The release, with the policy results and approvals of each of its promotions."""
        with self.store.read() as db:
            row, service = self.store.release(db, release_id)
            return {**release_view(row, service), **governance_of(db, row)}

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
        deployments = DEPLOYMENTS.order_by(ServiceRow.name, DeploymentRow.id)
        if after:
            query = query.where(ServiceRow.name > after[0])
            deployments = deployments.where(ServiceRow.name > after[0])
        with self.store.connect() as db:
            services = db.execute(query if limit is None else query.limit(limit + 1)).all()
            more = limit is not None and len(services) > limit
            services = services[:limit] if more else services
            if limit is not None and services:  # the page's names are one range
                deployments = deployments.where(ServiceRow.name <= services[-1].name)
            by_service: dict[str, list[dict[str, Any]]] = {}
            for row in db.execute(deployments) if services else ():
                by_service.setdefault(row.service, []).append(deployment_row_view(row))
        listed = [{**service_view(s), "deployments": by_service.get(s.name, [])}
                  for s in services]
        return listed, (services[-1].name,) if more else None

    def set_team(self, name: str, team: str, *, actor: Actor) -> dict[str, Any]:
        """Give service `name` to `team` (admins only): its owners, the team label on its
        pods from the next rollout on, and whose submitters and approvers act on it."""
        who = as_principal(actor)
        who.require("admin", "*", f"change the team of {name}")
        _check_team(team)
        with self.store.tx() as db:
            svc = self.store.service(db, name)
            before, svc.team = svc.team, team
            self.store.event(db, name, "", "", "team_changed", f"{who.name} moved {name} from "
                             f"team {before or '(none)'} to {team or '(none)'}",
                             {"from": before, "to": team}, actor=who.name)
            _audit.cover(db, svc)
            return service_view(svc)

    def get_service(self, name: str) -> dict[str, Any]:
        with self.store.read() as db:
            svc = self.store.service(db, name)
            releases = db.scalars(select(ReleaseRow).where(ReleaseRow.service_id == svc.id)
                                  .order_by(ReleaseRow.version.desc())).all()
            by_id = {r.id: r for r in releases}
            deployments = db.execute(select(DeploymentRow, RolloutRow).outerjoin(
                RolloutRow, RolloutRow.id == DeploymentRow.rollout_id).where(
                DeploymentRow.service_id == svc.id)).all()
            return {**service_view(svc),
                    "releases": [release_view(r, name) for r in releases],
                    "deployments": [deployment_view(d, by_id[d.release_id], name, rollout)
                                    for d, rollout in deployments]}


def _check_team(team: str) -> None:
    if team and not TEAM_NAME.match(team):
        raise InvalidInput(f"invalid team name {team[:80]!r}", TEAM_HINT)
