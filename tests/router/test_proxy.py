"""The progressive-delivery router, driven over real loopback HTTP between two real servers.

The backends are http.server servers on their own threads that answer like a goldenpath
model ({"predictions": [...]}); each test shapes how the candidate differs (labels, floats,
errors, delay) and reads what the router measured.
"""

from __future__ import annotations

import http.client
import json
import math
import socket
import time
from typing import Any

import pytest
import requests

from goldenpath_router import Router, Split
from tests.router._backends import Predict, free_port, labels, post, settle, until


def test_weight_splits_requests_near_the_set_share(backends: Any, router: Router) -> None:
    stable, candidate = backends(), backends()
    port = router.open("svc", stable.port, candidate.port, Split(weight=0.25))
    n = 400
    with requests.Session() as s:
        variants = [post(s, port, i).headers["X-Goldenpath-Variant"] for i in range(n)]
    to_candidate = variants.count("candidate")
    sd = math.sqrt(n * 0.25 * 0.75)
    assert abs(to_candidate - n * 0.25) < 4 * sd, to_candidate  # 4 sigma: ~1 in 16,000 flakes
    assert variants.count("stable") == n - to_candidate
    # compare (the default): every candidate answer is also asked of the stable
    until(lambda: len(stable.seen) == n)
    settle()
    w = router.window("svc")
    assert w["candidate"]["requests"] == len(candidate.seen) == to_candidate
    assert w["stable"]["requests"] == n
    assert w["paired"] == {"requests": to_candidate, "agreement": 1.0, "mad": None, "dropped": 0}
    stable_labels = w["stable"]["predictions"]["labels"]
    assert set(stable_labels) == {"even", "odd"} and sum(stable_labels.values()) == n
    assert w["candidate"]["latency_ms"]["p50"] > 0


@pytest.mark.parametrize(("candidate_predict", "agreement"),
                         [(labels, 1.0), (lambda xs: ["even" for _ in xs], 0.5)])
def test_shadow_answers_from_stable_and_measures_the_candidates_agreement(
    backends: Any, router: Router, candidate_predict: Predict, agreement: float
) -> None:
    stable, candidate = backends(), backends(candidate_predict)
    port = router.open("svc", stable.port, candidate.port, Split(mirror=True))
    with requests.Session() as s:
        answers = [post(s, port, i) for i in range(40)]
    assert {a.headers["X-Goldenpath-Variant"] for a in answers} == {"stable"}
    assert [a.json()["predictions"] for a in answers] == [labels([i]) for i in range(40)]
    until(lambda: len(candidate.seen) == 40)
    assert sorted(json.loads(r["body"])["inputs"][0] for r in candidate.seen) == list(range(40))
    settle()
    w = router.window("svc")
    assert w["paired"]["requests"] == 40
    assert w["paired"]["agreement"] == agreement
    assert w["stable"]["requests"] == w["candidate"]["requests"] == 40
    expected = {"even": 20, "odd": 20} if agreement == 1.0 else {"even": 40}
    assert w["candidate"]["predictions"] == {"labels": expected}


def test_float_predictions_report_mean_absolute_difference(backends: Any, router: Router) -> None:
    stable = backends(lambda xs: [float(x) for x in xs])
    candidate = backends(lambda xs: [x + 0.5 for x in xs])
    port = router.open("svc", stable.port, candidate.port, Split(weight=1.0))
    with requests.Session() as s:
        for i in range(20):
            assert post(s, port, i).json()["predictions"] == [i + 0.5]
    until(lambda: len(stable.seen) == 20)
    settle()
    w = router.window("svc")
    assert w["paired"]["mad"] == pytest.approx(0.5)
    assert w["paired"]["agreement"] is None
    assert w["candidate"]["predictions"] == {"mean": pytest.approx(10.0), "p50": 10.5,
                                             "count": 20}


def test_candidate_errors_are_counted(backends: Any, router: Router) -> None:
    stable, candidate = backends(), backends(fail_every=4)
    port = router.open("svc", stable.port, candidate.port, Split(weight=1.0, compare=False))
    with requests.Session() as s:
        statuses = [post(s, port, i).status_code for i in range(40)]
    assert statuses.count(500) == 10
    w = router.window("svc")
    assert (w["candidate"]["requests"], w["candidate"]["errors"]) == (40, 10)
    assert w["candidate"]["error_rate"] == 0.25
    assert w["stable"]["requests"] == 0 and stable.seen == []


def test_a_slow_candidate_in_shadow_neither_slows_answers_nor_piles_up(
    backends: Any, router: Router
) -> None:
    stable, candidate = backends(), backends(delay=1.5)
    port = router.open("svc", stable.port, candidate.port, Split(mirror=True))
    took = []
    with requests.Session() as s:
        for i in range(100):
            t0 = time.perf_counter()
            assert post(s, port, i).status_code == 200
            took.append(time.perf_counter() - t0)
    assert max(took) < 0.5, max(took)  # each copy sleeps 1.5 s
    until(lambda: len(candidate.seen) >= 64)
    time.sleep(1.6)  # the copies in flight come back
    w = router.window("svc")
    assert w["paired"]["dropped"] == 100 - len(candidate.seen) > 0
    assert w["candidate"]["requests"] == len(candidate.seen)
    assert w["candidate"]["latency_ms"]["p50"] >= 1500
    assert w["stable"]["latency_ms"]["p99"] < 500


def test_window_resets(backends: Any, router: Router) -> None:
    stable, candidate = backends(), backends()
    port = router.open("svc", stable.port, candidate.port, Split())
    with requests.Session() as s:
        for i in range(5):
            post(s, port, i)
    first = router.window("svc")
    assert first["stable"]["requests"] == 5
    second = router.window("svc")
    assert second["stable"] == second["candidate"] == {
        "requests": 0, "errors": 0, "error_rate": None, "predictions": {},
        "latency_ms": {"p50": None, "p95": None, "p99": None}}
    assert second["paired"] == {"requests": 0, "agreement": None, "mad": None, "dropped": 0}
    assert 0 <= second["seconds"] < first["seconds"] + 1


def test_unreachable_candidate_answers_502_with_a_hint(backends: Any, router: Router) -> None:
    stable = backends()
    port = router.open("svc", stable.port, free_port(), Split(weight=1.0))
    with requests.Session() as s:
        answers = [post(s, port, i) for i in range(3)]
    assert {a.status_code for a in answers} == {502}
    assert answers[0].headers["X-Goldenpath-Variant"] == "candidate"
    body = answers[0].json()
    assert body["code"] == "bad_gateway" and "candidate" in body["message"] and body["hint"]
    w = router.window("svc")
    assert (w["candidate"]["requests"], w["candidate"]["errors"]) == (3, 3)


def test_one_keep_alive_connection_is_split_per_request(backends: Any, router: Router) -> None:
    stable, candidate = backends(), backends()
    port = router.open("svc", stable.port, candidate.port, Split(weight=0.5, compare=False))
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    variants = []
    for i in range(60):
        conn.request("POST", "/predict", body=json.dumps({"inputs": [i]}),
                     headers={"Content-Type": "application/json"})
        if i == 0:
            sock = conn.sock
        answer = conn.getresponse()
        assert json.loads(answer.read())["predictions"] == labels([i])
        variants.append(answer.getheader("X-Goldenpath-Variant"))
        assert conn.sock is sock  # the same client connection throughout
    conn.close()
    assert 10 < variants.count("candidate") < 50


def test_update_changes_the_split_live(backends: Any, router: Router) -> None:
    stable, candidate = backends(), backends()
    port = router.open("svc", stable.port, candidate.port, Split())
    with requests.Session() as s:
        assert {post(s, port, i).headers["X-Goldenpath-Variant"] for i in range(20)} == {"stable"}
        router.update("svc", Split(weight=1.0))
        assert {post(s, port, i).headers["X-Goldenpath-Variant"]
                for i in range(20)} == {"candidate"}


def test_request_ids_probes_and_framing(backends: Any, router: Router) -> None:
    stable, candidate = backends(), backends()
    port = router.open("svc", stable.port, candidate.port, Split(weight=1.0, compare=False))
    with requests.Session() as s:
        given = post(s, port, 1, headers={"X-Request-Id": "abc-123"})
        assert given.headers["X-Request-Id"] == "abc-123"
        made = post(s, port, 2)
        assert len(made.headers["X-Request-Id"]) == 32
        assert [r["request_id"] for r in candidate.seen] == ["abc-123",
                                                            made.headers["X-Request-Id"]]
        # probes go to the stable and are not counted
        probe = s.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
        assert probe.json() == {"status": "ok"}
        assert probe.headers["X-Goldenpath-Variant"] == "stable"
        # a chunked request, a chunked answer, a close-delimited answer
        chunks = (p for p in (b'{"inputs": ', b"[3]}"))
        chunked = s.post(f"http://127.0.0.1:{port}/chunked", data=chunks, timeout=10)
        assert chunked.json() == {"predictions": ["odd"]}
        assert candidate.seen[-1]["body"] == b'{"inputs": [3]}'
        eof = s.get(f"http://127.0.0.1:{port}/close-delimited", timeout=10)
        assert eof.json() == {"predictions": ["eof"]}
        # the backend drops each pooled connection after one answer: no request fails
        assert {post(s, port, i, "/then-close").status_code for i in range(20)} == {200}
    w = router.window("svc")
    assert w["candidate"]["requests"] == 24 and w["candidate"]["errors"] == 0
    assert w["stable"]["requests"] == 0
    assert [r["path"] for r in stable.seen] == ["/healthz"]


def test_open_is_idempotent_and_close_frees_the_port(backends: Any, router: Router) -> None:
    first, second = backends(), backends(lambda xs: ["second" for _ in xs])
    port = router.open("svc", first.port, first.port, Split())
    with requests.Session() as s:
        assert post(s, port, 1).json()["predictions"] == ["odd"]
        assert router.open("svc", second.port, second.port, Split()) == port
        assert post(s, port, 1).json()["predictions"] == ["second"]
    router.close("svc")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    with pytest.raises(KeyError, match="open"):
        router.window("svc")
