"""Burn rates and multi-window alerts (server/goldenpath_server/monitoring/_slo.py) on synthetic
counter samples, windows scaled down so that the SRE workbook's hour lasts 5 seconds."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from goldenpath_api.errors import ConfigurationError
from goldenpath_server.monitoring._slo import (
    Objectives,
    Sample,
    evaluate,
    firing,
    parse_objectives,
)

SCALE = 1 / 720  # 5m -> 0.42 s, 30m -> 2.5 s, 1h -> 5 s, 6h -> 30 s
STEP = 0.1  # one sample every 100 ms, 100 requests each


def traffic(seconds: float, bad_share: Callable[[float], float], start: float = 0.0,
            slow_share: Callable[[float], float] = lambda t: 0.0) -> list[Sample]:
    """Cumulative counters sampled every STEP: 100 requests per step, a share of them bad."""
    samples, requests, errors, slow = [], 0.0, 0.0, 0.0
    for i in range(int(seconds / STEP) + 1):
        t = start + i * STEP
        samples.append(Sample(at=t, requests=requests, errors=errors, slow=slow))
        requests += 100
        errors += 100 * bad_share(t)
        slow += 100 * slow_share(t)
    return samples


def by_window(rows: list[dict], slo: str = "availability") -> dict[str, dict]:
    return {r["window"]: r for r in rows if r["slo"] == slo}


def test_a_burst_of_errors_pages() -> None:
    rows = evaluate(traffic(40, lambda t: 0.5 if t >= 36 else 0.0), scale=SCALE)
    windows = by_window(rows)
    assert windows["5m"]["burn_rate"] == pytest.approx(500, rel=0.05)  # 50% of a 0.1% budget
    assert windows["1h"]["alert"] == windows["5m"]["alert"] == "page"
    assert firing(rows) == {"availability": "page"}


def test_a_page_stops_soon_after_the_burst_ends() -> None:
    """The short window clears first: the long one alone does not keep paging."""
    rows = evaluate(traffic(40, lambda t: 0.5 if 36 <= t < 38 else 0.0), scale=SCALE)
    windows = by_window(rows)
    assert windows["1h"]["burn_rate"] > 14.4
    assert windows["5m"]["burn_rate"] == 0
    assert windows["1h"]["alert"] != "page" and "page" not in firing(rows).values()


def test_a_slow_trickle_opens_a_ticket_only() -> None:
    rows = evaluate(traffic(40, lambda t: 0.008), scale=SCALE)  # burn rate 8
    windows = by_window(rows)
    assert all(w["burn_rate"] == pytest.approx(8) for w in windows.values())
    assert windows["6h"]["alert"] == windows["30m"]["alert"] == "ticket"
    assert windows["1h"]["alert"] is None and windows["5m"]["alert"] is None
    assert firing(rows) == {"availability": "ticket"}


def test_healthy_traffic_fires_nothing() -> None:
    rows = evaluate(traffic(40, lambda t: 0.0005), scale=SCALE)
    assert {r["slo"] for r in rows} == {"availability", "latency"}
    assert {r["window"] for r in rows} == {"5m", "30m", "1h", "6h"}
    assert all(r["alert"] is None for r in rows)
    assert by_window(rows)["6h"]["burn_rate"] == pytest.approx(0.5)
    assert firing(rows) == {}


@pytest.mark.parametrize("samples", [[], [Sample(at=1, requests=10, errors=10)],
                                     [Sample(at=1, requests=5, errors=0),
                                      Sample(at=2, requests=5, errors=0)]],
                         ids=["none", "one", "no-requests"])
def test_too_few_samples_say_nothing(samples: list[Sample]) -> None:
    rows = evaluate(samples, scale=SCALE)
    assert all(r["burn_rate"] is None and r["alert"] is None for r in rows)


def test_slow_requests_burn_the_latency_budget() -> None:
    rows = evaluate(traffic(40, lambda t: 0.0, slow_share=lambda t: 0.3 if t >= 36 else 0.0),
                    scale=SCALE)
    assert firing(rows) == {"latency": "page"}
    assert by_window(rows, "latency")["5m"]["burn_rate"] == pytest.approx(30, rel=0.05)


def test_a_restart_resets_counters_without_a_negative_rate() -> None:
    before = traffic(20, lambda t: 0.0)
    after = traffic(20, lambda t: 0.5, start=20.05)  # the new process counts from 0
    rows = evaluate(before + after, scale=SCALE)
    windows = by_window(rows)
    assert windows["5m"]["error_ratio"] == pytest.approx(0.5, rel=0.05)
    assert 0 < windows["6h"]["error_ratio"] < 0.5


def test_objectives_per_environment() -> None:
    assert parse_objectives(None) == Objectives()
    strict = parse_objectives({"availability": 0.9999, "latency": {"threshold_ms": 200}})
    assert strict == Objectives(availability=0.9999, latency=0.99, latency_threshold_ms=200)
    assert parse_objectives({"latency": None}).targets() == {"availability": 0.999}
    # the same traffic burns a stricter budget ten times faster
    samples = traffic(40, lambda t: 0.001)
    loose = by_window(evaluate(samples, parse_objectives({"availability": 0.99}), SCALE))
    tight = by_window(evaluate(samples, strict, SCALE))
    assert tight["1h"]["burn_rate"] == pytest.approx(100 * loose["1h"]["burn_rate"])


@pytest.mark.parametrize("raw, says", [({"availability": 1.5}, "between 0 and 1"),
                                       ({"latency": 0.99}, "not a mapping"),
                                       ({"latency": {"threshold_ms": 0}}, "not positive"),
                                       ({"uptime": 0.9}, "unknown SLO uptime")])
def test_bad_objectives_say_what_to_write(raw: dict, says: str) -> None:
    with pytest.raises(ConfigurationError, match=says) as caught:
        parse_objectives(raw)
    assert caught.value.hint


def test_a_pod_that_misses_a_reading_is_not_counted_twice() -> None:
    """SloWatch adds what each process counted since its last reading: a pod that does not
    answer one tick (starting, busy, the API server's proxy away) counts once when it does."""
    from goldenpath_server._slo_watch import SloWatch
    from goldenpath_server.monitoring._config import MonitoringConfig
    from goldenpath_server.targets._pod_metrics import Counters

    readings = iter([
        {"a": Counters(100, 0), "b": Counters(50, 0)},
        {"a": Counters(110, 0)},                       # b did not answer
        {"a": Counters(120, 0), "b": Counters(60, 0)},  # b: 10 more since its last reading
        {"a": Counters(5, 0), "b": Counters(70, 0)},    # a restarted: 5 since its start
    ])
    watch = SloWatch(store=None)  # type: ignore[arg-type]  # healthy: nothing to write
    totals = []
    for _ in range(4):
        watch.sample("svc", "dev", "r1", lambda: next(readings), MonitoringConfig())
        totals.append(watch._samples[("svc", "dev")][-1].requests)
    assert totals == [150, 160, 180, 195]
