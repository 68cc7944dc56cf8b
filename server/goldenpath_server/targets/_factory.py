"""Build each environment's target from the platform's config (the composition root calls it)."""

from __future__ import annotations

import threading
from pathlib import Path

import goldenpath_serving
from goldenpath_api.errors import ConfigurationError
from goldenpath_api.rules import DIGEST_IMAGE
from goldenpath_server._environments import EnvironmentConfig, PlatformConfig
from goldenpath_server._settings import Settings
from goldenpath_server.targets._base import Target
from goldenpath_server.targets._sandbox import Sandbox
from goldenpath_server.targets._warm import WORKER_SCRIPT
from goldenpath_server.targets.local import LocalProcessTarget


def make_targets(settings: Settings, config: PlatformConfig,
                 stopping: threading.Event) -> dict[str, Target]:
    """One target per environment; local environments share one LocalProcessTarget."""
    local: LocalProcessTarget | None = None
    targets: dict[str, Target] = {}
    for name, env in config.environments.items():
        if env.target == "local":
            local = local or LocalProcessTarget(
                settings.runtime_dir, _sandbox(settings, config), settings.rollout_timeout_s,
                stopping=stopping, warm=settings.local_warm_worker,
                warm_preload=settings.local_warm_preload)
            targets[name] = local
        elif env.target == "kubernetes":
            targets[name] = _kubernetes_target(settings, name, env, stopping)
        else:
            raise ConfigurationError(f"environment {name!r} has unknown target "
                                     f"{env.target!r}", "use `local` or `kubernetes`")
    return targets


def _sandbox(settings: Settings, config: PlatformConfig) -> Sandbox:
    """The local serving processes' sandbox, hiding every server file they could read."""
    sqlite = settings.sqlite_path()
    hidden = [p for p in (settings.config, sqlite,
                          *(Path(e.kubeconfig) for e in config.environments.values()
                            if e.kubeconfig)) if p is not None]
    if sqlite is not None:  # with its -wal and -shm files
        hidden.append(sqlite.parent)
    # the zygote preloads the installed runtime's imports (its code is not secret)
    runtime = Path(goldenpath_serving.__file__).parent
    sandbox = Sandbox.detect(settings.sandbox, settings.home, hidden,
                             extra_ro=[WORKER_SCRIPT, runtime])
    sandbox.announce()
    return sandbox


def _kubernetes_target(settings: Settings, name: str, env: EnvironmentConfig,
                       stopping: threading.Event) -> Target:
    from goldenpath_server.targets.kubernetes import KubernetesTarget, TemplateSettings

    if not DIGEST_IMAGE.match(env.runtime_image):
        raise ConfigurationError(
            f"environment {name!r} delivers to Kubernetes but its runtime_image "
            f"{env.runtime_image!r} is not an image pinned by digest",
            "build it with scripts/image/build.sh runtime (docs/kubernetes.md) and set "
            "runtime_image: REGISTRY/IMG@sha256:...")
    template = TemplateSettings(
        namespace=env.namespace or f"gp-{name}", runtime_image=env.runtime_image,
        bundle_base_url=env.bundle_base_url or settings.public_url(),
        replicas=env.replicas, public_url=env.public_url, ingress_class=env.ingress_class,
        runtime_images=dict(env.runtime_images), gateway=env.gateway,
        traffic=env.traffic, router_cpu=env.router_cpu, router_memory=env.router_memory,
        max_replicas=env.max_replicas)
    return KubernetesTarget(template, kubeconfig=env.kubeconfig, context=env.context,
                            stopping=stopping, rollout_timeout_s=settings.rollout_timeout_s,
                            unschedulable_grace_s=env.unschedulable_grace_s)
