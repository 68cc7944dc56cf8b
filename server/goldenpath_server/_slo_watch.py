"""SLOs of live deployments: each tick reads the serving runtime's own request counters
(BentoML's /metrics: requests, 5xx answers, the latency histogram) of every process of the
release, where the target says they are (`request_counters`: the local process's port; each
running pod through the API server's pod proxy, as the inference log is pulled), adds what
each process counted since the last tick to the deployment's running totals (a pod that
restarts or joins counts from zero), keeps the samples of the longest alert window, and
evaluates the environment's objectives with monitoring/_slo.py. An alert that starts or ends
is an audit event (so a webhook): `slo_alert` / `slo_resolved`; with `on_breach: rollback` a
page rolls the deployment back to the release before it, as the system. The burn rates go to
/metrics as gauges; the same objectives as a cluster Prometheus's alerting rules are in
docs/monitoring.md.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

from goldenpath_server._store import Store
from goldenpath_server.monitoring._config import MonitoringConfig
from goldenpath_server.monitoring._slo import WINDOWS, Sample, evaluate, firing, parse_objectives
from goldenpath_server.targets._pod_metrics import Counters, window_of

log = logging.getLogger("goldenpath.server")
Rollback = Callable[[str, str], object]  # (service, environment)
Reading = Callable[[], "dict[str, Counters] | None"]  # cumulative counters per process


class SloWatch:
    def __init__(self, store: Store, rollback: Rollback | None = None) -> None:
        self.store = store
        self.rollback = rollback
        self._samples: dict[tuple[str, str], deque[Sample]] = {}
        self._readings: dict[tuple[str, str], dict[str, Counters]] = {}
        self._totals: dict[tuple[str, str], Counters] = {}
        self._firing: dict[tuple[str, str], dict[str, str]] = {}
        # the newest burn rates per deployment: {(service, env): [{slo, window, burn_rate}]}
        self.latest: dict[tuple[str, str], list[dict[str, Any]]] = {}

    def sample(self, service: str, environment: str, release_id: str, read: Reading,
               config: MonitoringConfig) -> None:
        key = (service, environment)
        if config.slo is False:
            self.forget(key)
            return
        objectives = parse_objectives(config.slo or None)
        try:
            reading = read()
        except Exception as exc:  # noqa: BLE001 - the cluster may be away for a while
            log.info("SLOs of %s in %s: no counters: %s", service, environment, exc)
            return
        if not reading:
            return
        before = self._readings.get(key, {})
        total = self._totals[key] = self._totals.get(key, Counters()).add(
            window_of(reading, before))
        # a pod that did not answer this time keeps its last reading: when it answers
        # again only what it counted since then is new
        self._readings[key] = {**before, **reading}
        horizon = max(WINDOWS.values()) * config.slo_window_scale * 1.1
        samples = self._samples.setdefault(key, deque())
        now = time.time()
        samples.append(Sample(now, total.requests, total.errors,
                              total.slower_than(objectives.latency_threshold_ms / 1000.0)))
        while samples and samples[0].at < now - horizon:
            samples.popleft()
        rows = evaluate(samples, objectives, scale=config.slo_window_scale, now=now)
        self.latest[key] = rows
        self._alerts(service, environment, release_id, rows, config)

    def forget(self, key: tuple[str, str]) -> None:
        self._samples.pop(key, None)
        self._readings.pop(key, None)
        self._totals.pop(key, None)
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
