"""Models and apps through the same Kubernetes path, against the real control plane."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

import goldenpath
from goldenpath import _config, errors
from goldenpath._client import Client
from tests._cluster import wait_for
from tests._race import race

REPO = Path(__file__).resolve().parents[2]
RUNTIME = "registry.example/goldenpath-serving@sha256:" + "b" * 64
APP_V1 = "registry.example/shop/web@sha256:" + "1" * 64
APP_V2 = "registry.example/shop/web@sha256:" + "2" * 64
NAMESPACE = "gp-dev"
MANAGED = (("ServiceAccount", "read_namespaced_service_account", "core"),
           ("Service", "read_namespaced_service", "core"),
           ("Deployment", "read_namespaced_deployment", "apps"),
           ("PodDisruptionBudget", "read_namespaced_pod_disruption_budget", "policy"),
           ("HorizontalPodAutoscaler", "read_namespaced_horizontal_pod_autoscaler", "hpa"),
           ("NetworkPolicy", "read_namespaced_network_policy", "net"))


@pytest.fixture(scope="module")
def api(kubeconfig: Path) -> Iterator[k8s.ApiClient]:
    client = k8s_config.new_client_from_config(config_file=str(kubeconfig))
    yield client
    client.close()


@pytest.fixture(scope="module")
def apis(api: k8s.ApiClient) -> dict[str, Any]:
    return {"core": k8s.CoreV1Api(api), "apps": k8s.AppsV1Api(api),
            "policy": k8s.PolicyV1Api(api), "hpa": k8s.AutoscalingV2Api(api),
            "net": k8s.NetworkingV1Api(api)}


@pytest.fixture(scope="module")
def policed_namespace(kube_cluster: Any, cluster_policies: None) -> str:
    """gp-dev as the platform sets it up: admission policies and Pod Security `restricted`
    enforced; its pods run on the KWOK nodes."""
    return str(kube_cluster.namespace(NAMESPACE))


@pytest.fixture(scope="module")
def k8s_server(policed_namespace: str, kubeconfig: Path,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from tests._servers import start_server

    tmp = tmp_path_factory.mktemp("k8s-server")
    config = tmp / "goldenpath.yaml"
    config.write_text(yaml.safe_dump({"environments": {
        # dev waits for unschedulable pods until the rollout's timeout (an autoscaler's
        # cluster); quick, on the same namespace, fails them after the default 10 s
        "dev": {"target": "kubernetes", "namespace": policed_namespace,
                "runtime_image": RUNTIME, "replicas": 2, "unschedulable_grace_s": 600,
                "bundle_base_url": "http://goldenpath.goldenpath-system.svc:8731"},
        "quick": {"target": "kubernetes", "namespace": policed_namespace,
                  "runtime_image": RUNTIME, "replicas": 2,
                  "bundle_base_url": "http://goldenpath.goldenpath-system.svc:8731"},
        "local": {"target": "local"}}}))
    server = start_server(tmp, {"GOLDENPATH_CONFIG": str(config),
                                "GOLDENPATH_ROLLOUT_TIMEOUT_S": "60",
                                "KUBECONFIG": str(kubeconfig)})
    previous = _config._current
    goldenpath.configure(server=server.url)
    yield server
    _config._current = previous
    server.stop()


def _cli(server: Any, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "goldenpath", *args], capture_output=True,
                          text=True, timeout=300, env={**os.environ,
                                                      "GOLDENPATH_SERVER": server.url})


def _pods(apis: dict[str, Any], release: str) -> list[Any]:
    return apis["core"].list_namespaced_pod(
        NAMESPACE, label_selector=f"goldenpath.dev/release={release}").items


def test_model_reaches_running_pods_on_kwok_nodes(k8s_server: Any, apis: dict[str, Any],
                                                  iris: tuple) -> None:
    from sklearn.linear_model import LogisticRegression

    X, y = iris
    d = goldenpath.deploy(LogisticRegression(max_iter=300).fit(X, y), name="k8s-model",
                          sample=X[:5], env="dev", team="risk", quiet=True)
    status = d.status()
    assert status["status"] == "live" and status["target"] == "kubernetes"
    # reachable from outside the cluster: the API server's service proxy
    api_host = apis["core"].api_client.configuration.host
    assert d.url == f"{api_host}/api/v1/namespaces/{NAMESPACE}/services/k8s-model:http/proxy"
    pods = _pods(apis, d.release_id)
    assert len(pods) == 2
    assert all(p.status.phase == "Running" and p.spec.node_name.startswith("kwok-node")
               for p in pods)
    dep = apis["apps"].read_namespaced_deployment("k8s-model", NAMESPACE)
    labels = dep.metadata.labels
    assert labels["goldenpath.dev/track"] == "model" and labels["goldenpath.dev/team"] == "risk"
    assert labels["app.kubernetes.io/managed-by"] == "goldenpath"
    pod = dep.spec.template.spec
    main, fetch = pod.containers[0], pod.init_containers[0]
    assert main.image == RUNTIME and fetch.image == RUNTIME  # no per-model image build
    assert status["digest"] in fetch.args and "goldenpath_serving.fetch" in fetch.args
    assert main.security_context.read_only_root_filesystem is True
    assert main.security_context.allow_privilege_escalation is False
    assert pod.security_context.run_as_non_root is True
    assert main.resources.limits["memory"] and main.readiness_probe.http_get.path == "/readyz"
    for kind, reader, group in MANAGED:  # the whole template, one set for apps and models
        assert getattr(apis[group], reader)("k8s-model", NAMESPACE).metadata.labels[
            "goldenpath.dev/release"] == d.release_id, kind


def test_app_goes_through_the_same_path_and_rolls_back(k8s_server: Any,
                                                       apis: dict[str, Any]) -> None:
    first = _cli(k8s_server, "release", "app", "--name", "shop-web", "--image", APP_V1,
                 "--port", "8080", "--team", "shop", "--env", "dev")
    assert first.returncode == 0, first.stderr
    assert "live" in first.stdout
    second = _cli(k8s_server, "release", "app", "--name", "shop-web", "--image", APP_V2,
                  "--port", "8080", "--team", "shop", "--env", "dev")
    assert second.returncode == 0, second.stderr

    def image() -> str:
        dep = apis["apps"].read_namespaced_deployment("shop-web", NAMESPACE)
        return str(dep.spec.template.spec.containers[0].image)

    assert image() == APP_V2
    back = _cli(k8s_server, "rollback", "shop-web", "--env", "dev")
    assert back.returncode == 0, back.stderr
    assert image() == APP_V1
    dep = apis["apps"].read_namespaced_deployment("shop-web", NAMESPACE)
    assert dep.metadata.labels["goldenpath.dev/track"] == "app"
    assert dep.spec.template.spec.containers[0].readiness_probe.tcp_socket.port == 8080


def test_release_breaking_a_policy_is_denied_at_dry_run_and_nothing_changes(
        k8s_server: Any, apis: dict[str, Any]) -> None:
    c = Client()
    release = c.request("POST", "/api/v1/services/no-team/app-releases",
                        json={"image": APP_V1, "port": 8080, "team": ""})
    c.deploy(release["id"], "dev")
    with pytest.raises(errors.DeploymentFailed) as err:
        c.wait("no-team", "dev", timeout=60)
    message = err.value.message
    assert "refused at dry-run" in message
    assert "goldenpath-require-team-label" in message and "owning team" in message
    for kind, reader, group in MANAGED:  # not even the ServiceAccount was created
        with pytest.raises(ApiException) as missing:
            getattr(apis[group], reader)("no-team", NAMESPACE)
        assert missing.value.status == 404, kind


def test_unschedulable_gpu_request_fails_with_the_scheduler_reason(k8s_server: Any) -> None:
    c = Client()
    release = c.request("POST", "/api/v1/services/gpu-hungry/app-releases",
                        json={"image": APP_V1, "port": 8080, "team": "vision",
                              "resources": {"cpu": 1, "memory_gb": 2, "gpu": 2}})
    c.deploy(release["id"], "dev")
    with pytest.raises(errors.DeploymentFailed) as err:
        c.wait("gpu-hungry", "dev", timeout=120)
    assert "unschedulable" in err.value.message and "nvidia.com/gpu" in err.value.message


def test_undeploy_removes_what_the_template_created_and_nothing_else(
        k8s_server: Any, apis: dict[str, Any]) -> None:
    c = Client()
    release = c.request("POST", "/api/v1/services/tidy-web/app-releases",
                        json={"image": APP_V1, "port": 8080, "team": "shop"})
    c.deploy(release["id"], "dev")
    assert c.wait("tidy-web", "dev", timeout=90).status == "live"
    apis["core"].create_namespaced_config_map(NAMESPACE, k8s.V1ConfigMap(
        metadata=k8s.V1ObjectMeta(name="tidy-web"), data={"keep": "me"}))
    c.request("DELETE", "/api/v1/services/tidy-web/environments/dev")
    for kind, reader, group in MANAGED:
        with pytest.raises(ApiException) as missing:
            getattr(apis[group], reader)("tidy-web", NAMESPACE)
        assert missing.value.status == 404, kind
    assert apis["core"].read_namespaced_config_map("tidy-web", NAMESPACE).data == {"keep": "me"}


def test_two_promotions_at_once_one_wins(k8s_server: Any, apis: dict[str, Any]) -> None:
    c = Client()
    release = c.request("POST", "/api/v1/services/racer/app-releases",
                        json={"image": APP_V1, "port": 8080, "team": "shop"})
    _, conflicts = race(lambda: c.deploy(release["id"], "dev"), 2)
    assert len(conflicts) == 1
    assert c.wait("racer", "dev", timeout=90).status == "live"
    rs = apis["apps"].list_namespaced_replica_set(NAMESPACE,
                                                  label_selector="app.kubernetes.io/name=racer")
    assert len(rs.items) == 1  # applied once


def test_api_server_down_mid_rollout_fails_clearly_then_retry_succeeds(
        k8s_server: Any, kube_cluster: Any) -> None:
    c = Client()
    stuck = c.request("POST", "/api/v1/services/outage/app-releases",  # never schedulable
                      json={"image": APP_V1, "port": 8080, "team": "shop",
                            "resources": {"cpu": 1, "memory_gb": 1, "gpu": 2}})
    c.deploy(stuck["id"], "dev")
    wait_for("the rollout to start watching", lambda: any(
        "updated" in e["message"] for e in c.events("outage")))
    kube_cluster.stop_apiserver()
    try:
        with pytest.raises(errors.DeploymentFailed) as err:
            c.wait("outage", "dev", timeout=90)
        assert "unreachable" in err.value.message and "Retry" in err.value.message
        assert requests.get(f"{k8s_server.url}/healthz", timeout=5).ok  # server keeps serving
    finally:
        kube_cluster.start_apiserver()
    good = c.request("POST", "/api/v1/services/outage/app-releases",
                     json={"image": APP_V2, "port": 8080, "team": "shop"})
    c.deploy(good["id"], "dev")
    assert c.wait("outage", "dev", timeout=120).release_version == 2


def test_killed_promotion_server_reconciles_the_rollout_after_restart(
        k8s_server: Any, apis: dict[str, Any]) -> None:
    c = Client()
    release = c.request("POST", "/api/v1/services/phoenix/app-releases",
                        json={"image": APP_V1, "port": 8080, "team": "shop"})
    c.deploy(release["id"], "dev")
    k8s_server.kill()  # mid-rollout: the status row says rolling_out
    k8s_server.start()
    state = c.wait("phoenix", "dev", timeout=120)
    assert state.status == "live" and state.release_id == release["id"]
    dep = apis["apps"].read_namespaced_deployment("phoenix", NAMESPACE)
    assert dep.metadata.labels["goldenpath.dev/release"] == release["id"]
    assert dep.status.available_replicas == 2


def test_a_pod_no_node_can_take_fails_in_seconds_and_delete_removes_everything(
        k8s_server: Any, apis: dict[str, Any]) -> None:
    """64 CPUs: no node has them. The rollout says so within seconds (not at its timeout),
    with the scheduler's reason; deleting the failed deployment removes every object it
    made, found by their labels; `goldenpath logs` says what the pods are doing."""
    import time

    c = Client()
    release = c.request("POST", "/api/v1/services/greedy/app-releases",
                        json={"image": APP_V1, "port": 8080, "team": "shop",
                              "resources": {"cpu": 64, "memory_gb": 1}})
    started = time.monotonic()
    c.deploy(release["id"], "quick")
    with pytest.raises(errors.DeploymentFailed) as err:
        c.wait("greedy", "quick", timeout=120)
    assert time.monotonic() - started < 45, "reported at the timeout, not within seconds"
    assert "unschedulable" in err.value.message and "Insufficient cpu" in err.value.message
    assert "cpu 64" in err.value.message  # what it asked for
    assert apis["apps"].read_namespaced_deployment("greedy", NAMESPACE)
    logs = _cli(k8s_server, "logs", "greedy", "--env", "quick")
    assert logs.returncode == 0 and "[greedy-" in logs.stdout, logs.stdout
    deleted = _cli(k8s_server, "delete", "greedy", "--env", "quick")
    assert deleted.returncode == 0, deleted.stderr
    for kind, reader, group in MANAGED:
        with pytest.raises(ApiException) as missing:
            getattr(apis[group], reader)("greedy", NAMESPACE)
        assert missing.value.status == 404, kind
    wait_for("its pods to go", lambda: not _pods(apis, release["id"]), timeout=60)
