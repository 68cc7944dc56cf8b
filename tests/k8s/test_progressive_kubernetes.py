"""Progressive delivery on the Kubernetes target, against the real control plane: the
candidate's Deployment and preview Service, weights as replica ratios (and the endpoints the
stable Service really selects), the switch, the abort, a blue-green switch that keeps the old
release warm, the goldenpath router in front of both releases, and shadow's HTTPRoute where
a Gateway is named. KWOK pods answer no traffic,
so what is measured here is the cluster's objects, not requests."""

from __future__ import annotations

import glob
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from goldenpath_server.targets import Rollout, TargetError
from goldenpath_server.targets._k8s_delivery import canary_replicas
from goldenpath_server.targets._template import TemplateSettings
from goldenpath_server.targets.kubernetes import KubernetesTarget
from tests._cluster import wait_for

NAMESPACE = "gp-progressive"
RUNTIME = "registry.example/goldenpath-serving@sha256:" + "b" * 64
APP = {1: "registry.example/shop/web@sha256:" + "1" * 64,
       2: "registry.example/shop/web@sha256:" + "2" * 64,
       3: "registry.example/shop/web@sha256:" + "3" * 64}


def _app(service: str, version: int) -> Rollout:
    return Rollout(service=service, environment="prod", release_id=f"r{version}", kind="app",
                   image=APP[version], port=8080, team="shop")


@pytest.fixture(scope="module")
def namespace(kube_cluster: Any, cluster_policies: None) -> str:
    """As the platform makes it: admission policies and Pod Security `restricted`."""
    return str(kube_cluster.namespace(NAMESPACE))


@pytest.fixture(scope="module")
def apis(kube_api: k8s.ApiClient) -> dict[str, Any]:
    return {"core": k8s.CoreV1Api(kube_api), "apps": k8s.AppsV1Api(kube_api),
            "custom": k8s.CustomObjectsApi(kube_api)}


def _target(kubeconfig: Path, **settings: Any) -> KubernetesTarget:
    return KubernetesTarget(TemplateSettings(namespace=NAMESPACE, runtime_image=RUNTIME,
                                             replicas=2, max_replicas=4, **settings),
                            kubeconfig=str(kubeconfig), rollout_timeout_s=60)


@pytest.fixture()
def target(namespace: str, kubeconfig: Path) -> Iterator[KubernetesTarget]:
    t = _target(kubeconfig)
    yield t
    t.close()


def _notes() -> tuple[list[str], Any]:
    lines: list[str] = []
    return lines, lines.append


def _deployment(apis: dict[str, Any], name: str) -> Any:
    try:
        return apis["apps"].read_namespaced_deployment(name, NAMESPACE)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def _service(apis: dict[str, Any], name: str) -> Any:
    try:
        return apis["core"].read_namespaced_service(name, NAMESPACE)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def _endpoint_releases(apis: dict[str, Any], service: str) -> dict[str, int]:
    """Per release, how many ready pods the Service's EndpointSlices route to (the
    endpoint-slice controller's answer, not our selector's)."""
    pods = {p.metadata.name: p.metadata.labels.get("goldenpath.dev/release", "router")
            for p in apis["core"].list_namespaced_pod(NAMESPACE).items
            if not p.metadata.deletion_timestamp}
    slices = k8s.DiscoveryV1Api(apis["core"].api_client).list_namespaced_endpoint_slice(
        NAMESPACE, label_selector=f"kubernetes.io/service-name={service}").items
    found: dict[str, int] = {}
    for s in slices:
        for e in s.endpoints or []:
            ref = e.target_ref.name if e.target_ref else ""
            if ref in pods and e.conditions and e.conditions.ready:
                found[pods[ref]] = found.get(pods[ref], 0) + 1
    return found


def _routes_to(apis: dict[str, Any], service: str, expected: dict[str, int]) -> None:
    wait_for(f"{service} to route to {expected}",
             lambda: _endpoint_releases(apis, service) == expected, timeout=60)


def test_canary_replicas_give_the_weight() -> None:
    # beside 2 stable pods: 5% and 25% still need one pod (a third of the replicas)
    assert [canary_replicas(2, w, 4) for w in (0.05, 0.25, 0.5, 0.75, 0.9, 1.0)] == \
        [1, 1, 2, 4, 4, 4]
    assert [canary_replicas(10, w, 10) for w in (0.05, 0.1, 0.25, 0.5)] == [1, 1, 3, 10]


def test_canary_weights_are_replica_ratios_and_complete_hands_over(
        target: KubernetesTarget, apis: dict[str, Any]) -> None:
    notes, note = _notes()
    stable = target.deploy(_app("cwa", 1), {}, note)
    candidate = target.start_candidate(_app("cwa", 2), note)
    canary = _deployment(apis, "cwa-canary")
    assert canary.spec.replicas == 1 and canary.status.available_replicas == 1
    labels = canary.spec.template.metadata.labels
    assert labels["goldenpath.dev/variant"] == "canary" and labels["app.kubernetes.io/name"] \
        == "cwa" and labels["goldenpath.dev/release"] == "r2"
    assert canary.spec.template.spec.containers[0].image == APP[2]  # the same template
    assert _deployment(apis, "cwa").spec.template.metadata.labels[
        "goldenpath.dev/variant"] == "stable"
    preview = _service(apis, "cwa-preview")
    assert preview.spec.selector == {"app.kubernetes.io/name": "cwa",
                                     "goldenpath.dev/variant": "canary"}
    assert candidate["url"].endswith("/services/cwa-preview:http/proxy")
    # ready, taking none of the stable's traffic yet
    _routes_to(apis, "cwa", {"r1": 2})
    _routes_to(apis, "cwa-preview", {"r2": 1})

    for weight, pods, effective in ((0.25, 1, "0.3333"), (0.5, 2, "0.5"), (0.75, 4, "0.6667")):
        target.split("cwa.prod", stable, candidate, weight, False)
        canary = _deployment(apis, "cwa-canary")
        assert canary.spec.replicas == pods
        assert canary.metadata.annotations["goldenpath.dev/effective-weight"] == effective
        _routes_to(apis, "cwa", {"r1": 2, "r2": pods})
    assert target.window("cwa.prod")["candidate"]["requests"] == 0  # nothing to measure

    live = target.complete(_app("cwa", 2), stable, candidate, 0.0)
    assert live["name"] == "cwa" and "warm" not in live
    dep = _deployment(apis, "cwa")
    assert dep.spec.template.spec.containers[0].image == APP[2]
    assert dep.metadata.labels["goldenpath.dev/release"] == "r2"
    assert dep.spec.replicas == 2  # the stable's size, not the canary's
    assert _deployment(apis, "cwa-canary") is None and _service(apis, "cwa-preview") is None
    assert _service(apis, "cwa").spec.selector == {"app.kubernetes.io/name": "cwa"}
    _routes_to(apis, "cwa", {"r2": 2})



def test_a_model_candidate_comes_from_the_same_template(target: KubernetesTarget,
                                                        apis: dict[str, Any]) -> None:
    def model(version: int) -> Rollout:
        return Rollout(service="cmod", environment="prod", release_id=f"m{version}",
                       kind="model", digest="sha256:" + str(version) * 64, team="risk")

    notes, note = _notes()
    stable = target.deploy(model(1), {}, note)
    candidate = target.start_candidate(model(2), note)
    pod = _deployment(apis, "cmod-canary").spec.template.spec
    assert pod.containers[0].image == RUNTIME and pod.containers[0].readiness_probe.http_get
    assert "sha256:" + "2" * 64 in pod.init_containers[0].args  # fetches the candidate
    target.split("cmod.prod", stable, candidate, 0.5, False)
    _routes_to(apis, "cmod", {"m1": 2, "m2": 2})
    target.abort(model(2), stable, candidate)
    _routes_to(apis, "cmod", {"m1": 2})

def test_abort_removes_the_candidate_and_leaves_the_stable_untouched(
        target: KubernetesTarget, apis: dict[str, Any]) -> None:
    notes, note = _notes()
    stable = target.deploy(_app("cab", 1), {}, note)
    before = _deployment(apis, "cab")
    candidate = target.start_candidate(_app("cab", 2), note)
    target.split("cab.prod", stable, candidate, 0.5, False)
    _routes_to(apis, "cab", {"r1": 2, "r2": 2})
    target.abort(_app("cab", 2), stable, candidate)
    assert _deployment(apis, "cab-canary") is None and _service(apis, "cab-preview") is None
    after = _deployment(apis, "cab")
    assert after.metadata.generation == before.metadata.generation  # never rolled
    assert after.spec.template.spec.containers[0].image == APP[1]
    assert _service(apis, "cab").spec.selector == {"app.kubernetes.io/name": "cab"}
    _routes_to(apis, "cab", {"r1": 2})
    wait_for("the candidate's pods to go", lambda: not apis["core"].list_namespaced_pod(
        NAMESPACE, label_selector="goldenpath.dev/release=r2,app.kubernetes.io/name=cab").items)


def test_a_candidate_that_cannot_start_is_reported_and_abort_cleans_up(
        target: KubernetesTarget, apis: dict[str, Any]) -> None:
    notes, note = _notes()
    stable = target.deploy(_app("cbad", 1), {}, note)
    greedy = _app("cbad", 2)
    greedy.spec = {"resources": {"cpu": 64, "memory_gb": 1}}  # no node has 64 CPUs
    with pytest.raises(TargetError) as err:
        target.start_candidate(greedy, note)
    assert "unschedulable" in str(err.value) and "Insufficient cpu" in str(err.value)
    _routes_to(apis, "cbad", {"r1": 2})  # the stable release serves on
    target.abort(greedy, stable, {})  # what the engine does when the start fails
    assert _deployment(apis, "cbad-canary") is None
    assert _service(apis, "cbad").spec.selector == {"app.kubernetes.io/name": "cbad"}


def test_blue_green_preview_switch_and_switch_back_to_the_warm_release(
        target: KubernetesTarget, apis: dict[str, Any]) -> None:
    notes, note = _notes()
    stable = target.deploy(_app("bg", 1), {}, note)
    candidate = target.start_candidate(_app("bg", 2), note)
    target.split("bg.prod", stable, candidate, 0.0, False)  # the preview step
    assert _deployment(apis, "bg-canary").spec.replicas == 2  # full size before the switch
    _routes_to(apis, "bg-preview", {"r2": 2})
    _routes_to(apis, "bg", {"r1": 2})

    live = target.complete(_app("bg", 2), stable, candidate, 600.0)
    assert live["warm"]["release_id"] == "r1" and live["serving"] == "bg-canary"
    assert _service(apis, "bg").spec.selector == {"app.kubernetes.io/name": "bg",
                                                  "goldenpath.dev/variant": "canary"}
    _routes_to(apis, "bg", {"r2": 2})  # all of it, at once
    warm = _deployment(apis, "bg")  # kept running, selected by nothing
    assert warm.status.available_replicas == 2
    assert warm.spec.template.spec.containers[0].image == APP[1]

    back = target.deploy(_app("bg", 1), live, note)  # a rollback within keep_warm_s
    assert back["name"] == "bg"
    assert any("switching back to the release kept warm" in n for n in notes)
    assert _deployment(apis, "bg").metadata.generation == warm.metadata.generation
    assert _deployment(apis, "bg-canary") is None
    assert _service(apis, "bg").spec.selector == {"app.kubernetes.io/name": "bg"}
    _routes_to(apis, "bg", {"r1": 2})


def test_blue_green_hands_over_when_keep_warm_ends(target: KubernetesTarget,
                                                    apis: dict[str, Any]) -> None:
    notes, note = _notes()
    stable = target.deploy(_app("bgw", 1), {}, note)
    candidate = target.start_candidate(_app("bgw", 2), note)
    target.split("bgw.prod", stable, candidate, 0.0, False)
    target.complete(_app("bgw", 2), stable, candidate, 1.0)
    _routes_to(apis, "bgw", {"r2": 2})
    wait_for("the handover after keep_warm_s", lambda: _deployment(apis, "bgw-canary") is None
             and _deployment(apis, "bgw").spec.template.spec.containers[0].image == APP[2])
    assert _service(apis, "bgw").spec.selector == {"app.kubernetes.io/name": "bgw"}
    _routes_to(apis, "bgw", {"r2": 2})


def test_a_rolling_deploy_while_the_old_release_is_kept_warm_hands_over(
        target: KubernetesTarget, apis: dict[str, Any]) -> None:
    notes, note = _notes()
    stable = target.deploy(_app("bgr", 1), {}, note)
    candidate = target.start_candidate(_app("bgr", 2), note)
    target.split("bgr.prod", stable, candidate, 0.0, False)
    live = target.complete(_app("bgr", 2), stable, candidate, 600.0)
    target.deploy(_app("bgr", 3), live, note)
    assert _deployment(apis, "bgr").spec.template.spec.containers[0].image == APP[3]
    assert _deployment(apis, "bgr-canary") is None
    assert _service(apis, "bgr").spec.selector == {"app.kubernetes.io/name": "bgr"}
    _routes_to(apis, "bgr", {"r3": 2})


def _router_config(apis: dict[str, Any], service: str) -> dict[str, Any]:
    cm = apis["core"].read_namespaced_config_map(f"{service}-router", NAMESPACE)
    return dict(json.loads(cm.data["config.json"]))


def _model(service: str, version: int) -> Rollout:
    return Rollout(service=service, environment="prod", release_id=f"m{version}", kind="model",
                   digest="sha256:" + str(version) * 64, team="risk")


def test_without_a_gateway_the_router_splits_and_copies_requests(
        namespace: str, kubeconfig: Path, apis: dict[str, Any]) -> None:
    """`traffic: router`: the goldenpath router's own Deployment from the same template, in
    front of both releases (the stable Service selects its pods, which the service's own
    selectors do not); told the weight and each release's ready pods in its ConfigMap; an
    app's requests never copied; a model's shadow copies through it (also where canaries
    weigh replicas), picked up by a restarted server; abort and the switch remove it. KWOK
    pods run no router: its measurements are the real-node tests' (test_real_node_routed)."""
    t = _target(kubeconfig, traffic="router")
    by_replicas = _target(kubeconfig)
    notes, note = _notes()
    try:
        assert "shadow" in t.strategies and "shadow" in by_replicas.strategies
        stable = t.deploy(_app("rt", 1), {}, note)
        candidate = t.start_candidate(_app("rt", 2), note)
        assert t.split("rt.prod", stable, candidate, 0.1, False) == 0.1  # per request
        router = _deployment(apis, "rt-router")
        pod = router.spec.template
        assert pod.metadata.labels["goldenpath.dev/router-for"] == "rt"
        assert pod.metadata.labels["app.kubernetes.io/name"] == "rt-router"
        assert "goldenpath.dev/release" not in pod.metadata.labels
        (container,) = pod.spec.containers
        assert container.image == RUNTIME and container.args[:3] == ["python", "-m",
                                                                    "goldenpath_router"]
        assert container.env[0].value_from.secret_key_ref.name == "rt-router"
        assert container.ports[0].container_port == 8080  # the app's own port
        assert _service(apis, "rt").spec.selector == {"goldenpath.dev/router-for": "rt"}
        config = _router_config(apis, "rt")
        # an app's answers are not compared: the copy would repeat its side effects
        assert config["split"] == {"weight": 0.1, "mirror": False, "compare": False}
        assert len(config["stable"]) == 2 and len(config["candidate"]) == 1
        assert all(port == 8080 for _, port in config["stable"] + config["candidate"])
        assert _deployment(apis, "rt-canary").spec.replicas == 1
        with pytest.raises(TargetError) as refused:
            t.split("rt.prod", stable, candidate, 0.0, True)
        assert "side effects" in str(refused.value) and refused.value.code == \
            "configuration_error"
        assert _deployment(apis, "rt-canary").spec.replicas == 1  # refused before a change
        t.abort(_app("rt", 2), stable, candidate)
        assert _deployment(apis, "rt-router") is None and _deployment(apis, "rt-canary") is None
        assert _service(apis, "rt").spec.selector == {"app.kubernetes.io/name": "rt"}
        _routes_to(apis, "rt", {"r1": 2})

        # canaries weigh replicas here; a model's shadow goes through the router anyway
        stable = by_replicas.deploy(_model("rs", 1), {}, note)
        candidate = by_replicas.start_candidate(_model("rs", 2), note)
        by_replicas.split("rs.prod", stable, candidate, 0.0, True)
        assert _service(apis, "rs").spec.selector == {"goldenpath.dev/router-for": "rs"}
        config = _router_config(apis, "rs")
        assert config["split"] == {"weight": 0.0, "mirror": True, "compare": True}
        assert _deployment(apis, "rs-canary").spec.replicas == 2  # the stable's size
        restarted = _target(kubeconfig)  # a new server process: the router's key and
        try:  # what it was told are read back from the cluster
            assert restarted.window("rs.prod")["paired"]["requests"] == 0
            restarted.split("rs.prod", stable, candidate, 0.5, False)
            assert _router_config(apis, "rs")["split"]["weight"] == 0.5
            assert _router_config(apis, "rs")["version"] > config["version"]
            live = restarted.complete(_model("rs", 2), stable, candidate, 0.0)
        finally:
            restarted.close()
        assert live["name"] == "rs" and _deployment(apis, "rs-router") is None
        assert apis["core"].list_namespaced_config_map(
            NAMESPACE, field_selector="metadata.name=rs-router").items == []
        assert apis["core"].list_namespaced_secret(
            NAMESPACE, field_selector="metadata.name=rs-router").items == []
        _routes_to(apis, "rs", {"m2": 2})
    finally:
        t.close()
        by_replicas.close()


def test_a_router_that_cannot_start_is_reported_by_its_own_pods_and_users_stay_on_stable(
        namespace: str, kubeconfig: Path, apis: dict[str, Any]) -> None:
    """The router's Deployment is watched by its own pods: one no node can take fails the
    step with the scheduler's reason (not a timeout, not the releases' pods), the Service
    never left the stable release, and abort removes every object of the router."""
    t = _target(kubeconfig, traffic="router", router_cpu="64")  # no node has 64 CPUs
    notes, note = _notes()
    try:
        stable = t.deploy(_model("rbad", 1), {}, note)
        candidate = t.start_candidate(_model("rbad", 2), note)
        started = time.monotonic()
        with pytest.raises(TargetError) as err:
            t.split("rbad.prod", stable, candidate, 0.25, False)
        assert "unschedulable" in str(err.value) and "Insufficient cpu" in str(err.value)
        assert time.monotonic() - started < 45  # the watch's timeout is 60 s
        assert _deployment(apis, "rbad-router").spec.template.spec.containers[0] \
            .resources.requests["cpu"] == "64"
        assert _service(apis, "rbad").spec.selector == {"app.kubernetes.io/name": "rbad",
                                                        "goldenpath.dev/release": "m1"}
        _routes_to(apis, "rbad", {"m1": 2})
        t.abort(_model("rbad", 2), stable, candidate)
        assert _deployment(apis, "rbad-router") is None
        for listed in (apis["core"].list_namespaced_config_map,
                       apis["core"].list_namespaced_secret):
            assert listed(NAMESPACE, field_selector="metadata.name=rbad-router").items == []
    finally:
        t.close()


def _gateway_crds() -> Path | None:
    """Gateway API's standard CRDs, as shipped inside a Go module the cluster build
    downloads (k8s.io/apiextensions-apiserver's test data: v1.0.0-rc1); None if absent."""
    cache = os.environ.get("GOMODCACHE") or str(Path.home() / "go" / "pkg" / "mod")
    found = sorted(glob.glob(f"{cache}/k8s.io/apiextensions-apiserver@*/test/integration/"
                             "ratcheting_test_cases/crds/standard-install.yaml"))
    return Path(found[-1]) if found else None


@pytest.fixture(scope="module")
def gateway_api(kube_cluster: Any, kube_api: k8s.ApiClient) -> None:
    crds = _gateway_crds()
    if crds is None:
        pytest.skip("no Gateway API CRDs on this machine (they come with the Go module "
                    "k8s.io/apiextensions-apiserver that scripts/cluster/build.sh downloads)")
    ext = k8s.ApiextensionsV1Api(kube_api)
    for doc in yaml.safe_load_all(crds.read_text()):
        if doc and doc.get("kind") == "CustomResourceDefinition":
            try:
                ext.create_custom_resource_definition(doc)
            except ApiException as exc:
                if exc.status != 409:
                    raise
    wait_for("HTTPRoute to be served", lambda: _served(kube_api), timeout=60)


def _served(api: k8s.ApiClient) -> bool:
    try:
        k8s.CustomObjectsApi(api).list_namespaced_custom_object(
            "gateway.networking.k8s.io", "v1", "default", "httproutes")
    except ApiException:
        return False
    return True


def test_with_a_gateway_the_httproute_splits_and_mirrors_requests(
        namespace: str, kubeconfig: Path, gateway_api: None, apis: dict[str, Any]) -> None:
    t = _target(kubeconfig, gateway="gp-gateways/edge",
                public_url="https://{service}.models.example.com")
    notes, note = _notes()

    def route() -> dict[str, Any]:
        got: dict[str, Any] = apis["custom"].get_namespaced_custom_object(
            "gateway.networking.k8s.io", "v1", NAMESPACE, "httproutes", "gw")
        return got["spec"]

    try:
        stable = t.deploy(_app("gw", 1), {}, note)
        spec = route()
        assert spec["parentRefs"] == [{"group": "gateway.networking.k8s.io",
                                       "kind": "Gateway", "namespace": "gp-gateways",
                                       "name": "edge"}]
        assert spec["hostnames"] == ["gw.models.example.com"]
        candidate = t.start_candidate(_app("gw", 2), note)
        t.split("gw.prod", stable, candidate, 0.0, True)  # shadow: every request copied
        (rule,) = route()["rules"]
        assert [(b["name"], b["weight"]) for b in rule["backendRefs"]] == \
            [("gw", 100), ("gw-preview", 0)]
        assert rule["filters"][0]["type"] == "RequestMirror"
        assert rule["filters"][0]["requestMirror"]["backendRef"]["name"] == "gw-preview"
        _routes_to(apis, "gw", {"r1": 2})  # the stable Service: the stable release only
        t.split("gw.prod", stable, candidate, 0.1, False)  # per request, not per replica
        (rule,) = route()["rules"]
        assert [(b["name"], b["weight"]) for b in rule["backendRefs"]] == \
            [("gw", 90), ("gw-preview", 10)] and "filters" not in rule
        assert _deployment(apis, "gw-canary").metadata.annotations[
            "goldenpath.dev/effective-weight"] == "0.1"
        _routes_to(apis, "gw", {"r1": 2})
        t.complete(_app("gw", 2), stable, candidate, 0.0)
        (rule,) = route()["rules"]
        assert [(b["name"], b["weight"]) for b in rule["backendRefs"]] == [("gw", 1)]
        _routes_to(apis, "gw", {"r2": 2})
        t.stop({"name": "gw"})
        with pytest.raises(ApiException):
            route()
    finally:
        t.close()


def test_delete_removes_the_candidate_too(target: KubernetesTarget,
                                          apis: dict[str, Any]) -> None:
    notes, note = _notes()
    target.deploy(_app("cdel", 1), {}, note)
    target.start_candidate(_app("cdel", 2), note)
    target.stop({"name": "cdel"})
    for name in ("cdel", "cdel-canary"):
        assert _deployment(apis, name) is None
    assert _service(apis, "cdel-preview") is None and _service(apis, "cdel") is None



@pytest.fixture(scope="module")
def platform(namespace: str, kubeconfig: Path,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A promotion server whose `prod` delivers to the cluster by canary: steps short, and
    (nothing answering on KWOK nodes) every step inconclusive at once, paused for a person."""
    import goldenpath
    from goldenpath import _config
    from tests._servers import start_server

    tmp = tmp_path_factory.mktemp("k8s-progressive")
    config = tmp / "goldenpath.yaml"
    config.write_text(yaml.safe_dump({"environments": {"prod": {
        "target": "kubernetes", "namespace": namespace, "runtime_image": RUNTIME,
        "replicas": 2, "bundle_base_url": "http://goldenpath.goldenpath-system.svc:8731",
        "delivery": {"allowed": ["rolling", "canary", "blue-green"],
                     "canary": {"steps": [50, 100], "hold_s": 0.5, "min_requests": 1},
                     "analysis": {"max_wait_factor": 1}}}}}))
    server = start_server(tmp, {"GOLDENPATH_CONFIG": str(config),
                                "GOLDENPATH_ROLLOUT_TIMEOUT_S": "60",
                                "KUBECONFIG": str(kubeconfig)})
    previous = _config._current
    goldenpath.configure(server=server.url)
    yield server
    _config._current = previous
    server.stop()


def _release(client: Any, service: str, version: int) -> str:
    release = client.request("POST", f"/api/v1/services/{service}/app-releases",
                             json={"image": APP[version], "port": 8080, "team": "shop"})
    return str(release["id"])


@pytest.mark.parametrize("action", ["promote", "abort"])
def test_a_canary_through_the_platform_pauses_then_a_person_decides(
        platform: Any, apis: dict[str, Any], action: str) -> None:
    from goldenpath._client import Client

    c, service = Client(), f"pc-{action}"
    c.deploy(_release(c, service, 1), "prod")
    assert c.wait(service, "prod", timeout=90).status == "live"
    v2 = _release(c, service, 2)
    c.deploy(v2, "prod", strategy="canary")
    # no requests reach KWOK pods: the step is inconclusive, a person decides
    paused = wait_for("the canary to pause", lambda: (p := c.progression(service, "prod"))
                      .state == "paused" and p, timeout=90)
    assert paused.strategy == "canary" and paused.weight == 0.5
    assert "too little traffic" in paused.message
    assert _deployment(apis, f"{service}-canary").spec.replicas == 2  # 50%: 2 beside 2
    _routes_to(apis, service, {_label(apis, service): 2, v2: 2})
    c.act_on_rollout(service, "prod", action, comment="checked by hand")
    image = APP[2] if action == "promote" else APP[1]
    wait_for(f"the {action} to land", lambda: _deployment(apis, f"{service}-canary") is None
             and _deployment(apis, service).spec.template.spec.containers[0].image == image,
             timeout=90)
    done = c.progression(service, "prod")
    assert done.state == ("succeeded" if action == "promote" else "aborted")
    assert _service(apis, service).spec.selector == {"app.kubernetes.io/name": service}


def _label(apis: dict[str, Any], service: str) -> str:
    return str(_deployment(apis, service).metadata.labels["goldenpath.dev/release"])
