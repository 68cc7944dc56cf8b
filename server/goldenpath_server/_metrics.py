"""The platform's own figures for Prometheus, split by track (model, app).

Folded incrementally from the audit trail by _figures (a scrape reads only the events added
since the last one): deployment frequency, lead time, validation to production, change
failure rate (rollbacks, failed rollouts and aborted progressive rollouts per rollout
started), time to restore, production releases per service, model autonomy, governance and
policy compliance. The definitions are in _figures' docstring."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, SummaryMetricFamily
from sqlalchemy.orm import Session

from goldenpath_server._figures import Snapshot, figures_for

_TRACK_ENV = ["track", "environment"]


def render(db: Session, production: str) -> bytes:
    """Prometheus text exposition of the platform's figures (`production`: the last
    environment on the path, where lead time ends)."""
    registry = CollectorRegistry()
    registry.register(_Collector(figures_for(db).refresh(db, production)))  # type: ignore[arg-type]
    return generate_latest(registry)


class _Collector:
    def __init__(self, figures: Snapshot) -> None:
        self.f = figures

    def collect(self) -> Iterator[Any]:
        yield from self._changes()
        yield from self._durations()
        yield from self._production()
        yield from self._policies()

    def _changes(self) -> Iterator[Any]:
        f = self.f
        deployments = CounterMetricFamily(
            "goldenpath_deployments", "Rollouts started (promotions, deploys and rollbacks); "
            "rate() of it is the deployment frequency", labels=_TRACK_ENV)
        rollbacks = CounterMetricFamily("goldenpath_rollbacks", "Rollbacks started",
                                        labels=_TRACK_ENV)
        failures = CounterMetricFamily(
            "goldenpath_rollout_failures", "Rollouts that failed (kind=failed) and "
            "progressive rollouts aborted (kind=aborted); rollbacks are counted apart",
            labels=[*_TRACK_ENV, "kind"])
        rate = GaugeMetricFamily(
            "goldenpath_change_failure_rate", "(rollbacks + failed rollouts + aborted "
            "progressive rollouts) / rollouts started", labels=_TRACK_ENV)
        for key, count in sorted(f.started.items()):
            deployments.add_metric(list(key), count)
            rollbacks.add_metric(list(key), f.rollbacks.get(key, 0))
            failures.add_metric([*key, "failed"], f.failed.get(key, 0))
            failures.add_metric([*key, "aborted"], f.aborted.get(key, 0))
            rate.add_metric(list(key), f.failures(key) / count)
        yield from (deployments, rollbacks, failures, rate)

    def _durations(self) -> Iterator[Any]:
        for name, source, text in (
                ("goldenpath_lead_time_seconds", self.f.lead,
                 "From release created to first live in production"),
                ("goldenpath_validation_to_production_seconds", self.f.validation,
                 "From a release passing its policies with its evidence (its first policy "
                 "evaluation that did not fail, else its creation) to first live in "
                 "production"),
                ("goldenpath_time_to_restore_seconds", self.f.restore,
                 "From a rollback started to live again")):
            summary = SummaryMetricFamily(name, text, labels=["track"])
            for track, values in sorted(source.items()):
                summary.add_metric([track], count_value=len(values), sum_value=sum(values))
            yield summary

    def _production(self) -> Iterator[Any]:
        releases = CounterMetricFamily(
            "goldenpath_production_releases", "Releases live in production for the first "
            "time, per service; rate() of it is the model update frequency",
            labels=["track", "service"])
        for key, count in sorted(self.f.production_releases.items()):
            releases.add_metric(list(key), count)
        yield releases
        done, total = self.f.autonomy
        autonomy = GaugeMetricFamily(
            "goldenpath_model_autonomy_ratio", "Share of model releases live in production "
            "on which nobody outside the service's team acted except approvers (every "
            "actor of the release's events up to production is its submitter, a member "
            "of the team or an approver of it)")
        if total:
            autonomy.add_metric([], done / total)
        yield autonomy
        compliance = GaugeMetricFamily(
            "goldenpath_governance_compliance_ratio", "Share of production promotions "
            "whose policies all passed (no warn-only failure, switch checks included)",
            labels=["track"])
        for track, (ok, count) in sorted(self.f.compliance.items()):
            compliance.add_metric([track], ok / count)
        yield compliance

    def _policies(self) -> Iterator[Any]:
        evaluations = CounterMetricFamily("goldenpath_policy_evaluations",
                                          "Policy evaluations by outcome (pass, warn, fail)",
                                          labels=[*_TRACK_ENV, "outcome"])
        compliance = GaugeMetricFamily("goldenpath_policy_compliance_ratio",
                                       "Share of policy evaluations without an enforced "
                                       "failure", labels=["track"])
        totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for (track, env, outcome), count in sorted(self.f.policies.items()):
            evaluations.add_metric([track, env, outcome], count)
            totals[track][0] += count if outcome != "fail" else 0
            totals[track][1] += count
        for track, (passed, total) in sorted(totals.items()):
            compliance.add_metric([track], passed / total)
        yield from (evaluations, compliance)


def render_drift(latest: dict[tuple[str, str], dict[str, Any]]) -> bytes:
    """Gauges of each monitored deployment's newest drift window (kept in memory by
    _monitoring: a scrape reads no table)."""
    registry = CollectorRegistry()
    registry.register(_DriftCollector(dict(latest)))  # type: ignore[arg-type]
    return generate_latest(registry)


class _DriftCollector:
    def __init__(self, latest: dict[tuple[str, str], dict[str, Any]]) -> None:
        self.latest = latest

    def collect(self) -> Any:
        score = GaugeMetricFamily("goldenpath_drift_score", "The newest window's drift score "
                                  "per feature (the test's statistic or distance)",
                                  labels=["service", "environment", "feature"])
        detected = GaugeMetricFamily("goldenpath_drift_detected", "1 when the newest window "
                                     "drifted on some feature or the prediction",
                                     labels=["service", "environment"])
        for (service, environment), window in sorted(self.latest.items()):
            detected.add_metric([service, environment], 1.0 if window["status"] == "drift" else 0.0)
            for feature, value in sorted((window.get("scores") or {}).items()):
                if value is not None:
                    score.add_metric([service, environment, feature], float(value))
        yield from (score, detected)
