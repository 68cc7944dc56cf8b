"""SLOs of live deployments: each tick reads the serving runtime's own request counters
(BentoML's /metrics: requests, 5xx answers, answers slower than the latency threshold),
keeps the samples of the longest alert window, and evaluates the environment's objectives
with monitoring/_slo.py. An alert that starts or ends is an audit event (so a webhook):
`slo_alert` / `slo_resolved`; with `on_breach: rollback` a page rolls the deployment back to
the release before it, as the system. The burn rates go to /metrics as gauges.

Counters are read where the server reaches each process: the local target's own port.
Kubernetes deployments are left to the cluster's Prometheus and the same objectives as
alerting rules (docs/monitoring.md), since a pod proxy per pod per tick does not scale.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import requests
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

from goldenpath_server._store import Store
from goldenpath_server.monitoring._config import MonitoringConfig
from goldenpath_server.monitoring._slo import WINDOWS, Sample, evaluate, firing, parse_objectives
from goldenpath_server.targets._pod_metrics import MAX_METRICS_BYTES, parse

log = logging.getLogger("goldenpath.server")
Rollback = Callable[[str, str], object]  # (service, environment)


class SloWatch:
    def __init__(self, store: Store, rollback: Rollback | None = None) -> None:
        self.store = store
        self.rollback = rollback
        self._samples: dict[tuple[str, str], deque[Sample]] = {}
        self._firing: dict[tuple[str, str], dict[str, str]] = {}
        # the newest burn rates per deployment: {(service, env): [{slo, window, burn_rate}]}
        self.latest: dict[tuple[str, str], list[dict[str, Any]]] = {}

    def sample(self, service: str, environment: str, release_id: str, port: int | None,
               config: MonitoringConfig) -> None:
        key = (service, environment)
        if config.slo is False or not port:
            self.forget(key)
            return
        objectives = parse_objectives(config.slo or None)
        counted = _counters(f"http://127.0.0.1:{port}/metrics",
                            objectives.latency_threshold_ms / 1000.0)
        if counted is None:
            return
        horizon = max(WINDOWS.values()) * config.slo_window_scale * 1.1
        samples = self._samples.setdefault(key, deque())
        now = time.time()
        samples.append(Sample(now, *counted))
        while samples and samples[0].at < now - horizon:
            samples.popleft()
        rows = evaluate(samples, objectives, scale=config.slo_window_scale, now=now)
        self.latest[key] = rows
        self._alerts(service, environment, release_id, rows, config)

    def forget(self, key: tuple[str, str]) -> None:
        self._samples.pop(key, None)
        self._firing.pop(key, None)
        self.latest.pop(key, None)

    def _alerts(self, service: str, environment: str, release_id: str,
                rows: list[dict[str, Any]], config: MonitoringConfig) -> None:
        key = (service, environment)
        now, before = firing(rows), self._firing.get(key, {})
        self._firing[key] = now
        burn = {f"{r['slo']}:{r['window']}": r["burn_rate"] for r in rows}
        for slo in sorted(set(now) | set(before)):
            if now.get(slo) == before.get(slo):
                continue
            with self.store.tx() as db:
                if now.get(slo):
                    self.store.event(db, service, environment, release_id, "slo_alert",
                                     f"{slo} SLO of {service} in {environment}: {now[slo]} "
                                     "(its error budget burns too fast)",
                                     {"slo": slo, "alert": now[slo], "burn_rates": burn,
                                      "action": config.on_breach})
                else:
                    self.store.event(db, service, environment, release_id, "slo_resolved",
                                     f"{slo} SLO of {service} in {environment}: no alert any "
                                     "more", {"slo": slo, "burn_rates": burn})
            if now.get(slo) == "page" and config.on_breach == "rollback" and self.rollback:
                try:
                    self.rollback(service, environment)
                except Exception as exc:  # nothing to go back to, or a rollout running
                    log.warning("SLO rollback of %s in %s not started: %s", service,
                                environment, exc)
                self.forget(key)  # the release it rolls back to starts a new budget


def _counters(url: str, threshold_s: float) -> tuple[float, float, float] | None:
    """(requests, 5xx answers, answers slower than threshold_s) of /predict from the
    runtime's own /metrics; None when it does not answer with Prometheus text."""
    try:
        with requests.get(url, timeout=5, stream=True) as answer:
            answer.raise_for_status()
            text = answer.raw.read(MAX_METRICS_BYTES, decode_content=True).decode("utf-8",
                                                                                 "replace")
        counted = parse(text)
    except (requests.RequestException, ValueError):
        return None
    return counted.requests, counted.errors, counted.slower_than(threshold_s)


def render_slos(latest: dict[tuple[str, str], list[dict[str, Any]]]) -> bytes:
    """The newest burn rate of each deployment's SLOs per alert window (from memory)."""
    registry = CollectorRegistry()
    registry.register(_BurnCollector(dict(latest)))  # type: ignore[arg-type]
    return generate_latest(registry)


class _BurnCollector:
    def __init__(self, latest: dict[tuple[str, str], list[dict[str, Any]]]) -> None:
        self.latest = latest

    def collect(self) -> Any:
        burn = GaugeMetricFamily("goldenpath_slo_burn_rate", "How fast the SLO's error budget "
                                 "burns over the window (1: exactly over the SLO period)",
                                 labels=["service", "environment", "slo", "window"])
        for (service, environment), rows in sorted(self.latest.items()):
            for row in rows:
                if row["burn_rate"] is not None:
                    burn.add_metric([service, environment, row["slo"], row["window"]],
                                    float(row["burn_rate"]))
        yield burn
