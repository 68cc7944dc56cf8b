"""The Kubernetes path serving real predictions on the real node: the runtime image built from
this repo, the init container fetching and verifying the bundle by digest, answers reached
from outside the cluster through the API server's service proxy, equal to the notebook's."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
import yaml
from kubernetes import client as k8s

import goldenpath
from goldenpath import _config, _kube, errors
from goldenpath._client import Client
from tests._cluster import start_gateway_server, wait_for
from tests._servers import free_port

REAL = "real"  # an environment on the real node
TAMPERED = "real-tampered"  # the same, but bundles pass a proxy that changes one byte
LATE = "real-late"  # the same, but bundles come from a relay that starts late
LATE_PORT = free_port()
GUARDED = "real-guarded"  # the same, with SLOs whose hour lasts 5 s, and rollback on a page
RESOURCES = {"cpu": 0.5, "memory_gb": 1}


class _Relay(BaseHTTPRequestHandler):
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


class _Tamper(_Relay):
    flip = True


@pytest.fixture(scope="module")
def real_server(kube_cluster: Any, cluster_policies: None, kubeconfig: Path,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    gateway, runtime = kube_cluster.node_gateway, kube_cluster.images["runtime"]
    tamper = ThreadingHTTPServer((gateway, 0), _Tamper)
    threading.Thread(target=tamper.serve_forever, daemon=True).start()
    env = {"target": "kubernetes", "runtime_image": runtime, "replicas": 1,
           # canaries judged quickly: the pods' own counters per variant (_pod_metrics)
           "delivery": {"canary": {"steps": [50, 100], "hold_s": 3, "min_requests": 5}}}
    tmp = tmp_path_factory.mktemp("real-node-server")
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
                                 "on_breach": "rollback", "slo_window_scale": 0.00139}}}}))
    server = start_gateway_server(kube_cluster, tmp, {"GOLDENPATH_CONFIG": str(config),
                                                      "GOLDENPATH_ROLLOUT_TIMEOUT_S": "150",
                                                      "GOLDENPATH_MONITOR_INTERVAL_S": "1"})
    _Relay.upstream = server.url
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


_NAMESPACES = {REAL: "gp-real", TAMPERED: "gp-tampered", LATE: "gp-late",
               GUARDED: "gp-guarded"}


@pytest.fixture
def undeploy(real_server: Any, kube_api: k8s.ApiClient) -> Iterator[list[tuple[str, str]]]:
    """Services to remove afterwards, and their pods gone before the next test: the real node
    has the machine's CPUs for all the tests' pods, and a terminating pod still holds its
    requests (a test that starts while they are held waits Pending for nothing)."""
    services: list[tuple[str, str]] = []
    yield services
    core = k8s.CoreV1Api(kube_api)
    for name, env in services:
        try:
            Client().request("DELETE", f"/api/v1/services/{name}/environments/{env}")
        except errors.NotFound:  # never got that far
            pass
    for name, env in services:
        if env not in _NAMESPACES:
            continue
        namespace, selector = _NAMESPACES[env], f"app.kubernetes.io/name={name}"

        def pods(namespace: str = namespace, selector: str = selector) -> list[Any]:
            return list(core.list_namespaced_pod(namespace, label_selector=selector).items)

        try:
            wait_for(f"the pods of {name} gone", lambda: not pods(), timeout=90)
        except AssertionError:  # stuck terminating: take them off the node now
            for pod in pods():
                core.delete_namespaced_pod(pod.metadata.name, namespace, grace_period_seconds=0)


def _panel_proxy(server_url: str) -> Any:
    """The JupyterLab extension's proxy core (installed into the venv only later, by
    jupyter_ext/scripts/test.sh: imported from its source folder)."""
    source = str(Path(__file__).resolve().parents[2] / "jupyter_ext")
    if source not in sys.path:
        sys.path.append(source)
    from goldenpath_jupyter._config import GoldenpathJupyter
    from goldenpath_jupyter._proxy import PromotionServer

    return PromotionServer(GoldenpathJupyter(server=server_url))


def _iris() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    return X, y


def _pods(kube_api: k8s.ApiClient, namespace: str, release: str) -> list[Any]:
    return k8s.CoreV1Api(kube_api).list_namespaced_pod(
        namespace, label_selector=f"goldenpath.dev/release={release}").items


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
    (pod,) = _pods(kube_api, "gp-real", status["release_id"])
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


def test_a_canary_on_the_real_node_is_judged_on_each_variants_own_counters(
        real_server: Any, undeploy: list[tuple[str, str]]) -> None:
    """Without a mesh the cluster counts no requests per variant: the server reads each
    pod's runtime counters through the API server, so the step passes on measurements of
    both variants (not on a person) and the candidate takes over."""
    from sklearn.linear_model import LogisticRegression

    X, y = _iris()
    undeploy += [("iris-canary", "local"), ("iris-canary", REAL)]
    first = goldenpath.deploy(LogisticRegression(max_iter=300).fit(X, y), name="iris-canary",
                              sample=X[:5], env=REAL, team="risk", resources=RESOURCES,
                              quiet=True)
    second = LogisticRegression(max_iter=300, C=0.5).fit(X, y)
    stop = threading.Event()

    def traffic() -> None:  # through the API server's service proxy: a pod per request
        while not stop.is_set():
            try:
                first.predict(X[:3])
            except errors.GoldenpathError:
                pass

    sender = threading.Thread(target=traffic, daemon=True)
    sender.start()
    try:
        candidate = goldenpath.deploy(second, name="iris-canary", sample=X[:5], env="local",
                                      team="risk", resources=RESOURCES, quiet=True)
        promoted = candidate.promote(REAL, strategy="canary")
    finally:
        stop.set()
        sender.join(timeout=30)
    state = promoted.rollout().state
    assert state.state == "succeeded", state.message
    judged = state.windows[0]
    assert judged.verdict == "pass", judged.reasons
    assert judged.candidate.requests >= 5 and judged.stable.requests >= 1
    assert judged.candidate.latency_ms.p99 is not None
    assert promoted.predict(X[::10]) == second.predict(X[::10]).tolist()


class _Flaky:
    """Answers like `inner`, but fails (a 500) on rows whose first feature is negative."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.classes_ = inner, inner.classes_

    def predict(self, X: Any) -> Any:
        if (np.asarray(X)[:, 0] < 0).any():
            raise RuntimeError("a negative sepal length")
        return self.inner.predict(X)


def test_an_slo_page_on_the_real_node_comes_from_the_pods_counters_and_rolls_back(
        real_server: Any, undeploy: list[tuple[str, str]]) -> None:
    """The server reads the pod's runtime counters through the API server each tick (as it
    pulls the inference log): a release that fails half its requests burns its budget, pages
    (an event) and is rolled back to the release before it, as on the local target."""
    from sklearn.tree import DecisionTreeClassifier

    X, y = _iris()
    good = DecisionTreeClassifier(max_depth=2).fit(X, y)
    undeploy.append(("iris-guarded", GUARDED))
    v1 = goldenpath.deploy(good, name="iris-guarded", sample=X[:5], env=GUARDED, team="risk",
                           resources=RESOURCES, quiet=True)
    v2 = goldenpath.deploy(_Flaky(good), name="iris-guarded", sample=X[:5], env=GUARDED,
                           team="risk", resources=RESOURCES, quiet=True)
    bad = X[:1] * -1

    def paged() -> Any:
        for rows in (X[:1], bad):  # half the requests fail: a burn rate of 50
            try:
                v2.predict(rows)
            except errors.GoldenpathError:
                pass
        return [e for e in v2.events(limit=100) if e["type"] == "slo_alert"]

    alert = wait_for("an SLO page from the pod's counters", paged, timeout=120)[0]
    assert alert["data"]["slo"] == "availability" and alert["data"]["alert"] == "page"
    assert alert["data"]["burn_rates"]["availability:5m"] > 14.4
    back = wait_for("the rollback to v1", lambda: (s := goldenpath.get("iris-guarded", GUARDED)
                                                   .state).release_id == v1.release_id
                    and s.status == "live" and s, timeout=150)
    assert back.release_version == v1.version
    rolled = [e for e in v2.events(limit=100) if e["type"] == "rollback_started"]
    assert rolled and rolled[-1]["actor"] == "system"
    assert goldenpath.get("iris-guarded", GUARDED).predict(bad) == good.predict(bad).tolist()


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
                   for p in _pods(kube_api, "gp-late", d.release_id)
                   for s in p.status.init_container_statuses or [])

    wait_for("the first download to fail", failed_once, timeout=90)
    relay = ThreadingHTTPServer((kube_cluster.node_gateway, LATE_PORT), _Relay)
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


def test_an_app_canary_on_the_real_node_is_judged_on_the_counters_the_app_exports(
        real_server: Any, kube_cluster: Any, undeploy: list[tuple[str, str]]) -> None:
    """An app's variants are measured on the counters each of its pods exports
    (monitoring.app_metrics), as a model's on its runtime's: the step passes on both
    variants' measurements, not on a person."""
    image = kube_cluster.images["app"]
    undeploy.append(("hello-canary", REAL))
    first = goldenpath.release_app("hello-canary", image, port=8080, team="shop", env=REAL,
                                   resources=RESOURCES)
    route = _kube.route(first.url)
    assert route is not None
    stop = threading.Event()

    def traffic() -> None:  # through the API server's service proxy: a pod per request
        while not stop.is_set():
            try:
                requests.get(f"{first.url}/hello", timeout=10, **route.requests_options())
            except requests.RequestException:
                pass

    sender = threading.Thread(target=traffic, daemon=True)
    sender.start()
    try:
        second = goldenpath.release_app("hello-canary", image, port=8080, team="shop")
        c = Client()
        after = c.last_seq("hello-canary")
        c.deploy(second["id"], REAL, strategy="canary")
        c.wait("hello-canary", REAL, after=after, timeout=240, release_id=second["id"])
    finally:
        stop.set()
        sender.join(timeout=30)
    state = goldenpath.get("hello-canary", REAL).rollout().state
    assert state.state == "succeeded", state.message
    judged = state.windows[0]
    assert judged.verdict == "pass", judged.reasons
    assert judged.candidate.requests >= 5 and judged.stable.requests >= 1
    assert goldenpath.get("hello-canary", REAL).release_id == second["id"]


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
