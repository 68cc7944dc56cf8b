"""The Kubernetes target: server-side dry-run of the whole rendered set, then server-side
apply (one field manager), then a real rollout watch until Available or a clear reason.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from goldenpath_server.targets._base import Progress, Rollout, RolloutInterrupted, TargetError
from goldenpath_server.targets._template import KINDS, TemplateSettings, render

FIELD_MANAGER = "goldenpath"
UNREACHABLE_GRACE_S = 5.0
_PLURALS = {"ServiceAccount": "serviceaccounts", "Service": "services",
            "Deployment": "deployments", "PodDisruptionBudget": "poddisruptionbudgets",
            "HorizontalPodAutoscaler": "horizontalpodautoscalers",
            "NetworkPolicy": "networkpolicies"}
_WAITING_FAILURES = ("ImagePullBackOff", "ErrImagePull", "CrashLoopBackOff",
                     "CreateContainerConfigError", "InvalidImageName")


class KubernetesTarget:
    """Delivers releases into one namespace of one cluster context."""

    name = "kubernetes"

    def __init__(self, settings: TemplateSettings, kubeconfig: str = "", context: str = "",
                 rollout_timeout_s: float = 180.0,
                 stopping: threading.Event | None = None) -> None:
        self.settings = settings
        self._stopping = stopping or threading.Event()
        self.rollout_timeout_s = rollout_timeout_s
        self.api = k8s_config.new_client_from_config(config_file=kubeconfig or None,
                                                     context=context or None)
        self.api.configuration.retries = 1  # fail fast: the platform reports, the user retries
        self.apps = k8s.AppsV1Api(self.api)
        self.core = k8s.CoreV1Api(self.api)

    # -- Target interface ----------------------------------------------------------------
    def deploy(self, rollout: Rollout, state: dict[str, Any], progress: Progress
               ) -> dict[str, Any]:
        objects = render(rollout, self.settings)
        with self._translate_errors():
            progress(f"server-side dry-run of {len(objects)} objects in "
                     f"{self.settings.namespace}")
            for obj in objects:
                self._apply(obj, dry_run=True)
            progress("dry-run accepted; applying")
            for obj in objects:
                self._apply(obj, dry_run=False)
            return self._watch(rollout, progress)

    def adopt(self, rollout: Rollout, state: dict[str, Any], progress: Progress
              ) -> dict[str, Any]:
        """After a server restart: follow the rollout already in the cluster to its end."""
        with self._translate_errors():
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
        name = state.get("name")
        if not name:
            return []
        lines: list[str] = []
        with self._translate_errors():
            pods = self.core.list_namespaced_pod(
                self.settings.namespace, label_selector=f"app.kubernetes.io/name={name}",
                _request_timeout=10).items
            for pod in pods:
                try:
                    text = self.core.read_namespaced_pod_log(
                        pod.metadata.name, self.settings.namespace, tail_lines=tail,
                        _request_timeout=10)
                    lines += [f"[{pod.metadata.name}] {line}" for line in text.splitlines()]
                except ApiException as exc:
                    lines.append(f"[{pod.metadata.name}] no logs: {exc.reason}")
        return lines[-tail:]

    def stop(self, state: dict[str, Any]) -> None:
        """Delete what the template created for this service, nothing else."""
        name = state.get("name")
        if not name:
            return
        with self._translate_errors():
            for api_version, kind in reversed(KINDS):
                path = self._path(api_version, kind, name)
                existing = self._call("GET", path, missing_ok=True)
                labels = (existing or {}).get("metadata", {}).get("labels", {})
                if labels.get("app.kubernetes.io/managed-by") == "goldenpath":
                    self._call("DELETE", path, missing_ok=True)

    def close(self) -> None:
        self.api.close()

    # -- internals -----------------------------------------------------------------------
    def _watch(self, rollout: Rollout, progress: Progress) -> dict[str, Any]:
        """Wait until the Deployment is Available with the new release, or say why not."""
        deadline = time.monotonic() + self.rollout_timeout_s
        last = ""
        unreachable_since: float | None = None
        while time.monotonic() < deadline:
            if self._stopping.is_set():
                raise RolloutInterrupted(rollout.key)
            try:
                dep = self._deployment(rollout.service)
                unreachable_since = None
            except urllib3.exceptions.HTTPError:
                # ride out a blip; an API server gone for longer ends the rollout
                unreachable_since = unreachable_since or time.monotonic()
                if time.monotonic() - unreachable_since > UNREACHABLE_GRACE_S:
                    raise
                time.sleep(1)
                continue
            if dep is None:
                raise TargetError(f"Deployment {rollout.service} disappeared during rollout")
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
            self._raise_if_stuck(rollout, dep)
            time.sleep(0.5)
        reason = self._pod_problem(rollout) or "pods did not become available"
        raise TargetError(f"rollout of {rollout.service} timed out after "
                          f"{self.rollout_timeout_s:.0f}s: {reason}")

    def _raise_if_stuck(self, rollout: Rollout, dep: Any) -> None:
        for cond in dep.status.conditions or []:
            if cond.type == "Progressing" and cond.reason == "ProgressDeadlineExceeded":
                problem = self._pod_problem(rollout) or cond.message
                raise TargetError(f"rollout stalled (ProgressDeadlineExceeded): {problem}")
        problem = self._pod_problem(rollout, fatal_only=True)
        if problem:
            raise TargetError(problem)

    def _pod_problem(self, rollout: Rollout, fatal_only: bool = False) -> str:
        pods = self.core.list_namespaced_pod(
            self.settings.namespace, _request_timeout=10,
            label_selector=f"goldenpath.dev/release={rollout.release_id},"
                           f"app.kubernetes.io/name={rollout.service}").items
        for pod in pods:
            for status in (pod.status.container_statuses or []) + \
                    (pod.status.init_container_statuses or []):
                waiting = status.state.waiting if status.state else None
                if waiting and waiting.reason in _WAITING_FAILURES:
                    return f"{waiting.reason}: {waiting.message or status.image}"
            for cond in pod.status.conditions or []:
                if cond.type == "PodScheduled" and cond.status == "False" and \
                        cond.reason == "Unschedulable" and not fatal_only:
                    return f"unschedulable: {cond.message}"
        return ""

    def _state(self, rollout: Rollout) -> dict[str, Any]:
        ns = self.settings.namespace
        return {"name": rollout.service, "namespace": ns,
                "url": f"http://{rollout.service}.{ns}.svc.cluster.local"}

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
            message = _api_message(exc)
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
        if body is not None:
            body = json.dumps(body)  # JSON is YAML: valid for application/apply-patch+yaml
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
        return _ClusterErrors(self.api.configuration.host)


class _ClusterErrors:
    """Turns connection failures and unexpected API answers into TargetError with a reason."""

    def __init__(self, host: str) -> None:
        self.host = host

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: Any, _tb: Any) -> bool:
        if isinstance(exc, urllib3.exceptions.HTTPError):
            raise TargetError(f"the Kubernetes API server at {self.host} is unreachable "
                              f"({type(exc).__name__}); the rollout stopped. Retry the deploy "
                              "once the cluster is back.") from None
        if isinstance(exc, ApiException):
            raise TargetError(f"the Kubernetes API answered {exc.status}: {_api_message(exc)}"
                              ) from None
        return False


def _api_message(exc: ApiException) -> str:
    try:
        return str(json.loads(exc.body or "{}").get("message") or exc.reason)
    except ValueError:
        return str(exc.body or exc.reason)
