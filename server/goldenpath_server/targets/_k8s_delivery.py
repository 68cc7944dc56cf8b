"""Progressive delivery on Kubernetes without a service mesh (the Kubernetes target's side of
the progression engine, _progression.py).

The candidate runs as a second Deployment `<name>-canary` from the same template, its pods
labelled goldenpath.dev/variant=canary, reachable alone through the Service `<name>-preview`.
The stable Service `<name>` selects by the variant and release labels:

    {name}                      both Deployments: the replica ratio is the canary's weight
    {name, release: <stable>}   the stable release only: a blue-green preview, a shadow, abort
    {name, variant: canary}     the candidate only: the instant switch of complete()

A replica ratio splits connections, not requests (keep-alive clients stay on one variant).
Requests are split instead, and copied to the candidate (shadow), by the service's HTTPRoute
where the environment names a Gateway API Gateway (its weights and RequestMirror), or else
by the goldenpath router as `<name>-router` in front of both releases (_k8s_router.py:
environments with `traffic: router`, and every shadow), which also compares both answers and
remembers them for outcomes; the stable Service then selects the router's pods.

complete() brings the candidate to the stable's size, switches the Service to it, then rolls
the stable Deployment to the candidate's spec and removes `<name>-canary` (the "handover");
a blue-green keep_warm_s leaves the old Deployment running that long instead, the Service
on `<name>-canary`, and the handover runs then, or at the next rollout of the service.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any, cast

from kubernetes.client.exceptions import ApiException

from goldenpath_router import Split
from goldenpath_server.targets._base import Progress, Rollout, TargetError, app_shadow_refused
from goldenpath_server.targets._k8s_router import ClusterRouter
from goldenpath_server.targets._pod_metrics import (
    BENTOML,
    Counters,
    Scrape,
    pod_counters,
    scrape_for,
    window_of,
)
from goldenpath_server.targets._pod_parity import replay_sample
from goldenpath_server.targets._pods import api_message
from goldenpath_server.targets._template import (
    CANARY_SUFFIX,
    MODEL_PORT,
    PREVIEW_SUFFIX,
    VARIANT,
    container_port,
    http_route,
    public_url_of,
    render,
    render_candidate,
)

if TYPE_CHECKING:
    from goldenpath_server.targets.kubernetes import KubernetesTarget

log = logging.getLogger("goldenpath.server")
NAME, RELEASE, TRACK = "app.kubernetes.io/name", "goldenpath.dev/release", "goldenpath.dev/track"
GONE_WAIT_S = 30.0  # for the candidate's pods to leave before the stable Service widens again
_EMPTY = {"requests": 0, "errors": 0, "error_rate": None, "predictions": {},
          "latency_ms": {"p50": None, "p95": None, "p99": None}}


def canary_replicas(stable: int, weight: float, most: int) -> int:
    """Candidate replicas beside `stable` ones whose share of all replicas is nearest to
    `weight`: at least 1 (any weight above 0 gets a pod), at most `most`."""
    if weight >= 1.0:
        return most
    return max(1, min(most, round(stable * weight / (1.0 - weight))))


def _quiet(_: str) -> None:
    """Progress nobody reads (complete() and abort() have no rollout log to write to)."""


class Delivery:
    """Canary, champion/challenger, blue-green and shadow for one KubernetesTarget: the
    methods the progression engine calls, and the settling of a
    blue-green switch that kept the old release warm."""

    def __init__(self, target: KubernetesTarget) -> None:
        self.t = target
        self._lock = threading.RLock()
        self._warm: dict[str, tuple[Rollout, threading.Timer]] = {}  # service -> handover
        self._windows: dict[str, float] = {}  # rollout key -> when its window began
        # (rollout key, Deployment) -> each pod's counters at the window's start
        self._readings: dict[tuple[str, str], dict[str, Counters]] = {}
        self._sources: dict[str, tuple[int, Scrape]] = {}  # rollout key -> counters port, names
        self.router = ClusterRouter(target)

    @property
    def _gateway(self) -> str:
        return self.t.settings.gateway

    # -- the engine's interface ----------------------------------------------------------
    def start_candidate(self, rollout: Rollout, progress: Progress) -> dict[str, Any]:
        """`<name>-canary` with one ready pod and `<name>-preview`; the stable Service
        first narrowed to the stable release, so the candidate takes no traffic yet."""
        name, t = rollout.service, self.t
        with self._lock, t._translate_errors():
            if self._swapped(name):
                self._settle_warm(rollout, progress)
            stable = self._release_of(name)
            narrowed = self._service(name, {NAME: name, RELEASE: stable})
            objects = [narrowed, *render_candidate(rollout, t.settings, 1)]
            progress(f"server-side dry-run of the candidate's {len(objects) - 1} objects in "
                     f"{t.settings.namespace}")
            for obj in objects:
                t._apply(obj, dry_run=True)
            progress(f"dry-run accepted; the stable Service selects release {stable} only; "
                     f"starting {name}{CANARY_SUFFIX}")
            for obj in objects:
                t._apply(obj, dry_run=False)
            t._watch(rollout, progress, name + CANARY_SUFFIX)
            parity = replay_sample(t.core, t._call, t.settings.namespace, rollout,
                                   progress) if rollout.parity else None
        # where each variant's counters are: a model's runtime's, or what the app exports
        self._sources[rollout.key] = (container_port(rollout), scrape_for(rollout.metrics))
        self.window(rollout.key)  # the first window starts now, after the parity replay
        ns, preview = t.settings.namespace, name + PREVIEW_SUFFIX
        state = {"name": name + CANARY_SUFFIX, "namespace": ns, "service": name,
                 "release_id": rollout.release_id, "stable_release_id": stable,
                 "url": f"{t.api.configuration.host.rstrip('/')}/api/v1/namespaces/{ns}/"
                        f"services/{preview}:http/proxy",
                 "cluster_url": f"http://{preview}.{ns}.svc.cluster.local",
                 "replicas": 1, "weight": 0.0}
        return {**state, "parity": parity} if parity else state

    def split(self, key: str, state: dict[str, Any], candidate: dict[str, Any],
              weight: float, mirror: bool) -> float:
        """`weight` of the traffic to the candidate: as its share of the replicas behind
        the stable Service, or per request (the HTTPRoute's weights with a Gateway, else the
        router's); at weight 0 (blue-green preview, shadow) the candidate runs at the
        stable's size, unselected. Returns the weight in effect (a replica ratio rounds)."""
        name = str(candidate.get("service") or state["name"])
        with self._lock, self.t._translate_errors():
            routed = not self._gateway and (
                mirror or (weight > 0 and self.t.settings.traffic == "router")
                or self.router.running(name))
            # an app's requests are never copied nor compared, as on the local target: a
            # shadow is refused before anything changes
            live, app = None, False
            if routed:
                live = self._read_service(name)
                app = (live.metadata.labels or {}).get(TRACK) == "app"
                if app and mirror:
                    raise app_shadow_refused()
            size = self._replicas(name)
            most = max(size, self.t.settings.max_replicas)
            replicas = size if weight <= 0 else canary_replicas(size, weight, most)
            effective = weight if self._gateway or routed else \
                (replicas / (size + replicas) if weight > 0 else 0.0)
            self._scale(name + CANARY_SUFFIX, replicas, weight, effective)
            stable = str(candidate.get("stable_release_id") or self._release_of(name))
            if routed:  # the router selects itself
                self.router.route(key, live, stable,
                                  Split(weight=weight, mirror=mirror, compare=not app),
                                  lambda line: log.info("%s: %s", key, line))
                return effective
            if self._gateway:
                percent = round(weight * 100)
                self._apply_route(name, [(name, 100 - percent),
                                         (name + PREVIEW_SUFFIX, percent)],
                                  mirror=name + PREVIEW_SUFFIX if mirror else "")
            selector = {NAME: name} if weight > 0 and not self._gateway else \
                {NAME: name, RELEASE: stable}
            self._select(name, selector)
        log.info("%s: %d candidate pod(s) beside %d stable: %.0f%% asked, %.1f%% of the "
                 "%s", key, replicas, size, weight * 100, effective * 100,
                 "requests (HTTPRoute)" if self._gateway else "connections (replica ratio)")
        return effective

    def window(self, key: str) -> dict[str, Any]:
        """Each variant's requests, errors and latency since the last window: what the
        router measured, where it routes (with both answers to the same requests compared),
        else from each variant's pods' own counters (read through the API server: the
        cluster counts no requests per variant without a mesh; no pairs then). The first
        reading of the counters after a server restart only starts the window."""
        now = time.monotonic()
        began = self._windows.get(key, now)
        self._windows[key] = now
        name = key.rsplit(".", 1)[0]
        port, scrape = self._sources.get(key, (MODEL_PORT, BENTOML))
        variants = []
        with self._lock, self.t._translate_errors():
            if self.router.running(name):
                return self.router.window(name)
            for deployment in (name, name + CANARY_SUFFIX):
                release = self._release_label(deployment)
                read = pod_counters(self.t.api, self.t.core, self.t.settings.namespace,
                                    release, port, scrape) if release else {}
                before = self._readings.get((key, deployment))
                # a pod that did not answer keeps its last reading (counted once)
                self._readings[(key, deployment)] = {**(before or {}), **read}
                variants.append(window_of(read, before).summary() if before is not None
                                else dict(_EMPTY))
        return {"seconds": round(now - began, 3), "stable": variants[0],
                "candidate": variants[1],
                "paired": {"requests": 0, "dropped": 0, "agreement": None, "mad": None}}

    def answers(self, key: str, request_ids: list[str]) -> dict[str, dict[str, Any]] | None:
        """What each variant answered to these requests, where the router routes `key`
        (None: nothing remembers answers, the replica ratio or Gateway routes it)."""
        name = key.rsplit(".", 1)[0]
        with self._lock, self.t._translate_errors():
            if self.router.running(name):
                return self.router.answers(name, request_ids)
        # a router environment's rollout before its first split knows none yet
        return {} if self.t.settings.traffic == "router" and not self._gateway else None

    def _end_window(self, key: str) -> None:
        self._windows.pop(key, None)
        for held in [k for k in self._readings if k[0] == key]:
            del self._readings[held]

    def _release_label(self, deployment: str) -> str:
        dep = self._deployment(deployment)
        return str(dep.spec.template.metadata.labels.get(RELEASE, "")) if dep is not None else ""

    def complete(self, rollout: Rollout, state: dict[str, Any], candidate: dict[str, Any],
                 keep_warm_s: float) -> dict[str, Any]:
        """All traffic to the candidate at once (at the stable's size first), then the
        handover; with keep_warm_s the old Deployment stays that long, unselected."""
        name, t = rollout.service, self.t
        self._end_window(rollout.key)
        with self._lock, t._translate_errors():
            size = self._replicas(name)
            self._scale(name + CANARY_SUFFIX, size, 1.0, 1.0)
            t._watch(rollout, _quiet, name + CANARY_SUFFIX)
            self._select(name, {NAME: name, VARIANT: "canary"})
            if self._gateway:
                self._apply_route(name, [(name, 1)])
            self.router.remove(name)
            if keep_warm_s <= 0:
                return self._handover(rollout, _quiet)
            old = self._release_of(name)
            timer = threading.Timer(keep_warm_s, self._release_warm, args=(rollout,))
            timer.daemon = True
            self._forget(name)
            self._warm[name] = (rollout, timer)
            timer.start()
        return {**t._state(rollout), "serving": name + CANARY_SUFFIX,
                "warm": {"deployment": name, "release_id": old,
                         "until": time.time() + keep_warm_s}}

    def abort(self, rollout: Rollout, state: dict[str, Any], candidate: dict[str, Any]
              ) -> None:
        """Every request back to the stable release, the candidate's objects deleted; the
        Service widens to the template's selector once the candidate's pods are gone."""
        name, t = rollout.service, self.t
        self._end_window(rollout.key)
        with self._lock, t._translate_errors():
            stable = str(candidate.get("stable_release_id") or self._release_of(name))
            self._select(name, {NAME: name, RELEASE: stable})
            if self._gateway:
                self._apply_route(name, [(name, 1)])
            self.router.remove(name)
            self._remove_candidate(name)
            if self._candidate_gone(name):
                self._select(name, {NAME: name})
            else:
                log.warning("%s: the candidate's pods are still running after %.0fs; the "
                            "stable Service keeps selecting release %s only", rollout.key,
                            GONE_WAIT_S, stable)

    # -- settling what a blue-green switch kept warm ---------------------------------------
    def settle(self, rollout: Rollout, progress: Progress, stale: bool
               ) -> dict[str, Any] | None:
        """Before a rollout of `rollout`: after a blue-green switch that kept the old
        release warm, switch back at once (`rollout` is the warm one) or hand over to it
        (its state: the rollout is done). `stale`: remove a candidate left behind."""
        name = rollout.service
        with self._lock:
            swapped = self._swapped(name)
            if not swapped and not (stale and self._deployment(name + CANARY_SUFFIX)):
                return None
            self._forget(name)
            stable = self._release_of(name)
            if swapped and rollout.release_id != stable:
                progress(f"{name}{CANARY_SUFFIX} serves since a blue-green switch: rolling "
                         f"{name} to release {rollout.release_id} behind it")
                return self._handover(rollout, progress)
            progress(f"switching back to the release kept warm ({stable})" if swapped else
                     f"removing {name}{CANARY_SUFFIX}, left by an earlier rollout")
            self._select(name, {NAME: name, RELEASE: stable})
            self.router.remove(name)
            self._remove_candidate(name)
            self._candidate_gone(name)
            return None

    def forget(self, service: str) -> None:
        """The service is being deleted: no handover is due any more."""
        with self._lock:
            self._forget(service)

    def close(self) -> None:
        with self._lock:
            for service in list(self._warm):
                self._forget(service)

    def _forget(self, service: str) -> None:
        held = self._warm.pop(service, None)
        if held is not None:
            held[1].cancel()

    def _settle_warm(self, rollout: Rollout, progress: Progress) -> None:
        """A new progressive rollout while the last blue-green one keeps its old release
        warm: hand over to the release that serves, first."""
        held = self._warm.get(rollout.service)
        if held is None:
            raise TargetError(
                f"{rollout.service} still has the release replaced by its last blue-green "
                f"switch kept warm, and the server restarted since then",
                details={"hint": f"roll out once without a strategy to settle it: goldenpath "
                                 f"promote {rollout.service} --to {rollout.environment} "
                                 "--strategy rolling"})
        self._forget(rollout.service)
        progress(f"releasing the old release kept warm: {rollout.service} hands over to "
                 f"release {held[0].release_id} first")
        self._handover(held[0], progress)

    def _release_warm(self, rollout: Rollout) -> None:
        """keep_warm_s is over: the handover the blue-green switch deferred."""
        with self._lock:
            held = self._warm.get(rollout.service)
            if held is None or held[0] is not rollout:
                return
            self._warm.pop(rollout.service)
            try:
                with self.t._translate_errors():
                    if self._swapped(rollout.service):
                        self._handover(rollout, _quiet)
            except Exception:  # the next rollout of the service settles it
                log.exception("releasing the warm release of %s failed", rollout.key)

    def _handover(self, rollout: Rollout, progress: Progress) -> dict[str, Any]:
        """The stable Deployment rolls to `rollout` while the Service selects the candidate's
        pods; then the template's own Service, and the candidate's objects go."""
        name, t = rollout.service, self.t
        objects = render(rollout, t.settings)
        service = next(o for o in objects if o["kind"] == "Service")
        held = {**service, "spec": {**service["spec"],
                                    "selector": {NAME: name, VARIANT: "canary"}}}
        behind = [held if o is service else o for o in objects]
        for obj in behind:
            t._apply(obj, dry_run=True)
        for obj in behind:
            t._apply(obj, dry_run=False)
        state = t._watch(rollout, progress)
        t._apply(service, dry_run=False)  # both Deployments, one release: then only ours
        self._remove_candidate(name)
        return state

    # -- the cluster -----------------------------------------------------------------------
    def _service(self, name: str, selector: dict[str, str]) -> dict[str, Any]:
        """The stable Service as the template applied it, selecting `selector`."""
        live = self._read_service(name)
        ports = [{"name": p.name, "port": p.port, "targetPort": p.target_port}
                 for p in live.spec.ports or []]
        return {"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": name, "namespace": self.t.settings.namespace,
                             "labels": dict(live.metadata.labels or {})},
                "spec": {"selector": selector, "ports": ports}}

    def _select(self, name: str, selector: dict[str, str]) -> None:
        obj = self._service(name, selector)
        self.t._apply(obj, dry_run=True)
        self.t._apply(obj, dry_run=False)

    def _swapped(self, name: str) -> bool:
        """Does the stable Service select the candidate only (a blue-green kept warm)?"""
        try:
            live = self._read_service(name)
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise
        return (live.spec.selector or {}).get(VARIANT) == "canary"

    def _read_service(self, name: str) -> Any:
        """The live Service (the client's models type every field Optional)."""
        return cast(Any, self.t.core.read_namespaced_service(
            name, self.t.settings.namespace, _request_timeout=10))

    def _deployment(self, name: str) -> Any:
        return self.t._deployment(name)

    def _release_of(self, name: str) -> str:
        dep = self._deployment(name)
        if dep is None:
            raise TargetError(f"the Deployment {name} of the stable release is missing in "
                              f"{self.t.settings.namespace}, so nothing can progress from it",
                              details={"hint": "roll out without a strategy (rolling)"})
        return str(dep.spec.template.metadata.labels[RELEASE])

    def _replicas(self, name: str) -> int:
        dep = self._deployment(name)
        return max(1, int(dep.spec.replicas or 0)) if dep is not None else \
            self.t.settings.replicas

    def _scale(self, name: str, replicas: int, asked: float, effective: float) -> None:
        """Set the candidate's replicas (dry-run first), recording the weights on it."""
        body = {"metadata": {"annotations": {
                    "goldenpath.dev/weight": f"{asked:.4g}",
                    "goldenpath.dev/effective-weight": f"{effective:.4g}"}},
                "spec": {"replicas": replicas}}
        for dry_run in ("All", None):
            try:
                self.t.apps.patch_namespaced_deployment(
                    name, self.t.settings.namespace, body, field_manager="goldenpath",
                    dry_run=dry_run, _request_timeout=15)
            except ApiException as exc:
                stage = "refused at dry-run" if dry_run else "refused"
                raise TargetError(f"scaling Deployment {name} to {replicas} {stage} by the "
                                  f"cluster: {api_message(exc)}") from None

    def _apply_route(self, name: str, backends: list[tuple[str, int]],
                     mirror: str = "") -> None:
        s = self.t.settings
        live = self._read_service(name)
        labels = dict(live.metadata.labels or {})
        meta = {"name": name, "namespace": s.namespace, "labels": labels}
        public = public_url_of(name, str(labels.get("goldenpath.dev/environment", "")), s)
        route = http_route(meta, public, s.gateway, backends, mirror)
        self.t._apply(route, dry_run=True)
        self.t._apply(route, dry_run=False)

    def _remove_candidate(self, name: str) -> None:
        ns = self.t.settings.namespace
        for kind, path in (("Deployment", f"/apis/apps/v1/namespaces/{ns}/deployments/"),
                           ("Service", f"/api/v1/namespaces/{ns}/services/")):
            suffix = CANARY_SUFFIX if kind == "Deployment" else PREVIEW_SUFFIX
            # Background: the garbage collector takes its ReplicaSets and pods (orphaned,
            # they would be adopted by the stable Deployment, whose selector matches them)
            self.t._call("DELETE", path + name + suffix, missing_ok=True,
                         query=[("propagationPolicy", "Background")])

    def _candidate_gone(self, name: str) -> bool:
        """Wait until no pod of the candidate runs undeleted (the stable Service may then
        select every pod of the service again)."""
        deadline = time.monotonic() + GONE_WAIT_S
        selector = f"{NAME}={name},{VARIANT}=canary"
        while time.monotonic() < deadline:
            pods = self.t.core.list_namespaced_pod(self.t.settings.namespace,
                                                   label_selector=selector,
                                                   _request_timeout=10).items
            if all(cast(Any, p).metadata.deletion_timestamp for p in pods):
                return True
            time.sleep(0.5)
        return False
