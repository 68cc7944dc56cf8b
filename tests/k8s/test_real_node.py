"""The Kubernetes path serving real predictions on the real node: the runtime image built from
this repo, the init container fetching and verifying the bundle by digest, answers reached
from outside the cluster through the API server's service proxy, equal to the notebook's.
(Delivery and monitoring on the real node: test_real_node_delivery.py.)"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from kubernetes import client as k8s

import goldenpath
from goldenpath import _kube, errors
from goldenpath._client import Client
from tests._cluster import wait_for
from tests.k8s._real_node import LATE, LATE_PORT, REAL, RESOURCES, TAMPERED, Relay, pods
from tests.k8s._real_node import iris as _iris


def _panel_proxy(server_url: str) -> Any:
    """The JupyterLab extension's proxy core (installed into the venv only later, by
    jupyter_ext/scripts/test.sh: imported from its source folder)."""
    source = str(Path(__file__).resolve().parents[2] / "jupyter_ext")
    if source not in sys.path:
        sys.path.append(source)
    from goldenpath_jupyter._config import GoldenpathJupyter
    from goldenpath_jupyter._proxy import PromotionServer

    return PromotionServer(GoldenpathJupyter(server=server_url))


def test_promoted_model_answers_on_the_real_node_like_the_notebook(
        real_server: Any, kube_cluster: Any, kube_api: k8s.ApiClient,
        undeploy: list[tuple[str, str]]) -> None:
    from sklearn.linear_model import LogisticRegression

    X, y = _iris()
    model = LogisticRegression(max_iter=300).fit(X, y)
    d = goldenpath.deploy(model, name="iris-real", sample=X[:5], env="local", team="risk",
                          resources=RESOURCES, quiet=True)
    undeploy += [("iris-real", "local"), ("iris-real", REAL)]
    live = d.promote(REAL)

    status = live.status()
    assert status["status"] == "live" and status["target"] == "kubernetes"
    assert status["digest"] == d.status()["digest"]  # the same bytes as dev
    (pod,) = pods(kube_api, "gp-real", status["release_id"])
    assert pod.spec.node_name == "gp-node" and pod.status.phase == "Running"
    assert pod.spec.containers[0].image == kube_cluster.images["runtime"]
    (fetched,) = pod.status.init_container_statuses
    assert fetched.state.terminated.exit_code == 0  # fetched, digest verified, pins checked
    # the shared runtime image predicts like the notebook: the server replayed the sample
    # against the pod through the API server (verified evidence for this environment)
    parity = live.evidence()["parity"]["environments"][REAL]
    assert parity["passed"] and parity["rows"] == 5 and parity["pods"] == 1
    assert parity["target"] == "kubernetes"
    # from outside the cluster, through the API server, with the user's kubeconfig
    assert _kube.is_service_proxy(live.url)
    assert live.predict(X[:25]) == model.predict(X[:25]).tolist()
    assert "BentoServer" in live.logs()  # the API server reads the kubelet's logs
    # the panel's Try-it: the Jupyter server extension's proxy, same route
    panel = _panel_proxy(real_server.url)
    answer = asyncio.run(panel.predict("iris-real", REAL, json.dumps(
        {"inputs": X[:5].tolist()}).encode()))
    assert answer.status == 200, answer.body
    assert answer.json()["predictions"] == model.predict(X[:5]).tolist()
    # the server pulls the pod's inference log through the API server's pod proxy (the
    # runtime holds no credential and no server URL): both requests above are in it
    logged = wait_for("the pod's inference log on the server",
                      lambda: (n := live.drift().logged_requests) >= 2 and n)
    assert live.drift().status in ("waiting", "ok") and logged >= 2


def test_a_bundle_changed_in_transit_fails_the_rollout_with_the_reason(
        real_server: Any, undeploy: list[tuple[str, str]]) -> None:
    from sklearn.tree import DecisionTreeClassifier

    X, y = _iris()
    d = goldenpath.deploy(DecisionTreeClassifier(max_depth=2).fit(X, y), name="iris-tampered",
                          sample=X[:5], env="local", team="risk", resources=RESOURCES,
                          quiet=True)
    undeploy += [("iris-tampered", "local"), ("iris-tampered", TAMPERED)]
    with pytest.raises(errors.DeploymentFailed) as failed:
        d.promote(TAMPERED)
    message = failed.value.message
    assert "init container fetch-bundle failed" in message
    assert "bundle digest mismatch" in message and d.status()["digest"] in message


def test_a_download_that_fails_at_first_is_retried_and_goes_live(
        real_server: Any, kube_cluster: Any, kube_api: k8s.ApiClient,
        undeploy: list[tuple[str, str]]) -> None:
    """The promotion server away for a moment (a restart) does not fail the rollout: fetch
    says the download may pass later, and the kubelet's next try gets the bundle."""
    from sklearn.linear_model import LogisticRegression

    X, y = _iris()
    model = LogisticRegression(max_iter=300).fit(X, y)
    d = goldenpath.deploy(model, name="iris-late", sample=X[:5], env="local", team="risk",
                          resources=RESOURCES, quiet=True)
    undeploy += [("iris-late", "local"), ("iris-late", LATE)]
    c = Client()
    c.deploy(d.release_id, LATE)

    def failed_once() -> bool:
        return any(s.state.terminated is not None and s.state.terminated.exit_code == 75
                   or (s.last_state.terminated is not None and
                       s.last_state.terminated.exit_code == 75)
                   for p in pods(kube_api, "gp-late", d.release_id)
                   for s in p.status.init_container_statuses or [])

    wait_for("the first download to fail", failed_once, timeout=90)
    relay = ThreadingHTTPServer((kube_cluster.node_gateway, LATE_PORT), Relay)
    threading.Thread(target=relay.serve_forever, daemon=True).start()
    try:
        assert c.wait("iris-late", LATE, timeout=150).status == "live"
        assert goldenpath.get("iris-late", env=LATE).predict(X[:5]) == \
            model.predict(X[:5]).tolist()
    finally:
        relay.shutdown()
        relay.server_close()


def test_a_pin_the_image_lacks_fails_the_rollout_naming_both_versions(
        real_server: Any, undeploy: list[tuple[str, str]]) -> None:
    import torch

    X, _ = _iris()
    net = torch.nn.Sequential(torch.nn.Linear(4, 3))
    undeploy.append(("torch-real", REAL))
    with pytest.raises(errors.DeploymentFailed) as failed:
        goldenpath.deploy(net, name="torch-real", sample=torch.as_tensor(X[:5],
                                                                      dtype=torch.float32),
                          env=REAL,
                          team="vision", resources=RESOURCES, quiet=True)
    message = failed.value.message
    assert "does not have the versions the bundle pins" in message
    assert f"torch {torch.__version__.split('+')[0]} (the image has none)" in message


def test_rollback_puts_the_previous_release_back_and_it_answers(
        real_server: Any, undeploy: list[tuple[str, str]]) -> None:
    from sklearn.dummy import DummyClassifier
    from sklearn.linear_model import LogisticRegression

    X, y = _iris()
    first = LogisticRegression(max_iter=300).fit(X, y)
    second = DummyClassifier(strategy="constant", constant=2).fit(X, y)
    rows = X[::10]
    assert first.predict(rows).tolist() != second.predict(rows).tolist()
    undeploy.append(("flip", REAL))
    v1 = goldenpath.deploy(first, name="flip", sample=X[:5], env=REAL, team="risk",
                           resources=RESOURCES, quiet=True)
    assert v1.predict(rows) == first.predict(rows).tolist()
    v2 = goldenpath.deploy(second, name="flip", sample=X[:5], env=REAL, team="risk",
                           resources=RESOURCES, quiet=True)
    assert v2.predict(rows) == second.predict(rows).tolist()

    back = goldenpath.rollback("flip", env=REAL)
    assert back.release_id == v1.release_id
    assert back.predict(rows) == first.predict(rows).tolist()


def test_app_release_of_an_image_built_here_answers_through_the_same_template(
        real_server: Any, kube_cluster: Any, undeploy: list[tuple[str, str]]) -> None:
    undeploy.append(("hello-real", REAL))
    released = subprocess.run(
        [sys.executable, "-m", "goldenpath", "release", "app", "--name", "hello-real",
         "--image", kube_cluster.images["app"], "--port", "8080", "--team", "shop",
         "--env", REAL], capture_output=True, text=True, timeout=300,
        env={**os.environ, "GOLDENPATH_SERVER": real_server.url})
    assert released.returncode == 0, released.stderr
    url = Client().status("hello-real", REAL).url
    route = _kube.route(url)
    assert route is not None
    answer = requests.get(f"{url}/hello", timeout=30, **route.requests_options())
    assert answer.status_code == 200, answer.text
    assert answer.json()["app"] == "goldenpath-example-app"
    assert answer.json()["path"] == "/hello"
    # its SLOs: the server reads the counters the app exports (monitoring.app_metrics)
    # from its pod through the API server, as a model's runtime counters
    gauge = ('goldenpath_slo_burn_rate{environment="real",service="hello-real",'
             'slo="availability",window="5m"} 0.0')

    def burning() -> bool:
        requests.get(f"{url}/hello", timeout=30, **route.requests_options())
        return gauge in requests.get(f"{real_server.url}/metrics", timeout=10).text

    wait_for("the app's burn-rate gauge from its own counters", burning, timeout=60)


def test_pods_on_the_real_node_reach_only_the_node_network(
        real_server: Any, kube_cluster: Any, kube_api: k8s.ApiClient) -> None:
    """Pods get their bridge's /24 and no default route: nothing they send leaves the machine."""
    core = k8s.CoreV1Api(kube_api)
    pod = {"metadata": {"name": "net-probe"}, "spec": {
        "automountServiceAccountToken": False,
        "securityContext": {"runAsNonRoot": True, "runAsUser": 10001,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{"name": "main", "image": kube_cluster.images["app"],
                        "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}},
                        "securityContext": {"allowPrivilegeEscalation": False,
                                            "readOnlyRootFilesystem": True,
                                            "capabilities": {"drop": ["ALL"]}}}]}}
    core.create_namespaced_pod("gp-real", pod)
    try:
        wait_for("the probe pod Running", lambda: core.read_namespaced_pod(
            "net-probe", "gp-real").status.phase == "Running")
        probe = ("import errno, socket\n"
                 "routes = open('/proc/net/route').read().split('\\n')[1:]\n"
                 "print('default' if any(r.split()[1:2] == ['00000000'] for r in routes if r)"
                 " else 'no-default')\n"
                 "s = socket.socket(); s.settimeout(3)\n"
                 f"print(s.connect_ex(('{kube_cluster.node_gateway}', "
                 f"{real_server.port})) == 0, s.close())\n"
                 "s = socket.socket(); s.settimeout(3)\n"
                 "print(s.connect_ex(('203.0.113.1', 80)) == errno.ENETUNREACH)\n")
        out = subprocess.run([str(kube_cluster.bin_dir / "kubectl"), "--kubeconfig",
                              str(kube_cluster.kubeconfig), "-n", "gp-real", "exec", "net-probe",
                              "--", "python3", "-c", probe], capture_output=True, text=True,
                             timeout=60)
        assert out.returncode == 0, out.stderr
        assert out.stdout.split("\n")[:3] == ["no-default", "True None", "True"], out.stdout
    finally:
        core.delete_namespaced_pod("net-probe", "gp-real", grace_period_seconds=0)


def _token_kubeconfig(path: Path, kubeconfig: Path, token: str) -> Path:
    """A kubeconfig for the same API server whose user is a ServiceAccount token."""
    admin = yaml.safe_load(kubeconfig.read_text())
    cluster = admin["clusters"][0]
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "clusters": [cluster],
        "users": [{"name": "viewer", "user": {"token": token}}],
        "contexts": [{"name": "viewer", "context": {"cluster": cluster["name"],
                                                    "user": "viewer"}}],
        "current-context": "viewer"}))
    return path


def test_predict_needs_a_kubeconfig_allowed_to_proxy_to_the_service(
        real_server: Any, kubeconfig: Path, kube_api: k8s.ApiClient, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, undeploy: list[tuple[str, str]]) -> None:
    from sklearn.linear_model import LogisticRegression

    X, y = _iris()
    model = LogisticRegression(max_iter=300).fit(X, y)
    undeploy.append(("iris-rbac", REAL))
    d = goldenpath.deploy(model, name="iris-rbac", sample=X[:5], env=REAL, team="risk",
                          resources=RESOURCES, quiet=True)
    core, rbac = k8s.CoreV1Api(kube_api), k8s.RbacAuthorizationV1Api(kube_api)
    core.create_namespaced_service_account("gp-real", {"metadata": {"name": "analyst"}})
    token = core.create_namespaced_service_account_token("analyst", "gp-real", {
        "spec": {"expirationSeconds": 3600}}).status.token
    monkeypatch.setenv("KUBECONFIG", str(_token_kubeconfig(tmp_path / "kubeconfig",
                                                           kubeconfig, token)))
    with pytest.raises(errors.PermissionDenied) as denied:
        d.predict(X[:3])
    assert "services/proxy" in denied.value.hint

    # the Role docs/kubernetes.md gives a notebook user
    rbac.create_namespaced_role("gp-real", {
        "metadata": {"name": "goldenpath-predict"},
        "rules": [{"apiGroups": [""], "resources": ["services/proxy"],
                   "verbs": ["get", "create"]}]})
    rbac.create_namespaced_role_binding("gp-real", {
        "metadata": {"name": "analyst-predict"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                    "name": "goldenpath-predict"},
        "subjects": [{"kind": "ServiceAccount", "name": "analyst", "namespace": "gp-real"}]})
    assert wait_for("the Role in force", lambda: _allowed(d, X[:3]), timeout=30) == \
        model.predict(X[:3]).tolist()

    elsewhere = tmp_path / "elsewhere"  # a kubeconfig for another cluster: says so
    elsewhere.write_text(yaml.safe_dump({"clusters": [{"name": "c", "cluster": {
        "server": "https://127.0.0.1:1"}}], "contexts": [], "users": []}))
    monkeypatch.setenv("KUBECONFIG", str(elsewhere))
    with pytest.raises(errors.ConfigurationError) as unknown:
        d.predict(X[:3])
    assert "no context in your kubeconfig" in unknown.value.message


def _allowed(d: Any, rows: Any) -> Any:
    try:
        return d.predict(rows)
    except errors.PermissionDenied:
        return None
