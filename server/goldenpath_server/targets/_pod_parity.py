"""Parity on Kubernetes: the server replays the notebook's sample against each new pod of a
release through the API server's pod proxy and compares the answers (verified evidence)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import urllib3
from kubernetes.client.exceptions import ApiException

from goldenpath_server.targets._base import Progress, Rollout, TargetError
from goldenpath_server.targets._pods import api_message, running_pods
from goldenpath_server.targets._template import MODEL_PORT
from goldenpath_serving._parity import answer_differences, describe


def replay_sample(core: Any, call: Callable[..., Any], namespace: str, rollout: Rollout,
                  progress: Progress) -> dict[str, Any] | None:
    """Replay the notebook's sample against each new pod through the API server's pod
    proxy: the result (verified evidence), TargetError(parity_failed) on a mismatch, or
    None when no pod can be reached (KWOK's fake nodes run no container)."""
    assert rollout.parity is not None
    case, checked = rollout.parity, 0
    for pod in running_pods(core, namespace, rollout.release_id):
        path = f"/api/v1/namespaces/{namespace}/pods/{pod.metadata.name}:{MODEL_PORT}/proxy/predict"
        try:
            answer = call("POST", path, body={"inputs": case["inputs"]},
                          content_type="application/json")
        except (ApiException, urllib3.exceptions.HTTPError) as exc:
            reason = (f"{api_message(exc)}: {str(exc.body or '')[:200]}"
                      if isinstance(exc, ApiException) else str(exc))
            progress(f"parity not verified by the server on {pod.metadata.name}: the pod "
                     f"is not reachable through the API server ({reason[:200]})")
            continue
        diffs = answer_differences(case, answer)
        if diffs:
            raise TargetError(f"{pod.metadata.name}: {describe(diffs, len(case['outputs']))}",
                              code="parity_failed",
                              details={"differences": diffs[:10], "rows": len(diffs)})
        checked += 1
    if not checked:
        return None
    progress(f"the server replayed the notebook's {len(case['outputs'])} sample rows on "
             f"{checked} pod(s): same answers")
    return {"passed": True, "rows": len(case["outputs"]), "pods": checked,
            "at": datetime.now(UTC).isoformat()}
