"""Where the server reads a live model's inference log: each serving process keeps its own
(goldenpath_serving._inference_log) and answers `POST /inferences {"after", "limit"}`.

The server pulls instead of the runtime pushing, so serving processes hold no server URL and
no credential (they get nothing of the platform). Locally: the process's own port. On
Kubernetes: every running pod of the release through the API server's pod proxy (a Service
would answer from one pod at random). The answers come from processes that run model code:
bounded in size here, checked in shape by the caller.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import requests

from goldenpath_server.targets._pods import running_pods

# an answer holds at most `limit` records; this bounds what one of them may weigh
MAX_ANSWER_BYTES = 32 << 20

Source = Callable[[dict[str, Any]], Any]


class PullFailed(Exception):
    """A serving process did not answer its log (it may be starting or gone)."""


def http_source(url: str, timeout: float = 10.0) -> Source:
    """The log of the process serving at `url` (the local target: its own port)."""

    def ask(body: dict[str, Any]) -> Any:
        try:
            with requests.post(f"{url.rstrip('/')}/inferences", json=body, timeout=timeout,
                               stream=True) as answer:
                answer.raise_for_status()
                data = answer.raw.read(MAX_ANSWER_BYTES + 1, decode_content=True)
        except requests.RequestException as exc:
            raise PullFailed(str(exc)) from None
        if len(data) > MAX_ANSWER_BYTES:
            raise PullFailed(f"the answer is over {MAX_ANSWER_BYTES >> 20} MiB")
        try:
            return json.loads(data)
        except ValueError:
            raise PullFailed("the answer is not JSON") from None

    return ask


def pod_sources(core: Any, call: Callable[..., Any], namespace: str, release_id: str,
                port: int) -> dict[str, Source]:
    """One source per running pod of `release_id`, reached through the API server."""
    sources: dict[str, Source] = {}
    for pod in running_pods(core, namespace, release_id):
        path = f"/api/v1/namespaces/{namespace}/pods/{pod.metadata.name}:{port}/proxy/inferences"

        def ask(body: dict[str, Any], path: str = path) -> Any:
            try:
                return call("POST", path, body=body, content_type="application/json")
            except Exception as exc:  # the API server's or the pod's refusal, alike
                raise PullFailed(f"{type(exc).__name__}: {str(exc)[:200]}") from None

        sources[pod.metadata.name] = ask
    return sources
