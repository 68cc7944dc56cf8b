"""A runtime's own counters as the server reads them: /predict only, 5xx as errors, latency
quantiles from the histogram, and windows taken pod by pod across restarts. The text is in
BentoML's exposition format (its label names, as a served bundle answers them)."""

from __future__ import annotations

import pytest

from goldenpath_server.targets._pod_metrics import Counters, parse, window_of


def _text(ok: int, failed: int, buckets: dict[str, int]) -> str:
    labels = 'endpoint="/predict",service_name="m",service_version="v",runner_name="m"'
    lines = ["# HELP bentoml_service_request_total Total number of requests",
             "# TYPE bentoml_service_request_total counter",
             f'bentoml_service_request_total{{{labels},http_response_code="200"}} {ok}',
             f'bentoml_service_request_total{{{labels},http_response_code="500"}} {failed}',
             'bentoml_service_request_total{endpoint="/readyz",http_response_code="200",'
             'service_name="m",service_version="v",runner_name="m"} 999',
             "# HELP bentoml_service_request_duration_seconds Request duration",
             "# TYPE bentoml_service_request_duration_seconds histogram"]
    lines += [f'bentoml_service_request_duration_seconds_bucket{{{labels},'
              f'http_response_code="200",le="{le}"}} {n}' for le, n in buckets.items()]
    return "\n".join(lines) + "\n"


def test_predict_counts_errors_and_latency_quantiles() -> None:
    counted = parse(_text(90, 10, {"0.1": 50, "0.5": 90, "1.0": 100, "+Inf": 100}))
    assert (counted.requests, counted.errors) == (100, 10)  # /readyz left out
    assert counted.quantile(0.5) == pytest.approx(0.1)
    assert counted.quantile(0.9) == pytest.approx(0.5)
    assert counted.quantile(0.95) == pytest.approx(0.75)  # interpolated within (0.5, 1.0]
    assert counted.slower_than(0.5) == 10 and counted.slower_than(0.3) == 10
    summary = counted.summary()
    assert summary["error_rate"] == pytest.approx(0.1)
    assert summary["latency_ms"] == {"p50": 100.0, "p95": 750.0, "p99": 950.0}


def test_a_window_is_taken_pod_by_pod_and_a_restarted_pod_counts_from_zero() -> None:
    before = {"a": parse(_text(10, 0, {"0.1": 10, "+Inf": 10})),
              "b": parse(_text(50, 5, {"0.1": 55, "+Inf": 55}))}
    now = {"a": parse(_text(30, 2, {"0.1": 30, "+Inf": 32})),  # 22 more
           "b": parse(_text(4, 0, {"0.1": 4, "+Inf": 4})),  # restarted: 4 since
           "c": parse(_text(6, 0, {"0.1": 6, "+Inf": 6}))}  # new: all of it
    window = window_of(now, before)
    assert (window.requests, window.errors) == (32, 2)
    assert window.buckets[float("inf")] == 32
    assert window_of({}, before).summary()["requests"] == 0
    assert Counters().summary()["latency_ms"] == {"p50": None, "p95": None, "p99": None}


def test_text_that_is_not_prometheus_is_refused() -> None:
    with pytest.raises(ValueError):
        parse("<html>not metrics</html>\n{")
