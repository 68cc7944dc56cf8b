"""The router as a pod runs it (`python -m goldenpath_router`, a real process): told where the
releases are by its config file and by the promotion server's PUT, guarded by its key,
splitting per request across several addresses of a release, and handing out windows that
merge into one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from goldenpath_router import Window
from tests.router._backends import Backend, free_port, post, until

KEY = "a-key-of-the-test"
HEADERS = {"X-Goldenpath-Router-Key": KEY}


class Pod:
    def __init__(self, url: str, config: Path) -> None:
        self.url, self.config = url, config

    def put(self, document: dict[str, Any], key: str = KEY) -> requests.Response:
        return requests.put(f"{self.url}/-/router/config", json=document,
                            headers={"X-Goldenpath-Router-Key": key}, timeout=10)

    def window(self) -> dict[str, Any]:
        got = requests.get(f"{self.url}/-/router/window", headers=HEADERS, timeout=10)
        got.raise_for_status()
        return dict(got.json())


def document(version: int, stable: list[Backend], candidate: list[Backend],
             weight: float = 0.0, mirror: bool = False) -> dict[str, Any]:
    return {"version": version, "split": {"weight": weight, "mirror": mirror},
            "stable": [["127.0.0.1", b.port] for b in stable],
            "candidate": [["127.0.0.1", b.port] for b in candidate]}


@pytest.fixture()
def pod(tmp_path: Path) -> Iterator[Pod]:
    port, config = free_port(), tmp_path / "config.json"
    proc = subprocess.Popen([sys.executable, "-m", "goldenpath_router", "--port", str(port),
                             "--config", str(config)],
                            env={**os.environ, "GOLDENPATH_ROUTER_KEY": KEY},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"

    def listening() -> bool:
        try:
            requests.get(f"{url}/-/router/ready", timeout=1)
            return True
        except requests.ConnectionError:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            return False

    until(listening, timeout=20)
    yield Pod(url, config)
    proc.terminate()
    proc.wait(timeout=15)


def test_it_is_ready_once_told_where_the_stable_release_is(pod: Pod, backends: Any) -> None:
    assert requests.get(f"{pod.url}/-/router/ready", timeout=5).status_code == 503
    stable = backends()
    pod.config.write_text(json.dumps(document(1, [stable], [])))  # a ConfigMap at start
    until(lambda: requests.get(f"{pod.url}/-/router/ready", timeout=5).status_code == 200)
    with requests.Session() as s:
        answer = post(s, int(pod.url.rsplit(":", 1)[1]), 3)
    assert answer.json() == {"predictions": ["odd"]}
    assert answer.headers["X-Goldenpath-Variant"] == "stable"


def test_its_endpoints_need_its_key_and_are_never_passed_on(pod: Pod, backends: Any) -> None:
    stable = backends()
    refused = pod.put(document(1, [stable], [], weight=1.0), key="a-guess")
    assert refused.status_code == 403 and "key" in refused.json()["message"]
    assert requests.get(f"{pod.url}/-/router/window", timeout=5).status_code == 403
    assert pod.put(document(1, [stable], [])).json() == {"version": 1, "taken": True}
    assert requests.get(f"{pod.url}/-/router/nothing", headers=HEADERS,
                        timeout=5).status_code == 404
    bad = pod.put({"version": 2, "split": {"weight": 7}})
    assert bad.status_code == 400 and "between 0 and 1" in bad.json()["message"]
    assert not any(seen["path"].startswith("/-/") for seen in stable.seen)


def test_the_newest_version_wins_whichever_way_it_came(pod: Pod, backends: Any) -> None:
    first, second = backends(), backends()
    assert pod.put(document(5, [second], [])).json()["taken"]
    pod.config.write_text(json.dumps(document(4, [first], [])))  # an older ConfigMap
    older = pod.put(document(4, [first], []))
    assert older.json() == {"version": 5, "taken": False}
    port = int(pod.url.rsplit(":", 1)[1])
    with requests.Session() as s:
        for i in range(5):
            post(s, port, i)
    assert len(second.seen) == 5 and not first.seen
    pod.config.write_text(json.dumps(document(6, [first], [])))  # a newer one: read soon
    until(lambda: _answered_by(port, first), timeout=10)


def _answered_by(port: int, backend: Backend) -> bool:
    before = len(backend.seen)
    with requests.Session() as s:
        post(s, port, 1)
    return len(backend.seen) > before


def test_requests_take_a_releases_addresses_in_turn_and_skip_a_dead_one(
        pod: Pod, backends: Any) -> None:
    """Per request, also on one kept-alive connection; an address that refuses (a pod gone
    since the server last said) passes the request to the next."""
    a, b, candidate = backends(), backends(), backends()
    dead = ["127.0.0.1", free_port()]
    doc = document(1, [a, b], [candidate], weight=0.5)
    doc["stable"].append(dead)
    assert pod.put(doc).json()["taken"]
    port = int(pod.url.rsplit(":", 1)[1])
    with requests.Session() as s:
        answers = [post(s, port, i) for i in range(200)]
    assert all(r.status_code == 200 for r in answers)
    variants = [r.headers["X-Goldenpath-Variant"] for r in answers]
    assert 60 <= variants.count("candidate") <= 140  # a fair coin, 200 times
    assert len(a.seen) > 20 and len(b.seen) > 20  # both stable addresses, on one connection


def test_windows_of_several_pods_merge_into_one(pod: Pod, backends: Any) -> None:
    stable = backends()
    candidate = backends(lambda xs: ["even" for _ in xs])  # agrees on half of the inputs
    assert pod.put(document(1, [stable], [candidate], mirror=True)).json()["taken"]
    port = int(pod.url.rsplit(":", 1)[1])
    with requests.Session() as s:
        ids = [post(s, port, i).headers["X-Request-Id"] for i in range(40)]
    until(lambda: len(candidate.seen) == 40)
    first = pod.window()
    assert first["version"] == 1
    with requests.Session() as s:
        for i in range(40, 60):
            post(s, port, i)
    until(lambda: len(candidate.seen) == 60)
    merged = Window()
    for raw in (first["window"], pod.window()["window"]):
        merged.merge(json.loads(json.dumps(raw)))
    summary = merged.summary()
    assert summary["stable"]["requests"] == 60
    assert summary["paired"]["requests"] == 60
    assert summary["paired"]["agreement"] == pytest.approx(0.5)
    assert summary["stable"]["predictions"]["labels"] == {"even": 30, "odd": 30}
    answers = requests.post(f"{pod.url}/-/router/answers", json={"ids": ids[:2]},
                            headers=HEADERS, timeout=5).json()["answers"]
    assert answers[ids[1]] == {"stable": ["odd"], "candidate": ["even"]}
