"""The platform team's one config file: environments, where each delivers, what it demands.

    # goldenpath.yaml (GOLDENPATH_CONFIG)
    environments:
      dev:     {target: local}
      staging: {target: kubernetes, context: kwok-gp, namespace: gp-staging}
      prod:    {target: kubernetes, namespace: gp-prod, approvals: 1}

Without a file, dev, staging and prod all use the local process target.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from goldenpath.errors import ConfigurationError


class EnvironmentConfig(BaseModel):
    """One environment: its target and the controls it enforces."""

    model_config = ConfigDict(extra="allow")

    target: str = "local"  # local | kubernetes
    context: str = ""  # kubeconfig context (kubernetes)
    namespace: str = ""  # namespace (kubernetes); default gp-<environment>
    kubeconfig: str = ""  # path; default: $KUBECONFIG / ~/.kube/config
    approvals: int = 0  # approvals needed before a release goes live here
    policies: dict[str, Any] = Field(default_factory=dict)


class PlatformConfig(BaseModel):
    model_config = ConfigDict(extra="allow")

    environments: dict[str, EnvironmentConfig] = Field(default_factory=dict)


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
    if not config.environments:
        raise ConfigurationError(f"platform config {path} defines no environments",
                                 "add an `environments:` mapping")
    return config
