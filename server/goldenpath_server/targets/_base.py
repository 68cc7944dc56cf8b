"""The Target interface every delivery target implements."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


class TargetError(Exception):
    """A target could not bring a release live; the message is shown to the user as-is.

    `code` names the kind of failure for clients (parity_failed: the release answered the
    notebook's sample differently; load_failed, predict_failed: its model raised), with
    `details` (the rows that differ, where in the user's code)."""

    def __init__(self, message: str, code: str = "deployment_failed",
                 details: dict[str, Any] | None = None,
                 state: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.details = details or {}
        # what the failed attempt left that the deployment must remember: its log
        # (`failed_log`, for `goldenpath logs`), the objects it created (so that deleting
        # the deployment removes them)
        self.state = state or {}


def app_shadow_refused() -> TargetError:
    """Why an app is not shadowed, on every target: its requests are never copied, since a
    second POST could repeat a side effect (an order, a payment)."""
    return TargetError("a shadow rollout copies every request to the candidate, which could "
                       "repeat an app's side effects", code="configuration_error",
                       details={"hint": "roll apps out with --strategy canary (or "
                                        "blue-green); shadow is for models"})


class RolloutInterrupted(Exception):
    """The server is shutting down mid-rollout; the next start follows the rollout up."""


@dataclass
class Rollout:
    """What a target needs to run one release of one service in one environment."""

    service: str
    environment: str
    release_id: str
    kind: str  # model | app
    bundle_dir: Path | None = None
    digest: str = ""
    image: str = ""
    port: int = 3000
    team: str = ""
    spec: dict[str, Any] = field(default_factory=dict)
    # what the environment's config grants its serving processes by name (serving_env:)
    serving_env: dict[str, str] = field(default_factory=dict)
    # the notebook's sample and predictions ({"inputs", "outputs"}) to replay before traffic
    parity: dict[str, Any] | None = None
    # an app's request counters: {path, requests, duration, status_label} (monitoring's
    # app_metrics); None: a model's, its serving runtime's own
    metrics: dict[str, str] | None = None

    @property
    def key(self) -> str:
        return f"{self.service}.{self.environment}"


Progress = Callable[[str], None]


class Target(Protocol):
    name: str
    # release kinds (model, app) it cannot run here, each with why and what to do; the
    # platform refuses their promotion before anything starts
    cannot_run: dict[str, str]

    def deploy(self, rollout: Rollout, state: dict[str, Any], progress: Progress
               ) -> dict[str, Any]:
        """Bring `rollout` live, replacing what `state` describes; return the new state.

        The returned state must carry "url", and "parity" (the result of _parity.verify)
        when the target replayed `rollout.parity` against the new release itself. Raise
        TargetError with the reason on failure, leaving the previous release serving."""

    def adopt(self, rollout: Rollout, state: dict[str, Any], progress: Progress
              ) -> dict[str, Any]:
        """After a server restart: take over what `state` describes, or start it again."""

    def health(self, state: dict[str, Any]) -> tuple[bool, str]:
        """Is the release described by `state` serving? (ok, reason)"""

    def logs(self, state: dict[str, Any], tail: int) -> list[str]: ...

    def stop(self, state: dict[str, Any]) -> None: ...

    def close(self) -> None: ...
