"""A progressive rollout as the user holds it (canary, shadow, blue-green,
champion/challenger): where it stands, and pause, resume, promote, abort."""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from typing import Any

from goldenpath._client import Client
from goldenpath_api import models


class Rollout:
    """The latest progressive rollout of a service in an environment. `state` is the
    server's answer, typed (goldenpath_api.models.Progression), refreshed by refresh()."""

    def __init__(self, client: Client, state: models.Progression) -> None:
        self._client = client
        self.state = state

    @property
    def strategy(self) -> str:
        return self.state.strategy

    @property
    def status(self) -> str:
        """starting, progressing, paused, succeeded or aborted."""
        return self.state.state

    @property
    def weight(self) -> float:
        """The share of requests the candidate answers now."""
        return self.state.weight

    @property
    def message(self) -> str:
        return self.state.message

    @property
    def windows(self) -> list[models.AnalysisWindow]:
        """Each analysis so far, oldest first: per-variant measurements and the verdict."""
        return self.state.windows

    def refresh(self) -> Rollout:
        self.state = self._client.progression(self.state.service, self.state.environment)
        return self

    def pause(self, comment: str = "") -> Rollout:
        """Hold the current step (traffic stays as it is) until resume()."""
        return self._act("pause", comment)

    def resume(self, comment: str = "") -> Rollout:
        return self._act("resume", comment)

    def promote(self, comment: str = "") -> Rollout:
        """Skip the remaining steps: all traffic to the candidate now."""
        return self._act("promote", comment)

    def abort(self, comment: str = "") -> Rollout:
        """All traffic back to the stable release; the candidate goes."""
        return self._act("abort", comment)

    def send_outcomes(self, outcomes: Mapping[str, Any] | Iterable[tuple[str, Any]]
                      ) -> models.OutcomeReceipt:
        """Ground truth for earlier answers: {request id: true label or value} (the
        X-Request-Id header of each answer; a list of values for a many-row request). Each
        variant is scored on them (accuracy, AUC, RMSE: .state.ground_truth), and an
        experiment set to decide on that metric ends on it."""
        pairs = list(outcomes.items() if isinstance(outcomes, Mapping) else outcomes)
        receipt = self._client.send_outcomes(self.state.service, self.state.environment, pairs)
        self.refresh()
        return receipt

    def _act(self, action: str, comment: str) -> Rollout:
        self.state = self._client.act_on_rollout(self.state.service, self.state.environment,
                                                 action, comment)
        return self

    def __repr__(self) -> str:
        s = self.state
        return (f"<Rollout {s.strategy} of {s.service} v{s.candidate_version} in "
                f"{s.environment}: {s.state}, {s.weight:.0%} to the candidate — {s.message}>")

    def _repr_html_(self) -> str:
        s = self.state
        rows = "".join(
            f"<tr><td>{w.step + 1}</td><td>{w.weight:.0%}</td><td>{w.stable.requests}</td>"
            f"<td>{w.candidate.requests}</td><td>{_rate(w.candidate.error_rate)}</td>"
            f"<td>{_ms(w.stable.latency_ms.p99)} / {_ms(w.candidate.latency_ms.p99)}</td>"
            f"<td>{_rate(w.paired.agreement)}</td><td>{html.escape(w.verdict)}"
            f"{': ' + html.escape('; '.join(w.reasons)) if w.reasons else ''}</td></tr>"
            for w in s.windows)
        return (f"<div style='border:1px solid #ccc;border-radius:6px;padding:8px'>"
                f"<b>{html.escape(s.strategy)}</b> of {html.escape(s.service)} "
                f"v{s.candidate_version} in {html.escape(s.environment)} · "
                f"<b>{html.escape(s.state)}</b> · {s.weight:.0%} to the candidate<br>"
                f"{html.escape(s.message)}<table><tr><th>step</th><th>weight</th>"
                f"<th>stable req</th><th>candidate req</th><th>errors</th>"
                f"<th>p99 stable / candidate</th><th>agreement</th><th>verdict</th></tr>"
                f"{rows}</table></div>")


def _rate(value: Any) -> str:
    return "–" if value is None else f"{value:.1%}"


def _ms(value: Any) -> str:
    return "–" if value is None else f"{value:.0f} ms"
