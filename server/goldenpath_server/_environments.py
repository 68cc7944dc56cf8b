"""The platform team's one config file: environments, where each delivers, what it demands.

    # goldenpath.yaml (GOLDENPATH_CONFIG)
    environments:
      dev:     {target: local}
      staging: {target: kubernetes, context: kwok-gp, namespace: gp-staging}
      prod:    {target: kubernetes, namespace: gp-prod, approvals: 1}

Without a file, dev, staging and prod all use the local process target, the default policy
set warns and nothing needs approval. `policies:` per environment picks each rule's action
and the thresholds the rules compare against (see docs/examples/platform/goldenpath.yaml).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from goldenpath_api.errors import ConfigurationError, NotFound
from goldenpath_server._outbound import LOOPBACK, Outbound
from goldenpath_server._strategies import DeliveryConfig
from goldenpath_server.monitoring._config import MonitoringConfig

if TYPE_CHECKING:
    from goldenpath_server.targets import Target

_ENV_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_VAR_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
_QUANTITY = r"^[0-9]+(\.[0-9]+)?(m|k|M|G|Ki|Mi|Gi)?$"  # a Kubernetes CPU or memory amount


class MetricThreshold(BaseModel):
    name: str = ""  # "" = this environment sets no metric threshold
    min: float = 0.0


class EnvironmentPolicies(BaseModel):
    """What an environment demands of releases (the `policies:` field)."""

    model_config = ConfigDict(extra="forbid")

    default_action: Literal["enforce", "warn", "off"] = "warn"
    actions: dict[str, Literal["enforce", "warn", "off"]] = Field(default_factory=dict)
    budget_usd: float = 0.0  # monthly; 0 = no budget
    metric: MetricThreshold = Field(default_factory=MetricThreshold)


class Pricing(BaseModel):
    """Monthly prices used to estimate a release's cost (resources x replicas)."""

    cpu_month_usd: float = 30.0
    memory_gb_month_usd: float = 4.0


class Webhook(BaseModel):
    url: str
    secret: SecretStr = SecretStr("")  # HMAC-SHA256 key for X-Goldenpath-Signature
    events: list[str] = Field(default_factory=list)  # event types; empty = all


class EnvironmentConfig(BaseModel):
    """One environment: its target and the controls it enforces."""

    model_config = ConfigDict(extra="allow")

    target: str = "local"  # local | kubernetes
    context: str = ""  # kubeconfig context (kubernetes)
    namespace: str = ""  # namespace (kubernetes); default gp-<environment>
    kubeconfig: str = ""  # path; default: $KUBECONFIG / ~/.kube/config
    runtime_image: str = ""  # kubernetes: the serving runtime image, pinned by digest
    bundle_base_url: str = ""  # kubernetes: the server URL pods fetch bundles from
    replicas: int = 2  # kubernetes: replicas per release (the HPA may add more)
    # kubernetes: how users outside the cluster reach a service, e.g.
    # https://{service}.models.example.com (an Ingress is made for its host); empty: the API
    # server's service proxy, with the user's kubeconfig
    public_url: str = ""
    ingress_class: str = ""  # kubernetes: that Ingress's class; empty: the cluster default
    # kubernetes: a Gateway API Gateway ("NAME" or "NAMESPACE/NAME"): an HTTPRoute to it
    # splits and mirrors requests per request in progressive rollouts
    gateway: str = ""
    # kubernetes without a gateway: how a progressive rollout splits traffic, by the replica
    # ratio behind the Service (connections) or by the goldenpath router in front of both
    # releases (requests; it also compares both answers, for agreement and outcomes).
    # Shadow goes through the router either way.
    traffic: Literal["replicas", "router"] = "replicas"
    # kubernetes: each router pod's CPU and memory (Kubernetes quantities: 500m, 1, 256Mi)
    router_cpu: str = Field(default="200m", pattern=_QUANTITY)
    router_memory: str = Field(default="128Mi", pattern=_QUANTITY)
    max_replicas: int = Field(default=4, ge=1)  # kubernetes: the HPA's ceiling per release
    # kubernetes: runtime image variants by a package the bundle pins ({"torch": REF})
    runtime_images: dict[str, str] = Field(default_factory=dict)
    # kubernetes: how long pods no node can take may wait before the rollout fails (with a
    # cluster autoscaler: the time a new node takes)
    unschedulable_grace_s: float = 10.0
    approvals: int = 0  # approvals needed before a release goes live here
    # how releases go live here: the default strategy, the allowed ones, their steps and
    # the analysis thresholds (_strategies.py)
    delivery: DeliveryConfig = Field(default_factory=DeliveryConfig)
    policies: EnvironmentPolicies = Field(default_factory=EnvironmentPolicies)
    # what is logged of live traffic and how drift is judged (monitoring/_config.py)
    monitoring: MonitoringConfig = Field(default_factory=MonitoringConfig)
    # variables of the server's environment its serving processes get (by name; nothing
    # else of the server's environment reaches them)
    serving_env: list[str] = Field(default_factory=list,
                                   json_schema_extra={"items": {"pattern": _VAR_NAME}})


class PlatformConfig(BaseModel):
    model_config = ConfigDict(extra="allow")

    environments: dict[str, EnvironmentConfig] = Field(default_factory=dict)
    policy_files: list[Path] = Field(default_factory=list)  # default: [builtin]
    pricing: Pricing = Field(default_factory=Pricing)
    webhooks: list[Webhook] = Field(default_factory=list)
    # hosts or networks the server may call although they are loopback or link-local
    # (webhooks, MLflow; see _outbound.py). The embedded default allows loopback.
    outbound_allow: list[str] = Field(default_factory=list)

    def outbound(self) -> Outbound:
        return Outbound(self.outbound_allow)


def load_platform_config(path: Path | None, default_environments: list[str]) -> PlatformConfig:
    """Read the platform config file (or the default: every environment local)."""
    if path is None:  # the embedded default: one machine, so loopback is where things are
        return PlatformConfig(environments={e: EnvironmentConfig() for e in default_environments},
                              outbound_allow=LOOPBACK)
    try:
        raw = yaml.safe_load(path.read_text()) or {}
        config = PlatformConfig.model_validate(raw)
    except FileNotFoundError:
        raise ConfigurationError(f"platform config {path} does not exist",
                                 "fix GOLDENPATH_CONFIG or create the file") from None
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"platform config {path} is not valid YAML: {exc}",
                                 "see docs/governance.md for the format") from None
    except ValidationError as exc:  # without the values: the file holds secrets
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                             for e in exc.errors(include_input=False, include_url=False))
        raise ConfigurationError(f"platform config {path} is invalid: {problems}",
                                 "see docs/governance.md for the format") from None
    config.policy_files = [p if p.is_absolute() or str(p) == "builtin" else path.parent / p
                           for p in config.policy_files]
    if not config.environments:
        raise ConfigurationError(f"platform config {path} defines no environments",
                                 "add an `environments:` mapping")
    bad = [n for n in config.environments if not _ENV_NAME.match(n)]
    if bad:
        raise ConfigurationError(f"platform config {path}: environment name {bad[0][:80]!r} is "
                                 "not allowed", "use lowercase letters, digits and '-' (at "
                                 "most 63): it becomes part of URLs and Kubernetes names")
    for name, env in config.environments.items():
        wrong = [v for v in env.serving_env if not re.match(_VAR_NAME, v)]
        if wrong:
            raise ConfigurationError(f"platform config {path}: {name}.serving_env names "
                                     f"{wrong[0][:80]!r}, which is not a variable name",
                                     "list the names of the server's environment variables")
    outbound = config.outbound()
    for hook in config.webhooks:
        outbound.check_url(hook.url, "webhook")
    return config


class Environments:
    """The promotion path: each environment, in promotion order, with its config and the
    target that delivers to it."""

    def __init__(self, config: PlatformConfig, targets: dict[str, Target]) -> None:
        self.config = config
        self.targets = targets

    @property
    def names(self) -> list[str]:
        return list(self.targets)

    def check(self, environment: str) -> None:
        if environment not in self.targets:
            raise NotFound(f"unknown environment {environment!r}",
                           f"use one of: {', '.join(self.targets)}")

    def target(self, environment: str) -> Target:
        self.check(environment)
        return self.targets[environment]

    def get(self, environment: str) -> EnvironmentConfig:
        self.check(environment)
        return self.config.environments.get(environment) or EnvironmentConfig()

    def previous(self, environment: str) -> str:
        """The environment before `environment` on the path ("" for the first)."""
        path = list(self.config.environments)
        at = path.index(environment) if environment in path else 0
        return path[at - 1] if at > 0 else ""

    def cannot_run(self, environment: str) -> dict[str, str]:
        """Per release kind, why the environment's target cannot run it (none: it can)."""
        return dict(getattr(self.targets.get(environment), "cannot_run", {}))

    def strategies(self, environment: str) -> list[str]:
        """The delivery strategies `environment` allows that its target can run."""
        supported = getattr(self.targets.get(environment), "strategies", ("rolling",))
        return [s for s in self.get(environment).delivery.allowed if s in supported]

    def restore_role(self, environment: str) -> str:
        """Rolling back or removing needs approver rights where promotions need approvals."""
        return "approver" if self.get(environment).approvals else "submitter"

    def views(self) -> list[dict[str, Any]]:
        """Each environment in promotion order, with the controls it enforces."""
        return [{"name": name, "target": env.target, "approvals": env.approvals,
                 "policies": env.policies.model_dump(), "cannot_run": self.cannot_run(name),
                 "delivery": {"default": env.delivery.default,
                              "allowed": self.strategies(name)}}
                for name, env in self.config.environments.items()]

    def stop_all(self) -> None:
        for target in set(self.targets.values()):
            target.close()
