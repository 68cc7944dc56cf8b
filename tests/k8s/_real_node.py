"""What the real-node tests share: their environments (namespaces on the real node, one
whose bundles are tampered with in transit, one whose bundle relay starts late, one guarded by
SLOs, one whose rollouts go through the goldenpath router), the promotion server that
delivers to them, and the clean-up between tests. The fixtures over these are in
conftest.py (real_server, undeploy)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import requests
import yaml
from kubernetes import client as k8s

import goldenpath
from goldenpath import _config, errors
from goldenpath._client import Client
from tests._cluster import start_gateway_server, wait_for
from tests._servers import free_port

REAL = "real"  # an environment on the real node
TAMPERED = "real-tampered"  # the same, but bundles pass a proxy that changes one byte
LATE = "real-late"  # the same, but bundles come from a relay that starts late
LATE_PORT = free_port()
GUARDED = "real-guarded"  # the same, with SLOs whose hour lasts 5 s, and rollback on a page
ROUTED = "real-routed"  # the same, its rollouts' requests split by the goldenpath router
RESOURCES = {"cpu": 0.5, "memory_gb": 1}


class Relay(BaseHTTPRequestHandler):
    """Relays GET to the promotion server (with `flip`: the body's last byte changed)."""

    upstream = ""
    flip = False

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        body = requests.get(self.upstream + self.path, timeout=30).content
        if self.flip:
            body = body[:-1] + bytes([body[-1] ^ 0x01])
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


class Tamper(Relay):
    flip = True


def serve_real_node(kube_cluster: Any, kubeconfig: Path, tmp: Path) -> Iterator[Any]:
    """The promotion server of the real-node tests, the SDK pointed at it, until closed."""
    gateway, runtime = kube_cluster.node_gateway, kube_cluster.images["runtime"]
    tamper = ThreadingHTTPServer((gateway, 0), Tamper)
    threading.Thread(target=tamper.serve_forever, daemon=True).start()
    env = {"target": "kubernetes", "runtime_image": runtime, "replicas": 1,
           # canaries judged quickly: the pods' own counters per variant (_pod_metrics); a
           # new pod on a busy 2-core machine answers slower for a while than a warm one
           "delivery": {"canary": {"steps": [50, 100], "hold_s": 3, "min_requests": 5},
                        "analysis": {"latency_slack_ms": 250}}}
    config = tmp / "goldenpath.yaml"
    config.write_text(yaml.safe_dump({"environments": {
        "local": {"target": "local"},
        REAL: {**env, "namespace": kube_cluster.namespace("gp-real", real_node=True)},
        TAMPERED: {**env, "namespace": kube_cluster.namespace("gp-tampered", real_node=True),
                   "bundle_base_url": f"http://{gateway}:{tamper.server_address[1]}"},
        LATE: {**env, "namespace": kube_cluster.namespace("gp-late", real_node=True),
               "bundle_base_url": f"http://{gateway}:{LATE_PORT}"},
        GUARDED: {**env, "namespace": kube_cluster.namespace("gp-guarded", real_node=True),
                  "monitoring": {"sample": 0, "slo": {"availability": 0.99},
                                 "on_breach": "rollback", "slo_window_scale": 0.00139}},
        ROUTED: {**env, "namespace": kube_cluster.namespace("gp-routed", real_node=True),
                 "traffic": "router",
                 "delivery": {"shadow": {"hold_s": 3, "min_requests": 10},
                              "champion_challenger": {"weight": 50, "hold_s": 3,
                                                      "min_requests": 10,
                                                      "decide_on": "accuracy",
                                                      "min_outcomes": 15},
                              "analysis": {"latency_slack_ms": 250, "min_paired": 10}}}}}))
    server = start_gateway_server(kube_cluster, tmp, {"GOLDENPATH_CONFIG": str(config),
                                                      "GOLDENPATH_ROLLOUT_TIMEOUT_S": "150",
                                                      "GOLDENPATH_MONITOR_INTERVAL_S": "1"})
    Relay.upstream = server.url
    previous, previous_kubeconfig = _config._current, os.environ.get("KUBECONFIG")
    goldenpath.configure(server=server.url)
    os.environ["KUBECONFIG"] = str(kubeconfig)  # the notebook user's kubeconfig (d.predict)
    yield server
    _config._current = previous
    if previous_kubeconfig is None:
        os.environ.pop("KUBECONFIG", None)
    else:
        os.environ["KUBECONFIG"] = previous_kubeconfig
    tamper.shutdown()
    server.stop()


NAMESPACES = {REAL: "gp-real", TAMPERED: "gp-tampered", LATE: "gp-late",
              GUARDED: "gp-guarded", ROUTED: "gp-routed"}


def remove_services(services: list[tuple[str, str]], kube_api: k8s.ApiClient) -> None:
    """Remove these (service, environment)s, and wait for their pods gone: the real node
    has the machine's CPUs for all the tests' pods, and a terminating pod still holds its
    requests (a test that starts while they are held waits Pending for nothing)."""
    core = k8s.CoreV1Api(kube_api)
    for name, env in services:
        try:
            Client().request("DELETE", f"/api/v1/services/{name}/environments/{env}")
        except errors.NotFound:  # never got that far
            pass
    for name, env in services:
        if env not in NAMESPACES:
            continue
        namespace, selector = NAMESPACES[env], f"app.kubernetes.io/name={name}"

        def pods(namespace: str = namespace, selector: str = selector) -> list[Any]:
            return list(core.list_namespaced_pod(namespace, label_selector=selector).items)

        try:
            wait_for(f"the pods of {name} gone", lambda: not pods(), timeout=90)
        except AssertionError:  # stuck terminating: take them off the node now
            for pod in pods():
                core.delete_namespaced_pod(pod.metadata.name, namespace, grace_period_seconds=0)


def iris() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    return X, y


def pods(kube_api: k8s.ApiClient, namespace: str, release: str) -> list[Any]:
    return k8s.CoreV1Api(kube_api).list_namespaced_pod(
        namespace, label_selector=f"goldenpath.dev/release={release}").items
