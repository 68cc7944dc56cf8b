"""The test cluster is a real control plane: controllers, scheduler, dry-run and restarts behave."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

T = TypeVar("T")

IMAGE = "registry.example/app@sha256:" + "a" * 64
IMAGE_V2 = "registry.example/app@sha256:" + "b" * 64
KWOK_NODES = {"kwok-node-0", "kwok-node-1", "kwok-node-2"}
GPU_NODE = "kwok-node-2"


def wait_until(what: str, probe: Callable[[], T | None], timeout: float = 60) -> T:
    """Poll probe until it returns something truthy; fail with `what` after timeout."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


@pytest.fixture(scope="module")
def api(kubeconfig: Path) -> Iterator[client.ApiClient]:
    with config.new_client_from_config(config_file=str(kubeconfig)) as api_client:
        yield api_client


@pytest.fixture
def namespace(api: client.ApiClient) -> Iterator[str]:
    core = client.CoreV1Api(api)
    name = f"gp-test-{uuid.uuid4().hex[:8]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    core.delete_namespace(name)


def deployment(name: str, image: str, replicas: int = 2, **resources: Any) -> client.V1Deployment:
    labels = {"app": name}
    container = client.V1Container(
        name="app",
        image=image,
        resources=client.V1ResourceRequirements(limits=resources or None),
    )
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name, labels=labels),
        spec=client.V1DeploymentSpec(
            replicas=replicas,
            selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(containers=[container]),
            ),
        ),
    )


def rolled_out(apps: client.AppsV1Api, ns: str, name: str, replicas: int) -> bool:
    """What `kubectl rollout status` checks: spec observed, all replicas new and available."""
    d = apps.read_namespaced_deployment(name, ns)
    s = d.status
    return bool(
        s.observed_generation == d.metadata.generation
        and s.updated_replicas == replicas
        and s.available_replicas == replicas
        and (s.replicas or 0) == replicas
    )


def test_kwok_nodes_are_ready_and_one_has_a_gpu(api: client.ApiClient) -> None:
    nodes = {n.metadata.name: n for n in client.CoreV1Api(api).list_node().items}
    assert KWOK_NODES <= nodes.keys()
    for name in KWOK_NODES:
        ready = [c for c in nodes[name].status.conditions if c.type == "Ready"]
        assert ready and ready[0].status == "True", name
        assert not nodes[name].spec.taints, f"{name} still tainted: {nodes[name].spec.taints}"
    assert nodes[GPU_NODE].status.allocatable["nvidia.com/gpu"] == "1"
    assert nodes[GPU_NODE].metadata.labels["nvidia.com/gpu.present"] == "true"


def test_deployment_rolls_out_to_running_pods_on_kwok_nodes(
    api: client.ApiClient, namespace: str
) -> None:
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    apps.create_namespaced_deployment(namespace, deployment("web", IMAGE))

    wait_until("Deployment web available", lambda: rolled_out(apps, namespace, "web", 2))
    replica_sets = apps.list_namespaced_replica_set(namespace).items
    assert [rs.metadata.owner_references[0].name for rs in replica_sets] == ["web"]
    pods = core.list_namespaced_pod(namespace, label_selector="app=web").items
    assert len(pods) == 2
    for pod in pods:
        assert pod.status.phase == "Running"
        assert pod.spec.node_name in KWOK_NODES
        assert pod.status.pod_ip
        assert pod.spec.containers[0].image == IMAGE

    # A new image digest is a real rolling update: a second ReplicaSet takes over.
    apps.patch_namespaced_deployment(
        "web",
        namespace,
        {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": IMAGE_V2}]}}}},
    )
    wait_until("Deployment web rolled out to v2", lambda: rolled_out(apps, namespace, "web", 2))

    def replicas_by_image() -> dict[str, int]:
        return {
            rs.spec.template.spec.containers[0].image: rs.status.replicas or 0
            for rs in apps.list_namespaced_replica_set(namespace).items
        }

    wait_until("old ReplicaSet scaled to 0", lambda: replicas_by_image() == {IMAGE: 0, IMAGE_V2: 2})


def test_gpu_pod_is_scheduled_on_the_gpu_node(api: client.ApiClient, namespace: str) -> None:
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    apps.create_namespaced_deployment(
        namespace, deployment("gpu", IMAGE, replicas=1, **{"nvidia.com/gpu": "1"})
    )
    wait_until("Deployment gpu available", lambda: rolled_out(apps, namespace, "gpu", 1))
    (pod,) = core.list_namespaced_pod(namespace, label_selector="app=gpu").items
    assert pod.spec.node_name == GPU_NODE


def test_server_side_dry_run_leaves_nothing_behind(api: client.ApiClient, namespace: str) -> None:
    apps = client.AppsV1Api(api)
    created = apps.create_namespaced_deployment(namespace, deployment("dry", IMAGE), dry_run="All")
    assert created.metadata.name == "dry"  # defaulted and validated by the server
    assert created.spec.strategy.type == "RollingUpdate"
    with pytest.raises(ApiException) as excinfo:
        apps.read_namespaced_deployment("dry", namespace)
    assert excinfo.value.status == 404
    assert apps.list_namespaced_replica_set(namespace).items == []


def test_apiserver_restart_keeps_data(
    kube_cluster: Any, api: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(api)
    core.create_namespaced_config_map(
        namespace,
        client.V1ConfigMap(metadata=client.V1ObjectMeta(name="survivor"), data={"k": "v"}),
    )

    kube_cluster.stop_apiserver()
    with pytest.raises(urllib3.exceptions.MaxRetryError):  # connection refused
        core.read_namespaced_config_map("survivor", namespace, _request_timeout=5)
    kube_cluster.start_apiserver()

    def read() -> client.V1ConfigMap | None:
        try:
            return core.read_namespaced_config_map("survivor", namespace, _request_timeout=5)
        except (urllib3.exceptions.HTTPError, ApiException):  # still starting up
            return None

    assert wait_until("ConfigMap readable after restart", read, timeout=30).data == {"k": "v"}
