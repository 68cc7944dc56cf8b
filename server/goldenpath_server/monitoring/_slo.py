"""Burn rates of a deployment's service-level objectives and the multi-window, multi-burn-rate
alerts of Google's SRE workbook (chapter "Alerting on SLOs"), from counter samples alone.

An environment's objectives, e.g. `{"availability": 0.999, "latency": {"threshold_ms": 500,
"objective": 0.99}}`, each leave an error budget (1 - objective). The burn rate over a window
is the share of bad requests in it divided by that budget: 1 spends the budget in exactly the
SLO period, 14.4 spends 2% of a 30-day budget in an hour.

    page    the 1h and the 5m burn rates both above 14.4
    ticket  the 6h and the 30m burn rates both above 6

The short window makes an alert stop soon after the burning does. `scale` shrinks every
window (1/720: the hour lasts 5 s) for tests and demos. Nothing here reads clocks, HTTP or
Prometheus: callers pass samples and get plain data back."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from goldenpath_api.errors import ConfigurationError

DEFAULT_OBJECTIVES: dict[str, Any] = {
    "availability": 0.999, "latency": {"threshold_ms": 500, "objective": 0.99}}


@dataclass(frozen=True)
class Sample:
    """Cumulative counters of one deployment at one time (seconds): requests served, those
    that failed, those slower than the latency threshold."""

    at: float
    requests: float
    errors: float
    slow: float = 0.0


@dataclass(frozen=True)
class Objectives:
    """What an environment promises: the good share of requests per SLO (None: no such SLO)."""

    availability: float | None = 0.999
    latency: float | None = 0.99
    latency_threshold_ms: float = 500.0

    def targets(self) -> dict[str, float]:
        """{slo: objective} of the SLOs set."""
        both = {"availability": self.availability, "latency": self.latency}
        return {slo: objective for slo, objective in both.items() if objective is not None}


@dataclass(frozen=True)
class AlertRule:
    """Fire `alert` when the burn rates over both windows (seconds) exceed `threshold`."""

    alert: str
    long: str
    short: str
    threshold: float


WINDOWS: dict[str, float] = {"5m": 300, "30m": 1800, "1h": 3600, "6h": 21600}
RULES = (AlertRule("page", "1h", "5m", 14.4), AlertRule("ticket", "6h", "30m", 6.0))


def parse_objectives(raw: Mapping[str, Any] | None) -> Objectives:
    """An environment's `slo` setting as Objectives (None or {}: the defaults); a key set to
    null switches that SLO off."""
    raw = DEFAULT_OBJECTIVES if not raw else {**DEFAULT_OBJECTIVES, **raw}
    unknown = sorted(set(raw) - set(DEFAULT_OBJECTIVES))
    if unknown:
        raise ConfigurationError(f"unknown SLO {', '.join(unknown)}",
                                 "set availability and/or latency: {threshold_ms, objective}")
    latency = raw["latency"]
    if latency is not None and not isinstance(latency, Mapping):
        raise ConfigurationError(f"latency SLO {latency!r} is not a mapping",
                                 "write latency: {threshold_ms: 500, objective: 0.99}")
    latency = {**DEFAULT_OBJECTIVES["latency"], **latency} if latency is not None else None
    threshold = float(latency["threshold_ms"]) if latency else 500.0
    if threshold <= 0:
        raise ConfigurationError(f"latency threshold_ms {threshold} is not positive",
                                 "give the slowest acceptable answer in milliseconds, e.g. 500")
    return Objectives(availability=_objective("availability", raw["availability"]),
                      latency=_objective("latency", latency and latency["objective"]),
                      latency_threshold_ms=threshold)


def _objective(slo: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
        raise ConfigurationError(f"{slo} objective {value!r} is not between 0 and 1",
                                 "write the share of good requests, e.g. 0.999 for 99.9%")
    return float(value)


def evaluate(samples: Iterable[Sample], objectives: Objectives | None = None,
             scale: float = 1.0, now: float | None = None) -> list[dict[str, Any]]:
    """One row per SLO and window: {slo, window, burn_rate, error_ratio, alert}.

    `burn_rate` and `error_ratio` are None where the window holds fewer than two samples or
    no requests; `alert` is "page" or "ticket" on the rows of both windows of a rule that
    fires, else None. `now` defaults to the last sample's time."""
    ordered = sorted(samples, key=lambda s: s.at)
    objectives = objectives or Objectives()
    if now is None and ordered:
        now = ordered[-1].at
    rows = []
    for slo, objective in objectives.targets().items():
        rates = {name: _window(ordered, slo, objective, seconds * scale, now)
                 for name, seconds in WINDOWS.items()}
        alerts: dict[str, str] = {}
        for rule in RULES:
            if all((rates[w][0] or 0.0) > rule.threshold for w in (rule.long, rule.short)):
                for w in (rule.long, rule.short):
                    alerts.setdefault(w, rule.alert)
        rows += [{"slo": slo, "window": name, "burn_rate": burn, "error_ratio": ratio,
                  "alert": alerts.get(name)} for name, (burn, ratio) in rates.items()]
    return rows


def firing(rows: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """{slo: the most urgent alert firing} from evaluate()'s rows ("page" over "ticket")."""
    found: dict[str, str] = {}
    for row in rows:
        if row["alert"] and found.get(row["slo"]) != "page":
            found[row["slo"]] = row["alert"]
    return found


def _window(ordered: Sequence[Sample], slo: str, objective: float, seconds: float,
            now: float | None) -> tuple[float | None, float | None]:
    """(burn rate, bad share) over the `seconds` before `now`: from the last sample at or
    before the window's start (or the first one inside it) to the last one up to `now`."""
    if now is None:
        return None, None
    start = now - seconds
    inside = [s for s in ordered if start <= s.at <= now]
    before = [s for s in ordered if s.at < start]
    span = before[-1:] + inside
    if len(span) < 2:
        return None, None
    requests = _increase([s.requests for s in span])
    if requests <= 0:
        return None, None
    bad = _increase([s.errors if slo == "availability" else s.slow for s in span])
    ratio = min(bad / requests, 1.0)
    return ratio / (1 - objective), ratio


def _increase(values: Sequence[float]) -> float:
    """How much a counter grew, across restarts (a drop: counting began again from 0)."""
    total = 0.0
    for previous, value in zip(values, values[1:], strict=False):
        total += value - previous if value >= previous else value
    return total
