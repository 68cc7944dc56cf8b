"""The Kubernetes target: server-side dry-run of the whole rendered set, then server-side
apply (one field manager), then a real rollout watch until Available or a clear reason;
then, for models, the server replays the notebook's sample against every new pod through
the API server's pod proxy (its own parity check, verified evidence for the environment).
Progressive rollouts (canary, blue-green, champion/challenger, shadow) run a second
Deployment beside the stable one (_k8s_delivery.py), and the goldenpath router in front of
both where requests are split or copied without a Gateway (_k8s_router.py).
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any, cast

import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from goldenpath_server.targets._base import Progress, Rollout, RolloutInterrupted, TargetError
from goldenpath_server.targets._inference_pull import Source, pod_sources
from goldenpath_server.targets._k8s_delivery import Delivery
from goldenpath_server.targets._pod_metrics import Counters, Scrape, pod_counters
from goldenpath_server.targets._pod_parity import replay_sample
from goldenpath_server.targets._pods import (
    ClusterErrors,
    api_message,
    failed_run,
    last_line,
    not_started,
    requests_of,
    retrying,
    why_waiting,
)
from goldenpath_server.targets._template import (
    KINDS,
    MANAGED_BY,
    MODEL_PORT,
    TemplateSettings,
    public_url_of,
    render,
)

FIELD_MANAGER = "goldenpath"


def cast_pod(pod: Any) -> Any:
    """The client's models type every field Optional; a listed pod has what we read."""
    return cast(Any, pod)


UNREACHABLE_GRACE_S = 5.0
_PLURALS = {"ServiceAccount": "serviceaccounts", "Secret": "secrets",
            "ConfigMap": "configmaps", "Service": "services",
            "Deployment": "deployments", "PodDisruptionBudget": "poddisruptionbudgets",
            "HorizontalPodAutoscaler": "horizontalpodautoscalers",
            "NetworkPolicy": "networkpolicies", "Ingress": "ingresses",
            "HTTPRoute": "httproutes"}
_WAITING_FAILURES = ("ImagePullBackOff", "ErrImagePull", "CrashLoopBackOff",
                     "CreateContainerConfigError", "InvalidImageName")
# A pod no node can take (more CPU than any node has, a GPU nobody offers) is reported once
# the scheduler has said so for this long, not at the rollout's timeout (with a cluster
# autoscaler, an environment sets it to the time a new node takes).
UNSCHEDULABLE_GRACE_S = 10.0


class KubernetesTarget:
    """Delivers releases into one namespace of one cluster context."""

    name = "kubernetes"
    cannot_run: dict[str, str] = {}  # models and apps alike
    # shadow copies requests: through a Gateway's HTTPRoute, or the goldenpath router
    strategies: tuple[str, ...] = ("rolling", "blue-green", "canary", "champion-challenger",
                                   "shadow")

    def __init__(self, settings: TemplateSettings, kubeconfig: str = "", context: str = "",
                 rollout_timeout_s: float = 180.0,
                 stopping: threading.Event | None = None,
                 unschedulable_grace_s: float = UNSCHEDULABLE_GRACE_S) -> None:
        self.settings = settings
        self.unschedulable_grace_s = unschedulable_grace_s
        self._stopping = stopping or threading.Event()
        self.rollout_timeout_s = rollout_timeout_s
        self.api = k8s_config.new_client_from_config(config_file=kubeconfig or None,
                                                     context=context or None)
        self.api.configuration.retries = 1  # fail fast: the platform reports, the user retries
        self.apps = k8s.AppsV1Api(self.api)
        self.core = k8s.CoreV1Api(self.api)
        self._unschedulable: dict[str, float] = {}  # rollout key -> first refused (monotonic)
        self.delivery = Delivery(self)

    # -- Target interface ----------------------------------------------------------------
    def deploy(self, rollout: Rollout, state: dict[str, Any], progress: Progress
               ) -> dict[str, Any]:
        objects = render(rollout, self.settings)
        try:
            with self._translate_errors():
                settled = self.delivery.settle(rollout, progress, stale=True)
                if settled is not None:  # handed over from a blue-green switch kept warm
                    return settled
                progress(f"server-side dry-run of {len(objects)} objects in "
                         f"{self.settings.namespace}")
                for obj in objects:
                    self._apply(obj, dry_run=True)
                progress("dry-run accepted; applying")
                for obj in objects:
                    self._apply(obj, dry_run=False)
                found = self._watch(rollout, progress)
                if rollout.parity:
                    found["parity"] = replay_sample(self.core, self._call, self.settings.namespace,
                                                    rollout, progress)
                return {k: v for k, v in found.items() if v is not None}
        except TargetError as exc:  # whatever it applied stays findable: logs, delete
            exc.state.update(name=rollout.service, namespace=self.settings.namespace)
            raise

    def adopt(self, rollout: Rollout, state: dict[str, Any], progress: Progress
              ) -> dict[str, Any]:
        """After a server restart: follow the rollout already in the cluster to its end."""
        with self._translate_errors():
            settled = self.delivery.settle(rollout, progress, stale=False)
            if settled is not None:
                return settled
            current = self._deployment(rollout.service)
            if current is None or (current.metadata.labels or {}).get(
                    "goldenpath.dev/release") != rollout.release_id:
                return self.deploy(rollout, state, progress)
            progress("following the rollout already in the cluster")
            return self._watch(rollout, progress)

    def health(self, state: dict[str, Any]) -> tuple[bool, str]:
        # Kubernetes supervises its own pods; only a Deployment deleted behind our back
        # needs the platform (an unreachable API server is not a reason to redeploy).
        name = state.get("name")
        if not name:
            return True, "nothing to supervise"
        try:
            present = self._deployment(name) is not None
        except (ApiException, urllib3.exceptions.HTTPError):
            return True, "API server unreachable; the cluster keeps serving"
        return present, "present" if present else "the Deployment was deleted"

    def logs(self, state: dict[str, Any], tail: int) -> list[str]:
        """The last lines of every container of the service's pods (the init container's
        too: a bundle that failed its digest or pin check says why there)."""
        name = state.get("name")
        if not name:
            return []
        lines: list[str] = []
        with self._translate_errors():
            pods = self.core.list_namespaced_pod(
                self.settings.namespace, label_selector=f"app.kubernetes.io/name={name}",
                _request_timeout=10).items
            for pod in map(cast_pod, pods):
                containers = [c.name for c in (pod.spec.init_containers or [])] + \
                    [c.name for c in pod.spec.containers]
                for container in containers:
                    where = f"[{pod.metadata.name}/{container}]"
                    if not_started(pod, container):
                        lines.append(f"{where} not started: {why_waiting(pod)}")
                        continue
                    try:
                        text = self.core.read_namespaced_pod_log(
                            pod.metadata.name, self.settings.namespace, container=container,
                            tail_lines=tail, _request_timeout=10)
                        lines += [f"{where} {line}" for line in (text or "").splitlines()]
                    except ApiException as exc:
                        lines.append(f"{where} no logs yet: {api_message(exc)}")
        return lines[-tail:]

    def stop(self, state: dict[str, Any]) -> None:
        """Delete every object the template made for this service, found by its labels
        (whatever state its rollouts ended in); nothing else."""
        name = state.get("name")
        if not name:
            return
        selector = f"app.kubernetes.io/name={name},app.kubernetes.io/managed-by={MANAGED_BY}"
        self.delivery.forget(name)
        with self._translate_errors():
            for api_version, kind in reversed(KINDS):
                collection = self._path(api_version, kind, "").rstrip("/")
                found = self._call("GET", collection, query=[("labelSelector", selector)],
                                   missing_ok=True) or {}
                for item in found.get("items") or []:
                    self._call("DELETE", self._path(api_version, kind,
                                                    item["metadata"]["name"]),
                               missing_ok=True)

    def close(self) -> None:
        self.delivery.close()
        self.api.close()

    # -- progressive rollouts (_k8s_delivery.py) -------------------------------------------
    def start_candidate(self, rollout: Rollout, progress: Progress) -> dict[str, Any]:
        return self.delivery.start_candidate(rollout, progress)

    def split(self, key: str, state: dict[str, Any], candidate: dict[str, Any],
              weight: float, mirror: bool) -> float:
        return self.delivery.split(key, state, candidate, weight, mirror)

    def window(self, key: str) -> dict[str, Any]:
        return self.delivery.window(key)

    def answers(self, key: str, request_ids: list[str]) -> dict[str, dict[str, Any]] | None:
        """What each variant answered, by request id, where the router routes (outcomes)."""
        return self.delivery.answers(key, request_ids)

    def complete(self, rollout: Rollout, state: dict[str, Any], candidate: dict[str, Any],
                 keep_warm_s: float) -> dict[str, Any]:
        return self.delivery.complete(rollout, state, candidate, keep_warm_s)

    def abort(self, rollout: Rollout, state: dict[str, Any], candidate: dict[str, Any]
              ) -> None:
        self.delivery.abort(rollout, state, candidate)

    def inference_sources(self, state: dict[str, Any], release_id: str) -> dict[str, Source]:
        """The inference log of each running pod of the release (_inference_pull)."""
        return pod_sources(self.core, self._call, self.settings.namespace, release_id,
                           MODEL_PORT)

    def request_counters(self, state: dict[str, Any], release_id: str, scrape: Scrape,
                         port: int) -> dict[str, Counters]:
        """Each running pod's request counters on `port`, through the API server (SLOs)."""
        return pod_counters(self.api, self.core, self.settings.namespace, release_id, port,
                            scrape)

    # -- internals -----------------------------------------------------------------------
    def _watch(self, rollout: Rollout, progress: Progress, name: str = "", pods: str = ""
               ) -> dict[str, Any]:
        """Wait until the Deployment (`name`, default the service's) is Available with the
        new release, or say why not: from its pods (`pods`, a label selector; default the
        release's)."""
        deadline = time.monotonic() + self.rollout_timeout_s
        last = ""
        unreachable_since: float | None = None
        self._unschedulable.pop(rollout.key, None)
        while time.monotonic() < deadline:
            if self._stopping.is_set():
                raise RolloutInterrupted(rollout.key)
            try:
                dep = self._deployment(name or rollout.service)
                unreachable_since = None
            except urllib3.exceptions.HTTPError:
                # ride out a blip; an API server gone for longer ends the rollout
                unreachable_since = unreachable_since or time.monotonic()
                if time.monotonic() - unreachable_since > UNREACHABLE_GRACE_S:
                    raise
                time.sleep(1)
                continue
            if dep is None:
                raise TargetError(f"Deployment {name or rollout.service} disappeared "
                                  "during rollout")
            status, spec = dep.status, dep.spec
            want = spec.replicas or 0
            line = (f"{status.updated_replicas or 0}/{want} updated, "
                    f"{status.available_replicas or 0}/{want} available")
            if line != last:
                progress(line)
                last = line
            done = ((status.observed_generation or 0) >= dep.metadata.generation
                    and (status.updated_replicas or 0) == want
                    and (status.available_replicas or 0) == want
                    and (status.replicas or 0) == want)
            if done:
                return self._state(rollout)
            self._raise_if_stuck(rollout, dep, pods)
            time.sleep(0.5)
        reason = self._pod_problem(rollout, pods=pods) or "pods did not become available"
        raise TargetError(f"rollout of {rollout.service} timed out after "
                          f"{self.rollout_timeout_s:.0f}s: {reason}")

    def _raise_if_stuck(self, rollout: Rollout, dep: Any, pods: str = "") -> None:
        for cond in dep.status.conditions or []:
            if cond.type == "Progressing" and cond.reason == "ProgressDeadlineExceeded":
                problem = self._pod_problem(rollout, pods=pods) or cond.message
                raise TargetError(f"rollout stalled (ProgressDeadlineExceeded): {problem}")
        problem = self._pod_problem(rollout, fatal_only=True, pods=pods)
        if problem:
            raise TargetError(problem)

    def _pod_problem(self, rollout: Rollout, fatal_only: bool = False, pods: str = "") -> str:
        selector = pods or (f"goldenpath.dev/release={rollout.release_id},"
                            f"app.kubernetes.io/name={rollout.service}")
        found = self.core.list_namespaced_pod(self.settings.namespace, _request_timeout=10,
                                              label_selector=selector).items
        for pod in map(cast_pod, found):
            # An init container that failed (fetch-bundle: digest mismatch, a pin the image
            # lacks) fails the same way on every retry: report it at once, with its message.
            for status in pod.status.init_container_statuses or []:
                failed = failed_run(status)
                if failed is not None and not (fatal_only and retrying(status, failed)):
                    return (f"init container {status.name} failed (exit code "
                            f"{failed.exit_code}): {last_line(failed.message) or failed.reason}")
            for status in (pod.status.container_statuses or []) + \
                    (pod.status.init_container_statuses or []):
                waiting = status.state.waiting if status.state else None
                failed = failed_run(status)
                if fatal_only and failed is not None and retrying(status, failed):
                    continue
                if waiting and waiting.reason in _WAITING_FAILURES:
                    last = f"; last exit: {last_line(failed.message)}" if failed and \
                        failed.message else ""
                    return f"{waiting.reason}: {waiting.message or status.image}{last}"
            for cond in pod.status.conditions or []:
                if cond.type == "PodScheduled" and cond.status == "False" and \
                        cond.reason == "Unschedulable":
                    if not fatal_only or self._unschedulable_for(rollout) > \
                            self.unschedulable_grace_s:
                        return (f"unschedulable: {cond.message} (it asks for "
                                f"{requests_of(pod)}; ask for less, or for nodes that "
                                "have it)")
                    return ""
        self._unschedulable.pop(rollout.key, None)
        return ""

    def _unschedulable_for(self, rollout: Rollout) -> float:
        """For how long the scheduler has been refusing this rollout's pods."""
        now = time.monotonic()
        return now - self._unschedulable.setdefault(rollout.key, now)

    def _state(self, rollout: Rollout) -> dict[str, Any]:
        """The URL users outside the cluster can reach: the environment's public URL (an
        Ingress), else the API server's service proxy (their kubeconfig's credentials;
        goldenpath._kube adds them); cluster_url is the name inside the cluster."""
        ns, name = self.settings.namespace, rollout.service
        proxy = (f"{self.api.configuration.host.rstrip('/')}/api/v1/namespaces/{ns}/services/"
                 f"{name}:http/proxy")
        return {"name": name, "namespace": ns,
                "url": public_url_of(name, rollout.environment, self.settings) or proxy,
                "cluster_url": f"http://{name}.{ns}.svc.cluster.local"}

    def _deployment(self, name: str) -> Any:
        try:
            return self.apps.read_namespaced_deployment(name, self.settings.namespace,
                                                        _request_timeout=5)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def _apply(self, obj: dict[str, Any], dry_run: bool) -> None:
        path = self._path(obj["apiVersion"], obj["kind"], obj["metadata"]["name"])
        query = [("fieldManager", FIELD_MANAGER), ("force", "true")]
        if dry_run:
            query.append(("dryRun", "All"))
        try:
            self._call("PATCH", path, body=obj, query=query,
                       content_type="application/apply-patch+yaml")
        except ApiException as exc:
            message = api_message(exc).rstrip() + (  # a missing CRD or namespace
                f" (does the cluster serve {obj['apiVersion']} {obj['kind']}, and does "
                f"namespace {self.settings.namespace} exist?)" if exc.status == 404 else "")
            stage = "refused at dry-run" if dry_run else "refused"
            raise TargetError(f"{obj['kind']} {obj['metadata']['name']} {stage} by the "
                              f"cluster: {message}") from None

    def _call(self, method: str, path: str, body: Any = None,
              query: list[tuple[str, str]] | None = None, content_type: str = "",
              missing_ok: bool = False) -> Any:
        """One raw API call (the typed clients have no generic server-side apply)."""
        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        if body is not None and content_type != "application/json":
            # JSON is YAML: valid for application/apply-patch+yaml (the client would encode
            # a JSON body itself, and a second time if given text)
            body = json.dumps(body)
        request = self.api.param_serialize(method, path, query_params=query or [],
                                           header_params=headers, body=body,
                                           auth_settings=["BearerToken"])
        try:
            response = self.api.call_api(*request, _request_timeout=15)
            response.read()
            return self.api.response_deserialize(
                response, {"2XX": "object", "4XX": "object", "5XX": "object"}).data
        except ApiException as exc:
            if missing_ok and exc.status == 404:
                return None
            raise

    def _path(self, api_version: str, kind: str, name: str) -> str:
        prefix = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        return f"{prefix}/namespaces/{self.settings.namespace}/{_PLURALS[kind]}/{name}"

    def _translate_errors(self) -> Any:
        return ClusterErrors(self.api.configuration.host)
