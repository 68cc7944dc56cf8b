"""gp.deploy and friends: package → parity check → upload → deploy → live."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from goldenpath._bundle import build_bundle, check_name, check_parity, default_name
from goldenpath._client import Client
from goldenpath._config import current
from goldenpath._deployment import Deployment
from goldenpath._local_server import ensure_server
from goldenpath._progress import Progress
from goldenpath.errors import GoldenpathError


def client() -> Client:
    """A client for the configured server, started locally first if that is the default."""
    c = Client(current())
    ensure_server(c)
    return c


def deploy(model: Any, *, name: str | None = None, sample: Any = None,
           env: str | None = None, team: str = "", quiet: bool = False) -> Deployment:
    """Package `model`, check it predicts the same in a fresh process, and make it live.

    Returns the live Deployment (d.url, d.predict(X), d.status(), d.promote("prod")).
    """
    name = check_name(name or default_name(model))
    environment = env or current().environment
    progress = Progress(quiet=quiet)
    try:
        c = client()
        with tempfile.TemporaryDirectory(prefix="goldenpath-") as tmp:
            progress.start("package")
            bundle = build_bundle(model, name, sample, Path(tmp))
            progress.done("package", f"{bundle.tag} ({bundle.kind})")
            progress.start("parity check")
            check_parity(bundle)
            progress.done("parity check", f"{len(bundle.predictions)} sample rows match")
            return _ship(c, bundle.archive, name, environment, team, progress)
    except GoldenpathError as exc:
        progress.fail(str(exc))
        raise


def deploy_archive(archive: Path, *, name: str, env: str | None = None, team: str = "",
                   quiet: bool = False) -> Deployment:
    """Upload an exported .bento archive and make it live (the CLI's path)."""
    progress = Progress(steps=("upload", "deploy", "live"), quiet=quiet)
    try:
        return _ship(client(), archive, check_name(name), env or current().environment, team,
                     progress)
    except GoldenpathError as exc:
        progress.fail(str(exc))
        raise


def _ship(c: Client, archive: Path, name: str, environment: str, team: str,
          progress: Progress) -> Deployment:
    progress.start("upload")
    release = c.upload(name, archive, team=team)
    progress.done("upload", f"v{release['version']} {release['digest'][:19]}…")
    progress.start("deploy")
    after = c.last_event_id(name)
    c.deploy(release["id"], environment)
    progress.done("deploy", f"to {environment}")
    progress.start("live")
    info = c.wait(name, environment, after=after,
                  on_event=lambda e: progress.note(e["message"]))
    progress.done("live", info["url"])
    return Deployment(c, info)


def get(name: str, env: str | None = None) -> Deployment:
    """The deployment of service `name` in `env` (default: the configured environment)."""
    c = client()
    return Deployment(c, c.status(name, env or current().environment))


def list_services() -> list[dict[str, Any]]:
    """Every service the server knows, with where each runs."""
    return client().request("GET", "/api/v1/services")["services"]  # type: ignore[no-any-return]


def rollback(name: str, env: str | None = None) -> Deployment:
    """Put the previous release of `name` back in `env` (no rebuild)."""
    return get(name, env).rollback()
