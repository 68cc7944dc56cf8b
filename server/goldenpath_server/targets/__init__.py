"""Targets bring a release live somewhere: the local process target (the embedded default)
and, where configured, Kubernetes. Adding a target touches this folder only."""

from goldenpath_server.targets._base import Rollout, RolloutInterrupted, Target, TargetError
from goldenpath_server.targets._sandbox import Sandbox, SandboxUnavailable
from goldenpath_server.targets.local import LocalProcessTarget

__all__ = ["LocalProcessTarget", "Rollout", "RolloutInterrupted", "Sandbox",
           "SandboxUnavailable", "Target", "TargetError"]
