"""The service template's choices that need no cluster: the runtime variant a bundle runs on,
the Ingress for an environment's public URL, failure messages carried to the rollout."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from goldenpath_server.targets._base import Rollout
from goldenpath_server.targets._template import TemplateSettings, public_url_of, render

RUNTIME = "registry.example/goldenpath-serving@sha256:" + "b" * 64
TORCH = "registry.example/goldenpath-serving-torch@sha256:" + "c" * 64


def _model(tmp_path: Path, requirements: str) -> Rollout:
    bundle = tmp_path / "bundle"
    (bundle / "env" / "python").mkdir(parents=True)
    (bundle / "env" / "python" / "requirements.txt").write_text(requirements)
    return Rollout(service="net", environment="staging", release_id="r1", kind="model",
                   digest="sha256:" + "d" * 64, team="vision", bundle_dir=bundle)


def _kind(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (found,) = [o for o in objects if o["kind"] == kind]
    return found


def test_a_bundle_pinning_torch_runs_on_the_torch_variant(tmp_path: Path) -> None:
    settings = TemplateSettings(namespace="gp-staging", runtime_image=RUNTIME,
                                runtime_images={"torch": TORCH})
    pod = _kind(render(_model(tmp_path, "bentoml==1.4.40\ntorch==2.9.1\n"), settings),
                "Deployment")["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == TORCH
    assert pod["initContainers"][0]["image"] == TORCH  # fetch checks the pins in the same image


def test_other_bundles_run_on_the_default_runtime(tmp_path: Path) -> None:
    settings = TemplateSettings(namespace="gp-staging", runtime_image=RUNTIME,
                                runtime_images={"torch": TORCH})
    pod = _kind(render(_model(tmp_path, "scikit-learn==1.9.1\n"), settings),
                "Deployment")["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == RUNTIME


def test_failing_containers_report_their_last_line(tmp_path: Path) -> None:
    settings = TemplateSettings(namespace="gp-staging", runtime_image=RUNTIME)
    pod = _kind(render(_model(tmp_path, ""), settings), "Deployment")["spec"]["template"]["spec"]
    for container in pod["containers"] + pod["initContainers"]:
        assert container["terminationMessagePolicy"] == "FallbackToLogsOnError"


def test_a_public_url_adds_an_ingress_for_its_host(tmp_path: Path) -> None:
    settings = TemplateSettings(namespace="gp-staging", runtime_image=RUNTIME,
                                public_url="https://{service}.{environment}.models.example.com",
                                ingress_class="nginx")
    rollout = _model(tmp_path, "")
    assert public_url_of("net", "staging", settings) == "https://net.staging.models.example.com"
    ingress = _kind(render(rollout, settings), "Ingress")
    assert ingress["spec"]["ingressClassName"] == "nginx"
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == "net.staging.models.example.com"
    assert rule["http"]["paths"][0]["backend"]["service"] == {"name": "net",
                                                              "port": {"name": "http"}}
    plain = TemplateSettings(namespace="gp-staging", runtime_image=RUNTIME)
    assert not [o for o in render(rollout, plain) if o["kind"] == "Ingress"]


def test_the_ingress_is_accepted_by_the_api_server(tmp_path: Path, kube_cluster: Any,
                                                   kube_api: Any) -> None:
    from kubernetes import client as k8s

    namespace = kube_cluster.namespace("gp-ingress")
    settings = TemplateSettings(namespace=namespace, runtime_image=RUNTIME,
                                public_url="https://{service}.models.example.com")
    ingress = _kind(render(_model(tmp_path, ""), settings), "Ingress")
    created = k8s.NetworkingV1Api(kube_api).create_namespaced_ingress(namespace, ingress,
                                                                      dry_run="All")
    assert created.spec.rules[0].host == "net.models.example.com"
