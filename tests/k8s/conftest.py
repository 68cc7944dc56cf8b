"""Fixtures for tests that need a real Kubernetes API: a session-wide cluster with KWOK fake
nodes and one real node, the shipped admission policies, namespaces as the platform makes them.

Set GOLDENPATH_TEST_KUBECONFIG to run against an existing cluster instead of
starting one (tests that stop kube-apiserver or need the real node are then skipped).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

# tests/_cluster.py is shared by every test folder; make it importable however
# pytest was configured (rootdir, import mode, with or without __init__.py).
_REPO = Path(__file__).resolve().parents[2]
if str(_REPO) not in sys.path:
    sys.path.insert(0, str(_REPO))

from tests._cluster import (  # noqa: E402
    BUILD_TIMEOUT_S,
    SCRIPTS,
    Cluster,
    start_cluster,
    wait_for,
)

POLICY_PROBE_NAMESPACE = "gp-policy-probe"
PROBE_IMAGE = "registry.example/probe@sha256:" + "a" * 64


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark tests that use the cluster `k8s`; give the first one time for a cold build.

    The session cluster is started in the setup of the first test that needs it, and
    on a machine without cached binaries that includes compiling Kubernetes (10-20 min)
    and building the node's images (~4 min), longer than the per-test timeout. Run
    scripts/cluster/build.sh and scripts/image/build.sh first to avoid it.
    """
    first = True
    for item in items:
        if "kube_cluster" not in getattr(item, "fixturenames", ()):
            continue
        item.add_marker(pytest.mark.k8s)
        if first and config.pluginmanager.hasplugin("timeout"):
            item.add_marker(pytest.mark.timeout(BUILD_TIMEOUT_S))
        first = False


@dataclass
class ExternalCluster:
    """A cluster someone else runs: usable, but not ours to stop or restart."""

    kubeconfig: Path

    def stop_apiserver(self) -> None:
        pytest.skip("GOLDENPATH_TEST_KUBECONFIG cluster: cannot stop its kube-apiserver")

    def start_apiserver(self) -> None:
        pytest.skip("GOLDENPATH_TEST_KUBECONFIG cluster: cannot start its kube-apiserver")

    @property
    def images(self) -> dict[str, str]:
        pytest.skip("GOLDENPATH_TEST_KUBECONFIG cluster: its real node's images are unknown")

    @property
    def node_gateway(self) -> str:
        pytest.skip("GOLDENPATH_TEST_KUBECONFIG cluster: its real node's network is unknown")

    def namespace(self, name: str, real_node: bool = False) -> str:
        if real_node:
            pytest.skip("GOLDENPATH_TEST_KUBECONFIG cluster: no real node of ours")
        subprocess.run([str(SCRIPTS / "namespace.sh"), name], check=True, timeout=120,
                       env={**os.environ, "NAMESPACE_KUBECONFIG": str(self.kubeconfig)})
        return name


@pytest.fixture(scope="session")
def kube_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster | ExternalCluster]:
    """A running control plane with 3 KWOK nodes (kwok-node-2 has one nvidia.com/gpu) and
    the real node gp-node (tainted: namespaces opt in with namespace(name, real_node=True))."""
    external = os.environ.get("GOLDENPATH_TEST_KUBECONFIG")
    if external:
        yield ExternalCluster(kubeconfig=Path(external))
        return
    cluster = start_cluster(tmp_path_factory.mktemp("kube-cluster"))
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def kubeconfig(kube_cluster: Cluster | ExternalCluster) -> Path:
    """Path of an admin kubeconfig for the session's cluster."""
    return kube_cluster.kubeconfig


@pytest.fixture(scope="session")
def kube_api(kubeconfig: Path) -> Iterator[k8s.ApiClient]:
    api = k8s_config.new_client_from_config(config_file=str(kubeconfig))
    yield api
    api.close()


def _sentinel(team: str, limits: dict[str, str]) -> k8s.V1Deployment:
    """A Deployment that breaks exactly one policy, to probe that policy is in force."""
    pod = k8s.V1PodSpec(containers=[k8s.V1Container(
        name="c", image=PROBE_IMAGE, resources=k8s.V1ResourceRequirements(limits=limits))])
    return k8s.V1Deployment(
        metadata=k8s.V1ObjectMeta(name="sentinel", labels={"goldenpath.dev/team": team}),
        spec=k8s.V1DeploymentSpec(
            selector=k8s.V1LabelSelector(match_labels={"a": "b"}),
            template=k8s.V1PodTemplateSpec(metadata=k8s.V1ObjectMeta(labels={"a": "b"}),
                                           spec=pod)))


@pytest.fixture(scope="session")
def cluster_policies(kube_cluster: Cluster | ExternalCluster, kube_api: k8s.ApiClient) -> None:
    """The shipped ValidatingAdmissionPolicies, applied and probed until they are in force."""
    admission = k8s.AdmissionregistrationV1Api(kube_api)
    for path in sorted((_REPO / "server" / "cluster-policies").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            try:
                if doc["kind"] == "ValidatingAdmissionPolicy":
                    admission.create_validating_admission_policy(doc)
                else:
                    admission.create_validating_admission_policy_binding(doc)
            except ApiException as exc:
                if exc.status != 409:
                    raise
    probe = kube_cluster.namespace(POLICY_PROBE_NAMESPACE)
    apps = k8s.AppsV1Api(kube_api)

    def denied(sentinel: k8s.V1Deployment, policy: str) -> bool:
        try:
            apps.create_namespaced_deployment(probe, sentinel, dry_run="All")
        except ApiException as exc:
            return exc.status == 422 and policy in exc.body
        return False

    # policies take effect asynchronously: probe each one the tests rely on
    wait_for("require-limits in force", lambda: denied(
        _sentinel("shop", {}), "goldenpath-require-limits"))
    wait_for("require-team-label in force", lambda: denied(
        _sentinel("", {"cpu": "1", "memory": "1Gi"}), "goldenpath-require-team-label"))


@pytest.fixture(scope="session")
def real_server(kube_cluster: Cluster | ExternalCluster, cluster_policies: None,
                kubeconfig: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The promotion server of the real-node tests (tests/k8s/_real_node.py), the SDK and
    $KUBECONFIG pointed at it and the cluster while they run."""
    from tests.k8s._real_node import serve_real_node

    yield from serve_real_node(kube_cluster, kubeconfig, tmp_path_factory.mktemp("real-node"))


@pytest.fixture
def undeploy(real_server: Any, kube_api: k8s.ApiClient) -> Iterator[list[tuple[str, str]]]:
    """(service, environment)s a test adds to be removed after it, their pods gone before
    the next test starts."""
    from tests.k8s._real_node import remove_services

    services: list[tuple[str, str]] = []
    yield services
    remove_services(services, kube_api)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    api = getattr(item, "funcargs", {}).get("kube_api")
    if report.when == "call" and report.failed and api is not None:
        report.sections.append(("the cluster when the test failed", _cluster_report(api)))


def _cluster_report(api: k8s.ApiClient) -> str:
    """What held the nodes: their conditions, the tests' pods, the recent warnings."""
    try:
        core = k8s.CoreV1Api(api)
        lines = []
        for node in core.list_node().items:
            conditions = ", ".join(f"{c.type}={c.status}" for c in node.status.conditions or [])
            lines.append(f"node {node.metadata.name}: {conditions}; "
                         f"allocatable {node.status.allocatable}")
        for pod in core.list_pod_for_all_namespaces().items:
            if pod.metadata.namespace.startswith("gp-"):
                lines.append(f"pod {pod.metadata.namespace}/{pod.metadata.name} on "
                             f"{pod.spec.node_name}: {pod.status.phase}"
                             f"{' terminating' if pod.metadata.deletion_timestamp else ''}")
        for event in core.list_event_for_all_namespaces().items[-40:]:
            if event.type != "Normal":
                lines.append(f"event {event.involved_object.kind}/{event.involved_object.name}: "
                             f"{event.reason}: {event.message}")
        return "\n".join(lines)
    except Exception as exc:  # a report must never hide the failure it reports on
        return f"could not read the cluster: {exc}"
