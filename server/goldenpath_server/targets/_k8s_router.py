"""The goldenpath router in a cluster without a mesh or Gateway (_k8s_delivery.py uses it):
the Deployment `<name>-router` (goldenpath_router on the serving runtime's image) in front
of both releases of a service, so a progressive rollout splits REQUESTS, not connections,
copies them to the candidate (shadow) and compares both answers.

The stable Service selects the router's pods while it routes. The router reaches each
release's ready pods by address (the server lists them; no kube-proxy or cluster DNS is
needed) and is told where they are, and the split, twice: in the ConfigMap `<name>-router`
(a new router pod starts with it) and at once, by a PUT to each router pod through the API
server's pod proxy, guarded by the key in the Secret `<name>-router` (made per rollout; the
router holds no credential of the platform). Each window the server reads every router
pod's raw window the same way and merges them; the release's addresses are refreshed then.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import time
from typing import TYPE_CHECKING, Any, cast

import urllib3
from kubernetes.client.exceptions import ApiException

from goldenpath_router import Split, Window
from goldenpath_server.targets._base import Progress, Rollout, TargetError
from goldenpath_server.targets._template import ROUTER_FOR, ROUTER_SUFFIX, VARIANT, render_router

if TYPE_CHECKING:
    from goldenpath_server.targets.kubernetes import KubernetesTarget

log = logging.getLogger("goldenpath.server")
NAME, RELEASE = "app.kubernetes.io/name", "goldenpath.dev/release"
KEY_HEADER = "X-Goldenpath-Router-Key"
_CALL_TIMEOUT_S = 5.0


def _ready(pod: Any) -> bool:
    return bool(pod.status and pod.status.pod_ip and not pod.metadata.deletion_timestamp
                and any(c.type == "Ready" and c.status == "True"
                        for c in pod.status.conditions or []))


class ClusterRouter:
    """The router objects of one KubernetesTarget's services, and talking to its pods."""

    def __init__(self, target: KubernetesTarget) -> None:
        self.t = target
        self._keys: dict[str, str] = {}  # service -> its router's key (read back after a restart)
        self._told: dict[str, dict[str, Any]] = {}  # service -> the last config document

    def running(self, name: str) -> bool:
        return self.t._deployment(name + ROUTER_SUFFIX) is not None

    def route(self, rollout_key: str, live: Any, stable_release: str, split: Split,
              progress: Progress) -> None:
        """Requests of the stable Service `live` through its router, split by `split`: the
        router made (and waited for) if it is not there, told the split, and the Service
        pointed at it."""
        name = str(live.metadata.name)
        ports = live.spec.ports or []
        port = int(ports[0].target_port) if ports else 3000  # both releases serve on it
        document = self._document(name, stable_release, port, split)
        if not self.running(name):
            if not self.t.settings.runtime_image:
                raise TargetError("the goldenpath router runs on the serving runtime's image, "
                                  "and this environment names none", code="configuration_error",
                                  details={"hint": "set runtime_image for the environment"})
            self._keys[name] = secrets.token_urlsafe(32)
            objects = render_router(name, dict(live.metadata.labels or {}), port,
                                    self.t.settings, json.dumps(document), self._keys[name])
            for obj in objects:
                self.t._apply(obj, dry_run=True)
            progress(f"starting {name}{ROUTER_SUFFIX}: the goldenpath router splits the "
                     "service's requests between its releases")
            for obj in objects:
                self.t._apply(obj, dry_run=False)
            # the watch of the router's Deployment (the Rollout only names it)
            self.t._watch(Rollout(name, "router", stable_release, "model"), progress,
                          name + ROUTER_SUFFIX, pods=f"{ROUTER_FOR}={name}")
        else:
            self._tell(name, document)
        self._told[name] = document
        self.t.delivery._select(name, {ROUTER_FOR: name})
        log.info("%s: the router sends %.0f%% of the requests to the candidate%s", rollout_key,
                 split.weight * 100, ", and copies the rest to it" if split.mirror else "")

    def window(self, name: str) -> dict[str, Any]:
        """Both variants' answers and the pairs since the last window, of all router pods
        together; where the releases' pods changed since, the router is told first."""
        told = self._told.get(name) or self._read_config(name)
        if not told:
            return Window().summary()
        fresh = self._document(name, str(told["stable_release"]), int(told["port"]),
                               Split(**told["split"]))
        if (fresh["stable"], fresh["candidate"]) != (told["stable"], told["candidate"]):
            self._tell(name, fresh)
            told = fresh
        self._told[name] = told
        merged = Window()
        for pod in self._router_pods(name):
            got = self._pod_call(name, pod, int(told["port"]), "GET", "window")
            if got is None:
                continue
            merged.merge(got["window"])
            if int(got.get("version", 0)) < int(told["version"]):  # it missed the last one
                self._pod_call(name, pod, int(told["port"]), "PUT", "config", told)
        return merged.summary()

    def answers(self, name: str, request_ids: list[str]) -> dict[str, dict[str, Any]]:
        """What each variant answered to these requests, from every router pod."""
        found: dict[str, dict[str, Any]] = {}
        port = int((self._told.get(name) or self._read_config(name)).get("port", 0))
        for pod in self._router_pods(name) if port else []:
            got = self._pod_call(name, pod, port, "POST", "answers", {"ids": request_ids})
            for request_id, by_variant in (got or {}).get("answers", {}).items():
                found.setdefault(request_id, {}).update(by_variant)
        return found

    def remove(self, name: str) -> None:
        """The router's objects deleted (the Service no longer selects its pods)."""
        self._keys.pop(name, None)
        self._told.pop(name, None)
        ns, router = self.t.settings.namespace, name + ROUTER_SUFFIX
        for path in (f"/apis/apps/v1/namespaces/{ns}/deployments/",
                     f"/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies/",
                     f"/api/v1/namespaces/{ns}/configmaps/", f"/api/v1/namespaces/{ns}/secrets/"):
            self.t._call("DELETE", path + router, missing_ok=True,
                         query=[("propagationPolicy", "Background")])

    # -- what it is told ------------------------------------------------------------------
    def _document(self, name: str, release: str, port: int, split: Split) -> dict[str, Any]:
        """The config document: the ready pods of the stable release and of the candidate
        (and, for the server's own reading, the stable release and the port)."""
        stable = self._addresses(f"{NAME}={name},{VARIANT}=stable,{RELEASE}={release}", port)
        candidate = self._addresses(f"{NAME}={name},{VARIANT}=canary", port)
        # milliseconds since the epoch: newer after a server restart too
        return {"version": time.time_ns() // 1_000_000, "port": port,
                "stable_release": release,
                "split": {"weight": split.weight, "mirror": split.mirror,
                          "compare": split.compare},
                "stable": stable, "candidate": candidate}

    def _addresses(self, selector: str, port: int) -> list[list[Any]]:
        pods = self.t.core.list_namespaced_pod(self.t.settings.namespace, label_selector=selector,
                                               _request_timeout=10).items
        return sorted([cast(Any, p).status.pod_ip, port] for p in pods if _ready(cast(Any, p)))

    def _tell(self, name: str, document: dict[str, Any]) -> None:
        """The ConfigMap first (what a new router pod starts with), then every pod at once."""
        ns, router = self.t.settings.namespace, name + ROUTER_SUFFIX
        self.t.core.patch_namespaced_config_map(
            router, ns, {"data": {"config.json": json.dumps(document)}},
            field_manager="goldenpath", _request_timeout=10)
        for pod in self._router_pods(name):
            self._pod_call(name, pod, int(document["port"]), "PUT", "config", document)

    def _read_config(self, name: str) -> dict[str, Any]:
        """After a server restart: what the router was last told (its ConfigMap)."""
        ns = self.t.settings.namespace
        found = self.t._call("GET", f"/api/v1/namespaces/{ns}/configmaps/{name}{ROUTER_SUFFIX}",
                             missing_ok=True)
        try:
            return dict(json.loads((found or {}).get("data", {}).get("config.json", "")))
        except ValueError:
            return {}

    # -- its pods ------------------------------------------------------------------------
    def _router_pods(self, name: str) -> list[Any]:
        pods = self.t.core.list_namespaced_pod(self.t.settings.namespace,
                                               label_selector=f"{ROUTER_FOR}={name}",
                                               _request_timeout=10).items
        return [p for p in pods if _ready(cast(Any, p))]

    def _key(self, name: str) -> str:
        if name not in self._keys:
            secret = self.t.core.read_namespaced_secret(name + ROUTER_SUFFIX,
                                                        self.t.settings.namespace,
                                                        _request_timeout=10)
            self._keys[name] = base64.b64decode(cast(Any, secret).data["key"]).decode()
        return self._keys[name]

    def _pod_call(self, name: str, pod: Any, port: int, method: str, endpoint: str,
                  body: Any = None) -> dict[str, Any] | None:
        """One call to a router pod's own endpoint through the pod proxy; None if it did not
        answer (a pod starting or going: the next window asks again)."""
        api, ns = self.t.api, self.t.settings.namespace
        path = (f"/api/v1/namespaces/{ns}/pods/{pod.metadata.name}:{port}/proxy/-/router/"
                f"{endpoint}")
        headers = {"Accept": "application/json", KEY_HEADER: self._key(name)}
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            request = api.param_serialize(method, path, header_params=headers, body=body,
                                          auth_settings=["BearerToken"])
            response = api.call_api(*request, _request_timeout=_CALL_TIMEOUT_S)
            data = response.read()
            if response.status != 200:
                log.warning("router pod %s answered %s to %s: %s", pod.metadata.name,
                            response.status, endpoint, data[:200])
                return None
            return dict(json.loads(data))
        except (ApiException, ValueError, OSError, urllib3.exceptions.HTTPError) as exc:
            log.warning("router pod %s did not answer %s: %s", pod.metadata.name, endpoint, exc)
            return None
