"""The platform's own figures for Prometheus, split by track (model, app).

From the audit trail: deployment frequency (promotions started), lead time from release to
production, change failure rate (rollbacks per deployment), time to restore (rollback start
to live again), and policy compliance (evaluations that passed)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, SummaryMetricFamily
from sqlalchemy import select
from sqlalchemy.orm import Session

from goldenpath_server._db import EventRow, ReleaseRow

_TYPES = ("promotion_started", "rollback_started", "rollout_succeeded", "rollout_failed",
          "policy_evaluated")


def render(db: Session, production: str) -> bytes:
    """Prometheus text exposition of the platform's figures (`production`: the last
    environment on the path, where lead time ends)."""
    registry = CollectorRegistry()
    registry.register(_Collector(_figures(db, production)))  # type: ignore[arg-type]
    return generate_latest(registry)


def _seconds(later: datetime, earlier: datetime) -> float:
    return (_aware(later) - _aware(earlier)).total_seconds()


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _figures(db: Session, production: str) -> dict[str, Any]:
    events = db.execute(select(EventRow.type, EventRow.service, EventRow.environment,
                               EventRow.release_id, EventRow.at, EventRow.data)
                        .where(EventRow.type.in_(_TYPES)).order_by(EventRow.seq)).all()
    ids = {e.release_id for e in events if e.release_id}
    releases: dict[str, tuple[str, datetime]] = {}
    id_list = sorted(ids)
    for start in range(0, len(id_list), 900):
        for rid, kind, created in db.execute(select(ReleaseRow.id, ReleaseRow.kind,
                                                    ReleaseRow.created_at)
                                             .where(ReleaseRow.id.in_(id_list[start:start + 900]))):
            releases[rid] = (kind, created)
    deployments: dict[tuple[str, str], int] = defaultdict(int)
    rollbacks: dict[tuple[str, str], int] = defaultdict(int)
    policies: dict[tuple[str, str, str], int] = defaultdict(int)
    lead: dict[str, list[float]] = defaultdict(list)
    restore: dict[str, list[float]] = defaultdict(list)
    first_live: set[str] = set()
    restoring: dict[tuple[str, str], datetime] = {}
    for e in events:
        if e.release_id not in releases:
            continue
        kind, created = releases[e.release_id]
        key = (kind, e.environment)
        if e.type == "promotion_started":
            deployments[key] += 1
        elif e.type == "rollback_started":
            deployments[key] += 1
            rollbacks[key] += 1
            restoring.setdefault((e.service, e.environment), e.at)
        elif e.type == "rollout_succeeded":
            began = restoring.pop((e.service, e.environment), None)
            if began is not None:
                restore[kind].append(_seconds(e.at, began))
            if e.environment == production and e.release_id not in first_live:
                first_live.add(e.release_id)
                lead[kind].append(_seconds(e.at, created))
        elif e.type == "policy_evaluated":
            policies[(kind, e.environment, str((e.data or {}).get("outcome", "")))] += 1
    return {"deployments": deployments, "rollbacks": rollbacks, "policies": policies,
            "lead": lead, "restore": restore}


class _Collector:
    def __init__(self, figures: dict[str, Any]) -> None:
        self.f = figures

    def collect(self) -> Any:
        deployments = CounterMetricFamily(
            "goldenpath_deployments", "Releases rolled out (promotions and rollbacks); "
            "rate() of it is the deployment frequency", labels=["track", "environment"])
        rollbacks = CounterMetricFamily("goldenpath_rollbacks", "Rollbacks started",
                                        labels=["track", "environment"])
        failure = GaugeMetricFamily("goldenpath_change_failure_rate",
                                    "Rollbacks per deployment", labels=["track", "environment"])
        for key, count in sorted(self.f["deployments"].items()):
            deployments.add_metric(list(key), count)
            rolled = self.f["rollbacks"].get(key, 0)
            rollbacks.add_metric(list(key), rolled)
            failure.add_metric(list(key), rolled / count)
        yield from (deployments, rollbacks, failure)
        for name, source, text in (
                ("goldenpath_lead_time_seconds", "lead",
                 "From release created to first live in production"),
                ("goldenpath_time_to_restore_seconds", "restore",
                 "From a rollback started to live again")):
            summary = SummaryMetricFamily(name, text, labels=["track"])
            for track, values in sorted(self.f[source].items()):
                summary.add_metric([track], count_value=len(values), sum_value=sum(values))
            yield summary
        evaluations = CounterMetricFamily("goldenpath_policy_evaluations",
                                          "Policy evaluations by outcome (pass, warn, fail)",
                                          labels=["track", "environment", "outcome"])
        compliance = GaugeMetricFamily("goldenpath_policy_compliance_ratio",
                                       "Share of policy evaluations without an enforced "
                                       "failure", labels=["track"])
        totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for (track, env, outcome), count in sorted(self.f["policies"].items()):
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
