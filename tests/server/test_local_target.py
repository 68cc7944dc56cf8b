"""The local target's serving processes: warm BentoML workers, and `bentoml serve` otherwise."""

from __future__ import annotations

import os
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests
import yaml

import goldenpath
from goldenpath import _config
from goldenpath_server.targets._warm import warm_eligible
from tests._servers import ServerProcess, free_port, serving_processes, stop_model_processes


@pytest.fixture()
def configured(fresh_server: ServerProcess) -> Iterator[ServerProcess]:
    previous = _config._current
    goldenpath.configure(server=fresh_server.url)
    try:
        yield fresh_server
    finally:
        _config._current = previous


def _tree(X: Any, y: Any, flip: bool = False) -> Any:
    from sklearn.tree import DecisionTreeClassifier

    return DecisionTreeClassifier(random_state=0).fit(X, (y + 1) % 3 if flip else y)


def _zygote(home: Path, timeout: float = 30, not_pid: int | None = None) -> psutil.Process:
    """The local target's zygote: the Python process running _warm_worker.py for this
    runtime folder (not the bubblewrap around it, nor a serving process it forked)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in psutil.process_iter(["pid", "cmdline", "name", "cwd"]):
            cmd = proc.info["cmdline"] or []
            script = next((i for i, part in enumerate(cmd)
                           if part.endswith("_warm_worker.py")), None)
            if script is not None and cmd[script + 1:script + 2] == [str(home / "runtime")] \
                    and proc.info["name"] != "bwrap" and proc.pid != not_pid \
                    and not (proc.info["cwd"] or "").startswith(str(home / "artifacts")):
                return proc
        time.sleep(0.1)
    raise AssertionError("no zygote")


def _port(proc: psutil.Process) -> int:
    """The port a serving process listens on (its metrics folder is named after it)."""
    return next(c.laddr.port for c in proc.net_connections("tcp") if c.status == "LISTEN")


def _serving_pid(home: Path) -> int:
    pids = [p.pid for p in serving_processes(home)]
    assert len(pids) == 1, pids  # a forked worker is one process, with no supervisor
    return pids[0]


def test_deploys_are_forked_from_a_zygote_that_preloads_the_model_modules(
        configured: ServerProcess, iris: tuple) -> None:
    X, y = iris
    home = configured.home
    zygote = _zygote(home)  # started with the server, before any deploy
    forked_from = zygote.cmdline()
    assert "sklearn.tree._classes" not in forked_from
    d = goldenpath.deploy(_tree(X, y), name="warm", sample=X[:5], quiet=True)
    first = psutil.Process(_serving_pid(home))
    first_port = _port(first)
    assert first.cmdline() == forked_from  # a fork: the zygote's command line, no exec
    assert os.getsid(first.pid) == first.pid  # its own session: outlives server and zygote
    assert d.predict(X[:3]) == _tree(X, y).predict(X[:3]).tolist()

    # the bundle imports a module the zygote lacked: a zygote preloading it replaces it
    zygote.wait(timeout=15)
    zygote = _zygote(home)
    assert "sklearn.tree._classes" in zygote.cmdline()
    assert first.is_running()  # the release it forked keeps serving

    # a redeploy is forked from it, behind the same URL; the old process goes away
    d2 = goldenpath.deploy(_tree(X, y, flip=True), name="warm", sample=X[:5], quiet=True)
    assert d2.url == d.url
    assert d2.predict(X[:3]) == _tree(X, y, flip=True).predict(X[:3]).tolist()
    first.wait(timeout=10)  # drained for 2 s, then stopped
    second = psutil.Process(_serving_pid(home))
    assert second.ppid() == zygote.pid and second.cmdline() == zygote.cmdline()
    assert _zygote(home).pid == zygote.pid  # nothing new to preload: the same zygote

    # BentoML's metrics, from this process's own Prometheus folder
    metrics = requests.get(f"{d2.url}/metrics", timeout=5).text
    assert 'endpoint="/predict"' in metrics
    assert (home / "runtime" / "metrics" / str(_port(second))).is_dir()
    assert not (home / "runtime" / "metrics" / str(first_port)).exists()


def test_the_bundles_own_runtime_copy_serves(configured: ServerProcess, iris: tuple,
                                             tmp_path: Path) -> None:
    """The warm worker imported the installed goldenpath_serving only to warm up: the copy
    inside the bundle must be the one serving, as under `bentoml serve`."""
    from goldenpath._bundle import build_bundle
    from goldenpath._deploy import deploy_archive

    X, y = iris
    bundle = build_bundle(_tree(X, y), "marked", X[:5], tmp_path)
    unpacked = tmp_path / "unpacked"
    with tarfile.open(bundle.archive) as archive:
        archive.extractall(unpacked, filter="data")
    service = unpacked / "src" / "goldenpath_serving" / "service.py"
    service.write_text(service.read_text().replace(
        '@bentoml.api(route="/schema")',
        '@bentoml.api(route="/marker")\n'
        '        def marker(self) -> str:\n'
        '            return "bundle copy"\n\n'
        '        @bentoml.api(route="/schema")'))
    marked = tmp_path / "marked.bento"
    with tarfile.open(marked, "w:gz") as archive:
        for child in unpacked.iterdir():
            archive.add(child, arcname=child.name)

    d = deploy_archive(marked, name="marked", quiet=True)
    assert requests.post(f"{d.url}/marker", json={}, timeout=5).text == "bundle copy"


def test_without_warm_workers_bundles_run_under_bentoml_serve(tmp_path: Path,
                                                              iris: tuple) -> None:
    home = tmp_path / "home"
    home.mkdir()
    server = ServerProcess(home=home, port=free_port(),
                           env={**os.environ, "GOLDENPATH_LOCAL_WARM_WORKER": "false"})
    server.start()
    previous = _config._current
    try:
        goldenpath.configure(server=server.url)
        X, y = iris
        d = goldenpath.deploy(_tree(X, y), name="cold", sample=X[:5], quiet=True)
        assert d.predict(X[:3]) == _tree(X, y).predict(X[:3]).tolist()
        with pytest.raises(AssertionError, match="no zygote"):
            _zygote(home, timeout=1)
        # bentoml serve's arbiter
        assert any("serve" in p.cmdline() for p in serving_processes(home))
    finally:
        _config._current = previous
        server.stop()
        stop_model_processes(home)


def test_the_zygote_exits_when_the_server_is_killed(fresh_server: ServerProcess) -> None:
    zygote = _zygote(fresh_server.home)
    fresh_server.kill()
    zygote.wait(timeout=15)  # EOF on its stdin: nothing of the server outlives it but releases


def test_the_zygote_exits_when_the_server_stops(fresh_server: ServerProcess) -> None:
    zygote = _zygote(fresh_server.home)
    fresh_server.stop()
    zygote.wait(timeout=15)


@pytest.mark.parametrize(("config", "eligible"), [
    ({"workers": 1}, True),
    ({}, True),
    ({"workers": 2}, False),
    ({"workers": "cpu_count"}, False),
    ({"workers": 1, "resources": {"gpu": 1}}, False),
])
def test_only_single_worker_bundles_are_served_warm(tmp_path: Path, config: dict,
                                                    eligible: bool) -> None:
    bento = {"entry_service": "svc", "services": [{"name": "svc", "config": config,
                                                   "dependencies": []}]}
    (tmp_path / "bento.yaml").write_text(yaml.safe_dump(bento))
    assert warm_eligible(tmp_path) is eligible


def test_a_bundle_without_bento_yaml_is_not_served_warm(tmp_path: Path) -> None:
    assert warm_eligible(tmp_path) is False
    (tmp_path / "bento.yaml").write_text(":: not yaml ::\n  - [")
    assert warm_eligible(tmp_path) is False

