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

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from goldenpath.errors import ConfigurationError


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
    secret: str = ""  # HMAC-SHA256 key for X-Goldenpath-Signature
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
    approvals: int = 0  # approvals needed before a release goes live here
    policies: EnvironmentPolicies = Field(default_factory=EnvironmentPolicies)


class PlatformConfig(BaseModel):
    model_config = ConfigDict(extra="allow")

    environments: dict[str, EnvironmentConfig] = Field(default_factory=dict)
    policy_files: list[Path] = Field(default_factory=list)  # default: [builtin]
    pricing: Pricing = Field(default_factory=Pricing)
    webhooks: list[Webhook] = Field(default_factory=list)


def load_platform_config(path: Path | None, default_environments: list[str]) -> PlatformConfig:
    """Read the platform config file (or the default: every environment local)."""
    if path is None:
        return PlatformConfig(environments={e: EnvironmentConfig() for e in default_environments})
    try:
        raw = yaml.safe_load(path.read_text()) or {}
        config = PlatformConfig.model_validate(raw)
    except FileNotFoundError:
        raise ConfigurationError(f"platform config {path} does not exist",
                                 "fix GOLDENPATH_CONFIG or create the file") from None
    except (yaml.YAMLError, ValidationError) as exc:
        raise ConfigurationError(f"platform config {path} is invalid: {exc}",
                                 "see docs/configuration.md for the format") from None
    config.policy_files = [p if p.is_absolute() or str(p) == "builtin" else path.parent / p
                           for p in config.policy_files]
    if not config.environments:
        raise ConfigurationError(f"platform config {path} defines no environments",
                                 "add an `environments:` mapping")
    return config
