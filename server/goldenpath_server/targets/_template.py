"""The ONE service template: the Kubernetes objects for any release, model or app.

Models and apps differ only in the container: apps run their own image (pinned by digest);
models run the shared serving runtime image, with an init container that fetches the
bundle by digest and verifies it. Everything else — labels, resources, probes, security,
disruption budget, autoscaling, network policy — is the same path.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from goldenpath_server.targets._base import Rollout
from goldenpath_serving.fetch import pinned

MANAGED_BY = "goldenpath"
MODEL_PORT = 3000
# which side of a progressive rollout a pod serves: stable (the template's Deployment) or
# canary (the candidate's, `<name>-canary`, _k8s_delivery.py)
VARIANT = "goldenpath.dev/variant"
CANARY_SUFFIX, PREVIEW_SUFFIX, ROUTER_SUFFIX = "-canary", "-preview", "-router"
# the pods of the router in front of a service (`<name>-router`, _k8s_router.py): not
# labelled with the service's name, which its Deployment, Service and PDB select by
ROUTER_FOR = "goldenpath.dev/router-for"
ROUTER_CONFIG = "/etc/goldenpath-router/config.json"
DEFAULT_RESOURCES = {"cpu": 0.25, "memory_gb": 0.5, "gpu": 0}
# kinds the template creates, in apply order; deletion touches exactly these
KINDS = (("v1", "ServiceAccount"), ("v1", "Secret"), ("v1", "ConfigMap"), ("v1", "Service"),
         ("apps/v1", "Deployment"),
         ("policy/v1", "PodDisruptionBudget"), ("autoscaling/v2", "HorizontalPodAutoscaler"),
         ("networking.k8s.io/v1", "NetworkPolicy"), ("networking.k8s.io/v1", "Ingress"),
         ("gateway.networking.k8s.io/v1", "HTTPRoute"))


@dataclass(frozen=True)
class TemplateSettings:
    namespace: str
    runtime_image: str = ""
    bundle_base_url: str = ""  # where pods download bundles: the promotion server's URL
    replicas: int = 2
    max_replicas: int = 4
    # How users outside the cluster reach a service, e.g. https://{service}.models.example.com
    # ({service}, {namespace}, {environment}): the template adds an Ingress for that host.
    # Empty: they go through the API server's service proxy with their kubeconfig.
    public_url: str = ""
    ingress_class: str = ""  # ingressClassName of that Ingress; empty: the cluster default
    # Runtime variants by a package the bundle pins, e.g. {"torch": REF with PyTorch}: the
    # first one whose package the bundle pins runs it; others run on runtime_image.
    runtime_images: dict[str, str] = field(default_factory=dict)
    # A Gateway API Gateway ("NAME" or "NAMESPACE/NAME") users reach services through: the
    # template adds an HTTPRoute to it, whose weights and RequestMirror filter split and
    # copy requests in progressive rollouts. Empty: no HTTPRoute.
    gateway: str = ""
    # Without a Gateway, how a progressive rollout splits traffic: "replicas" (a replica
    # ratio behind the stable Service: connections) or "router" (the goldenpath router as
    # `<name>-router` in front of both releases: requests). Shadow takes the router anyway.
    traffic: str = "replicas"
    # each router pod's CPU and memory (requests == limits, Kubernetes quantities)
    router_cpu: str = "200m"
    router_memory: str = "128Mi"


def runtime_image_for(rollout: Rollout, settings: TemplateSettings) -> str:
    """The runtime image variant for this model's bundle (by the packages it pins)."""
    requirements = (rollout.bundle_dir / "env" / "python" / "requirements.txt"
                    if rollout.bundle_dir else None)
    if settings.runtime_images and requirements and requirements.is_file():
        names = {_canonical(name) for name, _ in pinned(requirements.read_text())}
        for package, image in settings.runtime_images.items():
            if _canonical(package) in names:
                return image
    return settings.runtime_image


def _canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def public_url_of(service: str, environment: str, settings: TemplateSettings) -> str:
    """The service's URL through the platform's Ingress or Gateway ("" when it has none)."""
    if not settings.public_url:
        return ""
    return settings.public_url.format(service=service, namespace=settings.namespace,
                                      environment=environment).rstrip("/")


def resources_of(rollout: Rollout) -> dict[str, Any]:
    """The release's {cpu (cores), memory_gb, gpu} over the defaults; the spec's `resources`
    or, for bundles, the `goldenpath.resources` label (JSON) set at build time."""
    raw = rollout.spec.get("resources") or \
        (rollout.spec.get("labels") or {}).get("goldenpath.resources") or {}
    requested = json.loads(raw) if isinstance(raw, str) else dict(raw)
    return {**DEFAULT_RESOURCES, **{k: v for k, v in requested.items() if v}}


def labels_of(rollout: Rollout) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": rollout.service,
        "app.kubernetes.io/instance": f"{rollout.service}-{rollout.environment}",
        "app.kubernetes.io/version": rollout.release_id,
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "app.kubernetes.io/part-of": "goldenpath",
        "goldenpath.dev/team": rollout.team,
        "goldenpath.dev/track": rollout.kind,
        "goldenpath.dev/release": rollout.release_id,
        "goldenpath.dev/environment": rollout.environment,
    }


def container_port(rollout: Rollout) -> int:
    """The port the release's container serves on: the runtime's for a model."""
    return MODEL_PORT if rollout.kind == "model" else rollout.port


def render(rollout: Rollout, settings: TemplateSettings) -> list[dict[str, Any]]:
    """All objects for `rollout`, ready for server-side apply."""
    name = rollout.service
    labels = labels_of(rollout)
    selector = {"app.kubernetes.io/name": name}
    port = container_port(rollout)
    meta = {"name": name, "namespace": settings.namespace, "labels": labels}
    public = public_url_of(name, rollout.environment, settings)
    ingress = [_ingress(meta, public, settings.ingress_class)] if public else []
    route = [http_route(meta, public, settings.gateway, [(name, 1)])] if settings.gateway \
        else []
    pods = {**labels, VARIANT: "stable"}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta,
         "automountServiceAccountToken": False},
        {"apiVersion": "v1", "kind": "Service", "metadata": meta,
         "spec": {"selector": selector, "ports": [{"name": "http", "port": 80,
                                                   "targetPort": port}]}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {**meta, "labels": pods},
         "spec": {"replicas": settings.replicas, "selector": {"matchLabels": selector},
                  "revisionHistoryLimit": 5, "progressDeadlineSeconds": 120,
                  "strategy": {"type": "RollingUpdate",
                               "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
                  "template": {"metadata": {"labels": pods},
                               "spec": _pod_spec(rollout, settings, port)}}},
        {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": meta,
         "spec": {"minAvailable": 1, "selector": {"matchLabels": selector}}},
        {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": meta,
         "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                     "name": name},
                  "minReplicas": settings.replicas, "maxReplicas": settings.max_replicas,
                  "metrics": [{"type": "Resource", "resource": {
                      "name": "cpu", "target": {"type": "Utilization",
                                                "averageUtilization": 70}}}]}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": meta,
         "spec": {"podSelector": {"matchLabels": selector}, "policyTypes": ["Ingress"],
                  "ingress": [{"ports": [{"port": port, "protocol": "TCP"}]}]}},
        *ingress, *route,
    ]


def render_candidate(rollout: Rollout, settings: TemplateSettings, replicas: int
                     ) -> list[dict[str, Any]]:
    """The candidate of a progressive rollout, from the same template: its Deployment
    `<name>-canary` (pods labelled variant=canary, also selected by the stable Service) and
    the Service `<name>-preview` that selects only them."""
    objects = {o["kind"]: o for o in render(rollout, settings)}
    name = rollout.service
    only = {"app.kubernetes.io/name": name, VARIANT: "canary"}
    dep, svc = objects["Deployment"], objects["Service"]
    labels = {**dep["metadata"]["labels"], VARIANT: "canary"}
    spec = {**dep["spec"], "replicas": replicas, "selector": {"matchLabels": only},
            "template": {**dep["spec"]["template"], "metadata": {"labels": labels}}}
    return [{**dep, "metadata": {**dep["metadata"], "name": name + CANARY_SUFFIX,
                                 "labels": labels}, "spec": spec},
            {**svc, "metadata": {**svc["metadata"], "name": name + PREVIEW_SUFFIX},
             "spec": {**svc["spec"], "selector": only}}]


def http_route(meta: dict[str, Any], public_url: str, gateway: str,
               backends: list[tuple[str, int]], mirror: str = "") -> dict[str, Any]:
    """The service's HTTPRoute on the environment's Gateway: requests split between
    `backends` (Service name, weight) and, with `mirror`, copied to that Service."""
    namespace, _, gw = gateway.rpartition("/")
    parent = {"name": gw, **({"namespace": namespace} if namespace else {})}
    rule: dict[str, Any] = {"backendRefs": [{"name": svc, "port": 80, "weight": weight}
                                            for svc, weight in backends]}
    if mirror:
        rule["filters"] = [{"type": "RequestMirror",
                            "requestMirror": {"backendRef": {"name": mirror, "port": 80}}}]
    spec: dict[str, Any] = {"parentRefs": [parent], "rules": [rule]}
    host = urlsplit(public_url).hostname if public_url else None
    if host:
        spec["hostnames"] = [host]
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": meta, "spec": spec}


def render_router(name: str, labels: dict[str, str], port: int, settings: TemplateSettings,
                  config: str, key: str) -> list[dict[str, Any]]:
    """The router in front of a service's two releases, from the same template: its key
    (Secret), what it routes to (ConfigMap, `config` as goldenpath_router reads it), its
    Deployment on the serving runtime's image (pods labelled ROUTER_FOR only) and the
    NetworkPolicy that lets clients reach it on the service's port."""
    router = name + ROUTER_SUFFIX
    meta = {"name": router, "namespace": settings.namespace, "labels": labels}
    pods = {k: v for k, v in labels.items() if k not in ("app.kubernetes.io/name",
                                                         "goldenpath.dev/release",
                                                         "app.kubernetes.io/version")}
    pods.update({"app.kubernetes.io/name": router, ROUTER_FOR: name})
    size = {"cpu": settings.router_cpu, "memory": settings.router_memory}  # Guaranteed
    container = {
        "name": "router", "image": settings.runtime_image, "imagePullPolicy": "IfNotPresent",
        "args": ["python", "-m", "goldenpath_router", "--port", str(port),
                 "--config", ROUTER_CONFIG],
        "ports": [{"name": "http", "containerPort": port}],
        "env": [{"name": "GOLDENPATH_ROUTER_KEY",
                 "valueFrom": {"secretKeyRef": {"name": router, "key": "key"}}}],
        "readinessProbe": {"httpGet": {"path": "/-/router/ready", "port": port},
                           "periodSeconds": 2},
        "livenessProbe": {"tcpSocket": {"port": port}, "initialDelaySeconds": 10,
                          "periodSeconds": 10},
        "resources": {"requests": size, "limits": dict(size)},
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "securityContext": _container_security(),
        "volumeMounts": [{"name": "config", "mountPath": ROUTER_CONFIG.rsplit("/", 1)[0],
                          "readOnly": True}]}
    spec = {"serviceAccountName": name, "automountServiceAccountToken": False,
            "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001,
                                "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [container],
            "volumes": [{"name": "config", "configMap": {"name": router}}]}
    return [
        {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "type": "Opaque",
         "stringData": {"key": key}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta,
         "data": {"config.json": config}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
         "spec": {"replicas": settings.replicas, "selector": {"matchLabels": {ROUTER_FOR: name}},
                  "progressDeadlineSeconds": 120,
                  "strategy": {"type": "RollingUpdate",
                               "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
                  "template": {"metadata": {"labels": pods}, "spec": spec}}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": meta,
         "spec": {"podSelector": {"matchLabels": {ROUTER_FOR: name}},
                  "policyTypes": ["Ingress"],
                  "ingress": [{"ports": [{"port": port, "protocol": "TCP"}]}]}},
    ]


def _ingress(meta: dict[str, Any], public_url: str, ingress_class: str) -> dict[str, Any]:
    """One host per service, all paths to its Service (path prefixes would need the
    controller's own rewrite annotations: not portable)."""
    spec: dict[str, Any] = {"rules": [{"host": urlsplit(public_url).hostname, "http": {
        "paths": [{"path": "/", "pathType": "Prefix", "backend": {
            "service": {"name": meta["name"], "port": {"name": "http"}}}}]}}]}
    if ingress_class:
        spec["ingressClassName"] = ingress_class
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta,
            "spec": spec}


def _pod_spec(rollout: Rollout, settings: TemplateSettings, port: int) -> dict[str, Any]:
    res = resources_of(rollout)
    # requests == limits: the Guaranteed QoS class, predictable latency for serving
    requests = {"cpu": f"{max(1, round(float(res['cpu']) * 1000))}m",
                "memory": f"{max(1, round(float(res['memory_gb']) * 1024))}Mi"}
    limits = dict(requests)
    if int(res.get("gpu", 0)):
        requests["nvidia.com/gpu"] = limits["nvidia.com/gpu"] = str(int(res["gpu"]))
    container: dict[str, Any] = {
        "name": "main", "ports": [{"name": "http", "containerPort": port}],
        # what the environment's config grants by name; nothing else of the server's
        "env": [{"name": k, "value": v} for k, v in sorted(rollout.serving_env.items())],
        "imagePullPolicy": "IfNotPresent", "terminationMessagePolicy": "FallbackToLogsOnError",
        "resources": {"requests": requests, "limits": limits},
        "securityContext": _container_security(),
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    volumes: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {}}]
    init: list[dict[str, Any]] = []
    if rollout.kind == "model":
        url = f"{settings.bundle_base_url.rstrip('/')}/api/v1/bundles/{rollout.digest}"
        runtime = runtime_image_for(rollout, settings)
        container.update(
            image=runtime,
            args=["bentoml", "serve", "/bundle", "--host", "0.0.0.0", "--port", str(port)],
            # probed every 2 s: a new release takes traffic soon after it is ready
            readinessProbe={"httpGet": {"path": "/readyz", "port": port},
                            "periodSeconds": 2},
            livenessProbe={"httpGet": {"path": "/livez", "port": port},
                           "initialDelaySeconds": 30, "periodSeconds": 10})
        container["volumeMounts"].append({"name": "bundle", "mountPath": "/bundle",
                                          "readOnly": True})
        volumes.append({"name": "bundle", "emptyDir": {}})
        # FallbackToLogsOnError: fetch's last line (digest mismatch, missing pin) becomes
        # the termination message the rollout reports.
        init.append({"name": "fetch-bundle", "image": runtime,
                     "imagePullPolicy": "IfNotPresent",
                     "terminationMessagePolicy": "FallbackToLogsOnError",
                     "args": ["python", "-m", "goldenpath_serving.fetch", url,
                              rollout.digest, "/bundle"],
                     "resources": {"requests": {"cpu": "100m", "memory": "256Mi"},
                                   "limits": {"cpu": "1", "memory": "512Mi"}},
                     "securityContext": _container_security(),
                     "volumeMounts": [{"name": "bundle", "mountPath": "/bundle"},
                                      {"name": "tmp", "mountPath": "/tmp"}]})
    else:
        container.update(
            image=rollout.image,
            readinessProbe={"tcpSocket": {"port": port}, "periodSeconds": 5},
            livenessProbe={"tcpSocket": {"port": port}, "initialDelaySeconds": 15,
                           "periodSeconds": 10})
    spec: dict[str, Any] = {
        "serviceAccountName": rollout.service, "automountServiceAccountToken": False,
        "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001,
                            "fsGroup": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [container], "volumes": volumes,
    }
    if init:
        spec["initContainers"] = init
    return spec


def _container_security() -> dict[str, Any]:
    return {"runAsNonRoot": True, "readOnlyRootFilesystem": True, "privileged": False,
            "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
