"""Reading the Kubernetes API's answers: why a pod waits or failed, and API errors as
TargetError with a reason (the Kubernetes target's vocabulary, kept apart from its flow)."""

from __future__ import annotations

import json
from typing import Any, Literal

import urllib3
from kubernetes.client.exceptions import ApiException

from goldenpath_server.targets._base import TargetError

# goldenpath_serving.fetch's exit code for a download that failed, maybe only for now: the
# kubelet's retries get this many restarts (~70 s of back-off) before the rollout fails.
RETRYABLE_EXIT, RETRIES = 75, 3


class ClusterErrors:
    """Turns connection failures and unexpected API answers into TargetError with a reason."""

    def __init__(self, host: str) -> None:
        self.host = host

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: Any, _tb: Any) -> Literal[False]:
        if isinstance(exc, urllib3.exceptions.HTTPError):
            raise TargetError(f"the Kubernetes API server at {self.host} is unreachable "
                              f"({type(exc).__name__}); the rollout stopped. Retry the deploy "
                              "once the cluster is back.") from None
        if isinstance(exc, ApiException):
            raise TargetError(f"the Kubernetes API answered {exc.status}: {api_message(exc)}"
                              ) from None
        return False


def running_pods(core: Any, namespace: str, release_id: str) -> list[Any]:
    """The pods of `release_id` that run and are not going: the ones a pod proxy reaches."""
    pods = core.list_namespaced_pod(namespace, _request_timeout=10,
                                    label_selector=f"goldenpath.dev/release={release_id}").items
    return [pod for pod in pods if not pod.metadata.deletion_timestamp
            and (pod.status and pod.status.phase) == "Running"]


def not_started(pod: Any, container: str) -> bool:
    statuses = (pod.status.container_statuses or []) + (pod.status.init_container_statuses or [])
    status = next((st for st in statuses if st.name == container), None)
    if status is None:
        return True  # not even scheduled
    waiting = status.state is not None and status.state.waiting is not None
    ran_before = status.last_state is not None and status.last_state.terminated is not None
    return waiting and not ran_before


def why_waiting(pod: Any) -> str:
    """What a pod that has not started a container waits for (the scheduler's reason)."""
    for cond in pod.status.conditions or []:
        if cond.status == "False" and cond.message:
            return f"{cond.reason}: {cond.message}"
    return str(pod.status.phase)


def requests_of(pod: Any) -> str:
    asked = [f"{k} {v}" for c in pod.spec.containers
             for k, v in ((c.resources.requests or {}) if c.resources else {}).items()]
    return ", ".join(asked) or "nothing"


def failed_run(status: Any) -> Any:
    """The container's terminated state (now or last time) if it exited non-zero."""
    for state in (status.state, status.last_state):
        terminated = state.terminated if state else None
        if terminated is not None and terminated.exit_code:
            return terminated
    return None


def retrying(status: Any, failed: Any) -> bool:
    """A failure that may pass (a bundle download) while the kubelet still retries it."""
    return bool(failed.exit_code == RETRYABLE_EXIT and status.restart_count < RETRIES)


def last_line(message: str | None) -> str:
    lines = [line for line in (message or "").splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def api_message(exc: ApiException) -> str:
    try:
        return str(json.loads(exc.body or "{}").get("message") or exc.reason)
    except ValueError:
        return str(exc.body or exc.reason)
