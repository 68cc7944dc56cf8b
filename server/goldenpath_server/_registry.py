"""The MLflow model registry: each model release becomes a model version, and each
environment an alias that moves with promotions and rollbacks.

Spoken to over MLflow's REST API (no mlflow import in the server). Registry trouble never
blocks a release: it is recorded as an event and retried at the next go-live."""

from __future__ import annotations

from typing import Any

import requests

from goldenpath_server._settings import redact_url

_API = "/api/2.0/mlflow"


class RegistryError(Exception):
    """The MLflow server refused or could not be reached; the message says which."""


class ModelRegistry:
    def __init__(self, tracking_uri: str, server_url: str, timeout: float = 20.0,
                 http: requests.Session | None = None) -> None:
        self.base = tracking_uri.rstrip("/")
        self.shown = redact_url(self.base)  # for messages: never the password
        self.server_url = server_url.rstrip("/")
        self.timeout = timeout
        self.http = http or requests.Session()  # the platform's: outbound calls checked

    def register(self, service: str, release: dict[str, Any],
                 lineage: dict[str, Any]) -> dict[str, Any]:
        """Create the model version of `release` (and the registered model if needed)."""
        self._call("POST", "registered-models/create", {
            "name": service, "description": f"goldenpath service {service}"}, exists_ok=True)
        run_id = str(lineage.get("mlflow_run_id") or "")
        if run_id and not self._run_exists(run_id):
            run_id = ""  # a run on another tracking server: keep it in the tags only
        tags = {"goldenpath.release_id": release["id"], "goldenpath.digest": release["digest"],
                "goldenpath.version": str(release["version"]),
                "goldenpath.bundle_url":
                    f"{self.server_url}/api/v1/bundles/{release['digest']}",
                "goldenpath.git_commit": str(lineage.get("git_commit") or ""),
                "goldenpath.mlflow_run_id": str(lineage.get("mlflow_run_id") or "")}
        body: dict[str, Any] = {
            "name": service, "source": f"goldenpath://releases/{release['id']}",
            "description": f"{service} v{release['version']} ({release['digest']})",
            "tags": [{"key": k, "value": v} for k, v in tags.items() if v]}
        if run_id:
            body["run_id"] = run_id
        version = self._call("POST", "model-versions/create", body)["model_version"]
        return {"name": service, "version": str(version["version"]), "run_id": run_id or None,
                "uri": f"models:/{service}/{version['version']}"}

    def set_alias(self, name: str, alias: str, version: str) -> None:
        """Point alias `alias` (an environment) at `version`."""
        self._call("POST", "registered-models/alias",
                   {"name": name, "alias": alias, "version": version})

    def alias(self, name: str, alias: str) -> str:
        found = self._call("GET", "registered-models/alias", {"name": name, "alias": alias})
        return str(found["model_version"]["version"])

    def _run_exists(self, run_id: str) -> bool:
        try:
            self._call("GET", "runs/get", {"run_id": run_id})
            return True
        except RegistryError:
            return False

    def _call(self, method: str, path: str, body: dict[str, Any],
              exists_ok: bool = False) -> dict[str, Any]:
        url = f"{self.base}{_API}/{path}"
        try:
            if method == "GET":
                response = self.http.get(url, params=body, timeout=self.timeout)
            else:
                response = self.http.request(method, url, json=body, timeout=self.timeout)
        except requests.RequestException as exc:
            raise RegistryError(f"MLflow at {self.shown} is unreachable: "
                                f"{type(exc).__name__}") from None
        if response.ok:
            return response.json() if response.content else {}
        try:
            error = response.json()
        except ValueError:
            error = {"message": response.text[:300]}
        if exists_ok and error.get("error_code") == "RESOURCE_ALREADY_EXISTS":
            return {}
        raise RegistryError(f"MLflow refused {path}: {error.get('message', response.status_code)}")
