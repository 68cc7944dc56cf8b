"""gp.deploy and friends: package → parity check → upload → deploy → live."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from goldenpath._bundle import build_bundle, check_name, default_name, framework_hint
from goldenpath._client import Client
from goldenpath._config import current
from goldenpath._deployment import Deployment
from goldenpath._lineage import collect_lineage, draft_card, lineage_labels
from goldenpath._local_server import ensure_server, start_server, wait_for_server
from goldenpath._parity import check_parity, prepare_parity
from goldenpath._progress import Progress
from goldenpath._promotion import WAITING, Promotion
from goldenpath.errors import GoldenpathError, NotFound


def client() -> Client:
    """A client for the configured server, started locally first if that is the default."""
    c = Client(current())
    ensure_server(c)
    return c


def deploy(model: Any, *, name: str | None = None, sample: Any = None,
           env: str | None = None, team: str = "", quiet: bool = False,
           metrics: dict[str, float] | None = None, data: dict[str, Any] | None = None,
           resources: dict[str, float] | None = None, card: str | None = None,
           notebook: str | Path | None = None) -> Any:
    """Package `model`, check it predicts the same in a fresh process, and make it live.

    Evidence travels with the release: lineage (MLflow run, git commit, notebook hash),
    `data=` fingerprints, `metrics=`, the parity result and a drafted model card (d.card).
    Returns the live Deployment (d.url, d.predict(X), d.status(), d.promote("prod")), or a
    Promotion when `env` needs approvals first.
    """
    name = check_name(name or default_name(model))
    environment = env or current().environment
    progress = Progress(quiet=quiet)
    try:
        c = Client(current())
        # the server (if it needs starting) and the parity interpreter start up while the
        # model is packaged
        started = start_server(c)
        prepare_parity(framework_hint(model))
        lineage = collect_lineage(notebook, data)
        with tempfile.TemporaryDirectory(prefix="goldenpath-") as tmp:
            progress.start("package")
            bundle = build_bundle(model, name, sample, Path(tmp), labels=lineage_labels(lineage))
            progress.done("package", f"{bundle.tag} ({bundle.kind})")
            progress.start("parity check")
            check_parity(bundle)
            progress.done("parity check", f"{len(bundle.predictions)} sample rows match")
            shown = {**(lineage.get("mlflow_metrics") or {}), **(metrics or {})}
            evidence: dict[str, Any] = {
                "lineage": lineage, "data": lineage["data"], "metrics": shown,
                "parity": {"passed": True, "rows": len(bundle.predictions)},
                "card_draft": draft_card(name, bundle.kind, lineage, shown,
                                         bundle.requirements)}
            if card is not None:
                evidence["card"] = card
            wait_for_server(c, started)
            return _ship(c, bundle.archive, name, environment, team, progress,
                         resources=resources, evidence=evidence)
    except GoldenpathError as exc:
        progress.fail(str(exc))
        raise


def deploy_archive(archive: Path, *, name: str, env: str | None = None, team: str = "",
                   quiet: bool = False, resources: dict[str, float] | None = None) -> Any:
    """Upload an exported .bento archive and make it live (the CLI's path)."""
    progress = Progress(steps=("upload", "deploy", "live"), quiet=quiet)
    try:
        return _ship(client(), archive, check_name(name), env or current().environment, team,
                     progress, resources=resources)
    except GoldenpathError as exc:
        progress.fail(str(exc))
        raise


def _ship(c: Client, archive: Path, name: str, environment: str, team: str,
          progress: Progress, resources: dict[str, float] | None = None,
          evidence: dict[str, Any] | None = None) -> Any:
    progress.start("upload")
    release = c.upload(name, archive, team=team, resources=resources)
    if evidence:
        c.attach_evidence(release["id"], evidence)
    progress.done("upload", f"v{release['version']} {release['digest'][:19]}…")
    progress.start("deploy")
    after = c.last_event_id(name)
    started = c.deploy(release["id"], environment)
    if started.get("status") == WAITING:
        progress.done("deploy", f"waiting for approval in {environment}")
        return Promotion(c, started)
    progress.done("deploy", f"to {environment}")
    progress.start("live")
    info = c.wait(name, environment, after=after,
                  on_event=lambda e: progress.note(e["message"]))
    progress.done("live", info["url"])
    return Deployment(c, info)


def approve(name: str, env: str, comment: str = "", *, reject: bool = False) -> Any:
    """Approve (or reject) the release of `name` waiting for approval in `env`."""
    c = client()
    waiting = c.request("GET", "/api/v1/promotions",
                        params={"status": WAITING, "service": name})["promotions"]
    waiting = [p for p in waiting if p["environment"] == env]
    if not waiting:
        raise NotFound(f"nothing of {name} waits for approval in {env}",
                       "list what waits: goldenpath approvals")
    promotion = Promotion(c, waiting[0])
    return promotion.reject(comment) if reject else promotion.approve(comment)


def inventory(env: str | None = None) -> list[dict[str, Any]]:
    """What runs where: version, digest, since when, approved by whom, evidence links."""
    return client().pages("/api/v1/inventory", "inventory",
                          {"environment": env} if env else {})


def verify_audit() -> dict[str, Any]:
    """Check the audit trail's hash chain on the server (`ok` False names tampered rows)."""
    return client().request("GET", "/api/v1/audit/verify")  # type: ignore[no-any-return]


def get(name: str, env: str | None = None) -> Deployment:
    """The deployment of service `name` in `env` (default: the configured environment)."""
    c = client()
    return Deployment(c, c.status(name, env or current().environment))


def list_services() -> list[dict[str, Any]]:
    """Every service the server knows, with where each runs."""
    return client().pages("/api/v1/services", "services")


def rollback(name: str, env: str | None = None) -> Deployment:
    """Put the previous release of `name` back in `env` (no rebuild)."""
    return get(name, env).rollback()
