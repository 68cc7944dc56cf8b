"""Reaching a deployment on Kubernetes from outside the cluster (notebook, CLI, panel).

A Kubernetes deployment's URL is either the environment's public URL (an Ingress or Gateway
the platform runs: plain HTTP(S), nothing to add) or the API server's service proxy,
`https://API/api/v1/namespaces/NS/services/NAME:http/proxy`, which answers only with the
credentials of a kubeconfig user allowed `services/proxy` in that namespace. `options(url)`
finds those credentials in the user's kubeconfig ($KUBECONFIG or ~/.kube/config): the
context whose cluster's server is that API server, the current context first.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
import yaml

from goldenpath.errors import ConfigurationError, PermissionDenied

_SERVICE_PROXY = re.compile(r"^https?://[^/]+/api/v1/namespaces/[^/]+/services/[^/]+/proxy/?$")


@dataclass(frozen=True)
class Route:
    """How to send a request through the API server: headers, TLS trust, client certificate."""

    headers: dict[str, str] = field(default_factory=dict)
    ca_file: str | None = None  # None: the system's trust store
    verify: bool = True
    cert_file: str | None = None
    key_file: str | None = None

    def requests_options(self) -> dict[str, Any]:
        cert = (self.cert_file, self.key_file) if self.cert_file else None
        return {"headers": dict(self.headers), "cert": cert,
                "verify": (self.ca_file or True) if self.verify else False}


def is_service_proxy(url: str) -> bool:
    return bool(_SERVICE_PROXY.match(url.rstrip("/") + "/"))


def route(url: str) -> Route | None:
    """The credentials for `url` if it is an API server's service proxy, else None."""
    if not is_service_proxy(url):
        return None
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    files = _kubeconfig_files()
    for path in files:
        context = _context_for(path, origin)
        if context is not None:
            return _credentials(str(path), context, path.stat().st_mtime)
    raise ConfigurationError(
        f"{url} is reached through the Kubernetes API server at {origin}, and no context in "
        f"your kubeconfig ({os.pathsep.join(map(str, files)) or 'none found'}) points there",
        "set KUBECONFIG to a kubeconfig for that cluster (its user needs `services/proxy` in "
        "the namespace), or ask the platform team to give the environment a public_url")


def post(base_url: str, path: str, **kwargs: Any) -> requests.Response:
    """requests.post of base_url + path, through the API server's service proxy with the
    kubeconfig's credentials when base_url is one."""
    url = f"{base_url.rstrip('/')}{path}"
    found = route(base_url)
    if found is None:
        return requests.post(url, **kwargs)
    options = found.requests_options()
    options["headers"].update(kwargs.pop("headers", None) or {})
    response = requests.post(url, **options, **kwargs)
    if response.status_code in (401, 403) and "Status" in response.text:
        raise PermissionDenied(
            f"the Kubernetes API server refused to proxy to the service: {_status(response)}",
            "your kubeconfig user needs the `services/proxy` permission (verb get/create) in "
            "that namespace, or use the environment's public URL")
    return response


def _kubeconfig_files() -> list[Path]:
    raw = os.environ.get("KUBECONFIG", "")
    paths = [Path(p).expanduser() for p in raw.split(os.pathsep) if p] if raw else \
        [Path("~/.kube/config").expanduser()]
    return [p for p in paths if p.is_file()]


def _context_for(path: Path, origin: str) -> str | None:
    """The name of a context in `path` whose cluster's server is `origin` (current first)."""
    try:
        config = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return None
    servers = {c.get("name"): str((c.get("cluster") or {}).get("server", "")).rstrip("/")
               for c in config.get("clusters") or []}
    names = [c.get("name") for c in config.get("contexts") or []
             if servers.get((c.get("context") or {}).get("cluster")) == origin]
    current = config.get("current-context")
    return current if current in names else (names[0] if names else None)


@functools.lru_cache(maxsize=16)
def _credentials(path: str, context: str, _mtime: float) -> Route:
    """Load the context with the Kubernetes client's own loader (tokens, certificates, exec
    plugins), once per kubeconfig version."""
    from kubernetes import client, config

    cfg = client.Configuration()
    config.load_kube_config(config_file=path, context=context, client_configuration=cfg,
                            persist_config=False)
    # the client's own view of what to send (a bearer token's key varies by version)
    settings: dict[str, Any] = dict(cfg.auth_settings())
    headers = {auth["key"]: auth["value"] for auth in settings.values()
               if auth.get("in") == "header" and auth.get("value")}
    return Route(headers=headers, ca_file=cfg.ssl_ca_cert,
                 verify=bool(cfg.verify_ssl), cert_file=cfg.cert_file, key_file=cfg.key_file)


def _status(response: requests.Response) -> str:
    try:
        return str(response.json().get("message") or response.reason)
    except ValueError:
        return response.reason or str(response.status_code)
