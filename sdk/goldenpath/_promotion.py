"""A promotion waiting for approval, as the user holds it: approve, reject, wait."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from goldenpath._client import Client
from goldenpath.errors import Conflict, DeploymentFailed
from goldenpath_api import models
from goldenpath_api.rules import REJECTED, WAITING


class Promotion:
    """A release asked into an environment that needs approvals before it rolls out.

    `deployment` makes the Deployment it becomes once live (given by whoever holds the
    Deployment class: this module never imports it, so the two do not import each other).
    `state` is the server's answer as the API contract types it, refreshed by refresh()."""

    def __init__(self, client: Client, state: models.Promotion,
                 deployment: Callable[[models.Deployment], Any]) -> None:
        self._client = client
        self.state = state
        self._deployment = deployment

    @property
    def id(self) -> str:
        return self.state.id

    @property
    def service(self) -> str:
        return self.state.service

    @property
    def environment(self) -> str:
        return self.state.environment

    @property
    def release_id(self) -> str:
        return self.state.release_id

    @property
    def status(self) -> str:
        return self.state.status

    @property
    def version(self) -> int:
        """The version of the release waiting."""
        return self.state.release_version

    @property
    def requested_by(self) -> str:
        return self.state.requested_by

    @property
    def required_approvals(self) -> int:
        return self.state.required_approvals

    @property
    def approvals_missing(self) -> int:
        """How many more approvals it needs before it rolls out."""
        granted = sum(a.get("decision") == "approve" for a in self.approvals)
        return max(0, self.required_approvals - granted)

    @property
    def policy_outcome(self) -> str:
        """What the environment's policies said about the release (pass, warn, fail)."""
        return self.state.policy_outcome

    @property
    def approvals(self) -> list[dict[str, Any]]:
        return [a.model_dump(mode="json") for a in self.state.approvals]

    @property
    def policy_results(self) -> list[dict[str, Any]]:
        return [r.model_dump(mode="json") for r in self.state.policy_results]

    def refresh(self) -> Promotion:
        """Read the promotion's state on the server again."""
        self.state = self._client.promotion(self.id)
        return self

    def approve(self, comment: str = "", wait: bool = True) -> Any:
        """Approve as the configured user; returns the live Deployment once enough approvals
        are in (or this Promotion while it still waits for more)."""
        return self._decide("approve", comment, wait)

    def reject(self, comment: str = "") -> Promotion:
        self._decide("reject", comment, False)
        return self.refresh()

    def wait(self, timeout: float = 3600.0) -> Any:
        """Block until the promotion is decided: the live Deployment, or Conflict if rejected.

        Follows the service's event stream: it wakes on this promotion's approvals,
        rejection and rollout, and reads the promotion's state when the stream (re)opens."""

        def decided(event: dict[str, Any] | None) -> bool | None:
            if event is not None and (event.get("data") or {}).get("promotion_id") != self.id:
                return None
            return True if self.refresh().status != WAITING else None

        self._client.follow(self.service, None, decided, timeout=timeout, expired=lambda: (
            DeploymentFailed(f"{self.service} still waits for approval in {self.environment} "
                             f"after {timeout:.0f}s", "ask an approver: goldenpath approve "
                             f"{self.service} --env {self.environment}")))
        return self._live()

    def _decide(self, decision: str, comment: str, wait: bool) -> Any:
        decided = self._client.decide(self.release_id, self.environment, decision, comment)
        if isinstance(decided, models.Deployment):  # enough approvals: it is rolling out
            return self._live(wait)
        self.state = decided
        return self

    def _live(self, wait: bool = True) -> Any:
        if self.status == REJECTED:
            raise Conflict(f"{self.service} was rejected for {self.environment}",
                           "read the approvers' comments: p.approvals")
        live = (self._client.wait(self.service, self.environment, timeout=3600.0,
                                  release_id=self.release_id) if wait
                else self._client.status(self.service, self.environment))
        return self._deployment(live)

    def __repr__(self) -> str:
        return (f"<Promotion {self.service} v{self.version} → "
                f"{self.environment}: {self.status} ({len(self.approvals)}/"
                f"{self.required_approvals} approvals)>")

    def _repr_html_(self) -> str:
        rows = "".join(f"<li>{html.escape(a['user'])} {html.escape(a['decision'])}d"
                       f"{': ' + html.escape(a['comment']) if a.get('comment') else ''}</li>"
                       for a in self.approvals)
        failing = "".join(f"<li>{html.escape(r['name'])} ({r['action']}): "
                          f"{html.escape(r.get('message', ''))}</li>"
                          for r in self.policy_results if not r["passed"])
        return (f"<div style='border:1px solid #ccc;border-radius:6px;padding:8px;"
                f"display:inline-block'><b>{html.escape(self.service)}</b> → "
                f"{html.escape(self.environment)} · <span style='color:#9a6700'>"
                f"{html.escape(self.status.replace('_', ' '))}</span> "
                f"({len(self.approvals)}/{self.required_approvals} approvals)"
                f"<ul>{rows}</ul>{'<b>warnings</b><ul>' + failing + '</ul>' if failing else ''}"
                f"<code>goldenpath approve {html.escape(self.service)} --env "
                f"{html.escape(self.environment)}</code></div>")
