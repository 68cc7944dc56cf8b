"""Registration: a model release that goes live is registered in MLflow (when configured),
and the environment's alias follows it. A registry failure is an event, never a failed
rollout: the release is live either way."""

from __future__ import annotations

from typing import Any

from goldenpath_server import _audit
from goldenpath_server._evidence import verified
from goldenpath_server._registry import ModelRegistry, RegistryError
from goldenpath_server._store import Store


class Registration:
    def __init__(self, store: Store, registry: ModelRegistry | None) -> None:
        self.store = store
        self.registry = registry

    def went_live(self, release_id: str, environment: str) -> None:
        """Move the environment's alias to this release's model version."""
        registered = self.register(release_id)
        if registered is None or self.registry is None:
            return
        try:
            self.registry.set_alias(registered["name"], environment, registered["version"])
            kind, message = "registry_alias_moved", (
                f"MLflow alias {environment} → {registered['name']} "
                f"version {registered['version']}")
        except RegistryError as exc:
            kind, message = "registry_failed", str(exc)
        with self.store.tx() as db:
            release, service = self.store.release(db, release_id)
            self.store.event(db, service, environment, release_id, kind, message,
                             {"model_version": registered["version"]})

    def register(self, release_id: str) -> dict[str, Any] | None:
        """Register the model release (once: it is then part of its evidence)."""
        if self.registry is None:
            return None
        with self.store.read() as db:
            release, service = self.store.release(db, release_id)
            if release.kind != "model":
                return None
            if (release.evidence or {}).get("mlflow"):
                return dict(release.evidence["mlflow"])
            view = {"id": release.id, "digest": release.digest, "version": release.version}
            lineage = dict((release.evidence or {}).get("lineage") or {})
        try:
            registered: dict[str, Any] | None = self.registry.register(service, view, lineage)
            kind, message = "registry_registered", (
                f"registered {service} v{view['version']} as MLflow model version "
                f"{registered['version']}" if registered else "")
        except RegistryError as exc:
            registered, kind, message = None, "registry_failed", str(exc)
        with self.store.tx() as db:
            release, service = self.store.release(db, release_id)
            if registered is not None:
                release.evidence, release.evidence_sources = (
                    {**(release.evidence or {}), "mlflow": registered},
                    {**(release.evidence_sources or {}),
                     **verified({"mlflow": registered}, "registered by the server")[1]})
                release.registry_uri = registered["uri"]
            self.store.event(db, service, "", release_id, kind, message, registered)
            _audit.cover(db, release)
        return registered
