"""gp.deploy and friends: package → upload → deploy → live (parity checked where it runs)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from goldenpath._bundle import build_bundle, check_name, default_name, training_table
from goldenpath._client import Client
from goldenpath._config import current
from goldenpath._deployment import Deployment, waiting
from goldenpath._lineage import collect_lineage, draft_card, fingerprint, lineage_labels
from goldenpath._local_server import ensure_server, start_server, wait_for_server
from goldenpath._local_server import stop_server as _stop_server
from goldenpath._progress import Progress
from goldenpath._promotion import Promotion
from goldenpath._where import locate
from goldenpath.errors import Conflict, GoldenpathError, NotFound
from goldenpath_api import models
from goldenpath_api.rules import MAX_PAGE, WAITING


def client() -> Client:
    """A client for the configured server, started locally first if that is the default."""
    c = Client(current())
    ensure_server(c)
    return c


def deploy(model: Any, *, name: str | None = None, sample: Any = None,
           env: str | None = None, team: str = "", quiet: bool = False,
           metrics: dict[str, float] | None = None, data: dict[str, Any] | None = None,
           resources: dict[str, float] | None = None, card: str | None = None,
           notebook: str | Path | None = None, outputs: str | list[str] | None = None) -> Any:
    """Package `model` and make it live; it goes live only where it predicts the sample as
    here (the serving runtime and the server replay it: ParityError says which rows differ).

    Evidence travels with the release: lineage (MLflow run, git commit, notebook hash),
    `data=` fingerprints and `metrics=` (declared by you), a drafted model card (d.card); the
    server adds what it verifies itself (scan, pins, parity per environment).
    `data={"train": X_train}` (a table like the sample) is also profiled: per-feature
    statistics and the distribution of the model's predictions, on at most 10,000 of its
    rows, go into the bundle as profile.json (the sample's without it), the reference live
    traffic is compared with; statistics only, no training row leaves this process.
    `outputs=` chooses what /predict answers: "predict" (the default: labels or values),
    "predict_proba" (one {class: probability} per row), or both, e.g.
    outputs=["predict", "predict_proba"]; d.predict(X) and d.predict_proba(X) read them.
    Returns the live Deployment (d.url, d.predict(X), d.status(), d.promote("prod")), or a
    Promotion when `env` needs approvals first.
    """
    name = check_name(name or default_name(model))
    environment = env or current().environment
    progress = Progress(quiet=quiet)
    try:
        c = Client(current())
        started = start_server(c)  # a server that needs starting does so while we package
        lineage = collect_lineage(notebook, data)
        with tempfile.TemporaryDirectory(prefix="goldenpath-") as tmp:
            progress.start("package")
            bundle = build_bundle(model, name, sample, Path(tmp), labels=lineage_labels(lineage),
                                  outputs=outputs, train=training_table(data))
            progress.done("package", f"{bundle.tag} ({bundle.kind})")
            shown = {**(lineage.get("mlflow_metrics") or {}), **(metrics or {})}
            evidence: dict[str, Any] = {
                "lineage": lineage, "data": lineage["data"], "metrics": shown,
                "card_draft": draft_card(name, bundle.kind, lineage, shown,
                                         bundle.requirements)}
            if card is not None:
                evidence["card"] = card
            wait_for_server(c, started)
            shipped = _ship(c, bundle.archive, name, environment, team, progress,
                            resources=resources, evidence=evidence)
            if isinstance(shipped, Deployment):
                shipped.model = model
            return shipped
    except GoldenpathError as exc:
        locate(exc, model)  # the line in the user's own code, as this notebook knows it
        progress.fail(str(exc))
        raise


def deploy_archive(archive: Path, *, name: str, env: str | None = None, team: str = "",
                   quiet: bool = False, resources: dict[str, float] | None = None,
                   metrics: dict[str, float] | None = None,
                   data: dict[str, Any] | None = None, card: str | None = None) -> Any:
    """Upload an exported .bento archive and make it live (the CLI's path), with the same
    declared evidence gp.deploy takes: metrics, data fingerprints, a model card."""
    progress = Progress(steps=("upload", "deploy", "live"), quiet=quiet)
    evidence: dict[str, Any] = {}
    if metrics:
        evidence["metrics"] = metrics
    if data:
        evidence["data"] = [fingerprint(k, v) for k, v in data.items()]
    if card is not None:
        evidence["card"] = card
    try:
        return _ship(client(), archive, check_name(name), env or current().environment, team,
                     progress, resources=resources, evidence=evidence)
    except GoldenpathError as exc:
        progress.fail(str(exc))
        raise


def release_app(name: str, image: str, *, port: int = 8080, team: str = "",
                resources: dict[str, float] | None = None, env: str | None = None,
                test_report: str = "", review: str = "") -> Any:
    """Create an app release from an image pinned by digest (with its test report and
    review, if given) and, with `env`, promote it there: the release's view, or the live
    Deployment / the Promotion waiting for approval."""
    c = client()
    if env:  # refuse before a release exists that the environment cannot run
        envs = {e["name"]: e for e in c.request("GET", "/api/v1/environments")["environments"]}
        if env not in envs:
            raise NotFound(f"unknown environment {env!r}", f"use one of: {', '.join(envs)}")
        cannot = (envs[env].get("cannot_run") or {}).get("app")
        if cannot:
            raise Conflict(f"{env} cannot run app images: {cannot}",
                           "nothing was created; fix that, or pass another --env")
    release = c.request("POST", f"/api/v1/services/{check_name(name)}/app-releases",
                        json={"image": image, "port": port, "team": team,
                              "resources": resources or None})
    evidence = {k: v for k, v in (("test_report", test_report), ("review", review)) if v}
    if evidence:
        c.attach_evidence(release["id"], evidence)
    if not env:
        return release
    after = c.last_seq(name)
    started = c.deploy(release["id"], env)
    if isinstance(started, models.Promotion):
        return waiting(c, started)
    return Deployment(c, c.wait(name, env, after=after, release_id=release["id"]))


def set_team(name: str, team: str) -> dict[str, Any]:
    """Give service `name` to `team` (admins): its owners from now on."""
    return client().request(  # type: ignore[no-any-return]
        "PUT", f"/api/v1/services/{name}/team", json={"team": team})


def _ship(c: Client, archive: Path, name: str, environment: str, team: str,
          progress: Progress, resources: dict[str, float] | None = None,
          evidence: dict[str, Any] | None = None) -> Any:
    progress.start("upload")
    release = c.upload(name, archive, team=team, resources=resources)
    if evidence:
        c.attach_evidence(release["id"], evidence)
    progress.done("upload", f"v{release['version']} {release['digest'][:19]}…")
    progress.start("deploy")
    after = c.last_seq(name)
    started = c.deploy(release["id"], environment)
    if isinstance(started, models.Promotion):
        progress.done("deploy", f"waiting for approval in {environment}")
        return waiting(c, started)
    progress.done("deploy", f"to {environment}")
    progress.start("live")
    info = c.wait(name, environment, after=after, release_id=release["id"],
                  on_event=lambda e: progress.note(e["message"]))
    progress.done("live", info.url)
    return Deployment(c, info)


def approvals(service: str | None = None, env: str | None = None) -> list[Promotion]:
    """The promotions waiting for approval (of `service`, in `env`)."""
    c = client()
    params = {"status": WAITING, "limit": MAX_PAGE, **({"service": service} if service else {}),
              **({"environment": env} if env else {})}
    found = c.request("GET", "/api/v1/promotions", params=params)  # unknown env: an error
    return [waiting(c, models.Promotion.model_validate(info))
            for info in found["promotions"]]


def approve(name: str, env: str, comment: str = "", *, reject: bool = False) -> Any:
    """Approve (or reject) the release of `name` waiting for approval in `env`: the live
    Deployment once enough approvals are in, else the Promotion still waiting."""
    found = approvals(name, env)
    if not found:
        raise NotFound(f"nothing of {name} waits for approval in {env}",
                       "list what waits: goldenpath approvals")
    return found[0].reject(comment) if reject else found[0].approve(comment)


def inventory(env: str | None = None) -> list[dict[str, Any]]:
    """What runs where: version, digest, since when, approved by whom, evidence links."""
    return client().pages("/api/v1/inventory", "inventory",
                          {"environment": env} if env else {})


def export_inventory(path: str | Path, env: str | None = None) -> Path:
    """Write the inventory (of `env`, or every environment) to `path` as CSV, for auditors
    and spreadsheets."""
    response = client().send("GET", "/api/v1/inventory.csv",
                             params={"environment": env} if env else {})
    path = Path(path)
    path.write_bytes(response.content)
    return path


def verify_audit(heads: list[str] | None = None) -> dict[str, Any]:
    """Check the audit trail's hash chain on the server (`ok` False names tampered rows).
    `heads`: "SEQ:HASH" printed by an earlier check, kept outside the database: the chain
    must still hold each (a rewritten chain does not)."""
    return client().request(  # type: ignore[no-any-return]
        "GET", "/api/v1/audit/verify", params={"head": heads or []})


def audit_log(service: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """The latest audit events (of `service`), oldest first: who did what, when."""
    params: dict[str, Any] = {"limit": limit, **({"service": service} if service else {})}
    return client().request("GET", "/api/v1/events", params=params)["events"]  # type: ignore[no-any-return]


def figures() -> models.PlatformFigures:
    """The platform's delivery figures, by track (model, app): change failure rate per
    environment, lead time and validation-to-production time, time to restore, production
    releases per service, model autonomy and governance compliance."""
    return models.PlatformFigures.model_validate(client().request("GET", "/api/v1/figures"))


def whoami() -> dict[str, Any]:
    """Who the server takes you for: {"user": ..., "roles": {team: role}}."""
    return client().request("GET", "/api/v1/me")  # type: ignore[no-any-return]


def get(name: str, env: str | None = None) -> Deployment:
    """The deployment of service `name` in `env` (default: the configured environment)."""
    c = client()
    return Deployment(c, c.status(name, env or current().environment))


def list_services() -> list[dict[str, Any]]:
    """Every service the server knows, with where each runs."""
    return client().pages("/api/v1/services", "services")


def rollback(name: str, env: str | None = None, to: int | None = None) -> Deployment:
    """Put an earlier release of `name` back in `env`, with no rebuild: the one live before
    the current one (each rollback goes one further back), or version `to`."""
    return get(name, env).rollback(to=to)


def stop_server(home: str | Path | None = None, keep_models: bool = False) -> list[str]:
    """Stop the local promotion server whose state is in `home` (default: the configured
    GOLDENPATH_HOME) and, unless `keep_models`, the serving processes it started; what was
    stopped, in words (NotFound when none runs there)."""
    return _stop_server(Path(home) if home else current().home, keep_models=keep_models)
