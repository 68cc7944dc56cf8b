"""Pod Security Admission `restricted` on goldenpath's namespaces: what the one service
template renders (models and apps) is admitted; privileged variants are denied at
server-side dry-run, so a rollout of them would change nothing."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from goldenpath_server.targets._base import Rollout
from goldenpath_server.targets._template import TemplateSettings, render

NAMESPACE = "gp-psa"
RUNTIME = "registry.example/goldenpath-serving@sha256:" + "b" * 64
APP = "registry.example/shop/web@sha256:" + "1" * 64

MODEL = Rollout(service="psa-model", environment="psa", release_id="r-model", kind="model",
                digest="sha256:" + "c" * 64, team="risk")
APP_ROLLOUT = Rollout(service="psa-app", environment="psa", release_id="r-app", kind="app",
                      image=APP, port=8080, team="shop")


@pytest.fixture(scope="module")
def restricted(kube_cluster: Any, kube_api: k8s.ApiClient, cluster_policies: None) -> str:
    """A namespace as goldenpath-env.sh makes them, with the template's ServiceAccounts
    (a pod naming a missing one is refused before Pod Security is asked)."""
    namespace = str(kube_cluster.namespace(NAMESPACE))
    for rollout in (MODEL, APP_ROLLOUT):
        try:
            k8s.CoreV1Api(kube_api).create_namespaced_service_account(namespace, {
                "metadata": {"name": rollout.service}})
        except ApiException as exc:
            if exc.status != 409:
                raise
    return namespace


def _deployment(rollout: Rollout, namespace: str) -> dict[str, Any]:
    settings = TemplateSettings(namespace=namespace, runtime_image=RUNTIME,
                                bundle_base_url="http://10.244.1.1:8731")
    (deployment,) = [o for o in render(rollout, settings) if o["kind"] == "Deployment"]
    return deployment


def _pod(deployment: dict[str, Any]) -> dict[str, Any]:
    """The pod the Deployment's ReplicaSet would create (PSA enforces on pods)."""
    template = deployment["spec"]["template"]
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": deployment["metadata"]["name"], **template["metadata"]},
            "spec": template["spec"]}


def _privileged(pod: dict[str, Any]) -> None:
    pod["spec"]["containers"][0]["securityContext"].update(
        privileged=True, allowPrivilegeEscalation=True)


def _root_init(pod: dict[str, Any]) -> None:
    init = pod["spec"].get("initContainers") or pod["spec"]["containers"]
    init[0]["securityContext"].update(runAsNonRoot=False, runAsUser=0)


def _host_network(pod: dict[str, Any]) -> None:
    pod["spec"]["hostNetwork"] = True


def _added_capability(pod: dict[str, Any]) -> None:
    pod["spec"]["containers"][0]["securityContext"]["capabilities"]["add"] = ["NET_ADMIN"]


@pytest.mark.parametrize("rollout", [MODEL, APP_ROLLOUT], ids=["model", "app"])
def test_what_the_template_renders_is_admitted_as_restricted(
        kube_api: k8s.ApiClient, restricted: str, rollout: Rollout) -> None:
    deployment = _deployment(rollout, restricted)
    created = k8s.CoreV1Api(kube_api).create_namespaced_pod(
        restricted, _pod(deployment), dry_run="All")
    assert created.metadata.name == rollout.service
    k8s.AppsV1Api(kube_api).create_namespaced_deployment(restricted, deployment, dry_run="All")


@pytest.mark.parametrize("rollout", [MODEL, APP_ROLLOUT], ids=["model", "app"])
@pytest.mark.parametrize(("mutate", "violation"), [
    (_privileged, 'privileged (container "main" must not set securityContext.privileged=true)'),
    (_root_init, "runAsNonRoot != true"),
    (_host_network, "host namespaces (hostNetwork=true)"),
    (_added_capability, 'unrestricted capabilities (container "main" must not include '
                        '"NET_ADMIN"'),
], ids=["privileged", "root", "host-network", "capability"])
def test_a_less_restricted_variant_is_denied_at_dry_run(
        kube_api: k8s.ApiClient, restricted: str, rollout: Rollout,
        mutate: Callable[[dict[str, Any]], None], violation: str) -> None:
    pod = copy.deepcopy(_pod(_deployment(rollout, restricted)))
    mutate(pod)
    with pytest.raises(ApiException) as denied:
        k8s.CoreV1Api(kube_api).create_namespaced_pod(restricted, pod, dry_run="All")
    assert denied.value.status == 403
    message = json.loads(denied.value.body)["message"]
    assert 'violates PodSecurity "restricted:latest"' in message
    assert violation in message
    with pytest.raises(ApiException):
        k8s.CoreV1Api(kube_api).read_namespaced_pod(pod["metadata"]["name"], restricted)


def test_a_privileged_deployment_is_denied_by_the_cluster_policy_too(
        kube_api: k8s.ApiClient, restricted: str) -> None:
    """PSA only warns about Deployments; the shared admission policy denies them, init
    containers included, before the ReplicaSet ever tries to create a pod."""
    deployment = _deployment(MODEL, restricted)
    deployment["spec"]["template"]["spec"]["initContainers"][0]["securityContext"][
        "allowPrivilegeEscalation"] = True
    with pytest.raises(ApiException) as denied:
        k8s.AppsV1Api(kube_api).create_namespaced_deployment(restricted, deployment,
                                                             dry_run="All")
    assert denied.value.status == 422
    assert "goldenpath-no-privileged" in denied.value.body
