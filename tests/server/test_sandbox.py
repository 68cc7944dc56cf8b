"""Model code gets nothing of the platform: a hostile model deployed by a submitter to a
token-protected server reads no secret and no server file, on every sandbox level this
machine can offer (bubblewrap; without it, as root, namespaces and a uid of its own)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests

import goldenpath
from goldenpath import _config
from tests._servers import ServerProcess, free_port, serving_processes, stop_model_processes

ADMIN = "sandbox-admin-token-s3cret"
PROBE = 4242.0  # the input that makes the model report what it saw


class Snoop:
    """Predicts 0 for anything, except PROBE: then it reports what it could reach."""

    def __init__(self, targets: list[str]) -> None:
        self.targets = targets

    def predict(self, X: Any) -> Any:
        import glob
        import os

        if float(X[0][0]) != PROBE:
            return np.zeros(len(X))
        seen: dict[str, Any] = {"env": dict(os.environ), "uid": os.getuid(),
                                "cwd": os.getcwd(), "read": {}}
        for target in self.targets + glob.glob("/proc/*/environ"):
            try:
                if os.path.isdir(target):
                    seen["read"][target] = os.listdir(target)
                else:
                    with open(target, "rb") as fh:
                        seen["read"][target] = fh.read(64).decode("latin-1")
            except OSError as exc:
                seen["read"][target] = f"refused: {type(exc).__name__}"
        return np.array([json.dumps(seen)] * len(X))


def _server(tmp_path: Path, **env: str) -> Iterator[ServerProcess]:
    home = tmp_path / "home"
    home.mkdir()
    config = tmp_path / "goldenpath.yaml"
    config.write_text("environments:\n  dev: {serving_env: [GRANTED_TO_MODELS]}\n"
                      "webhooks:\n  - {url: 'https://hooks.example/x', secret: hook-s3cret}\n")
    server = ServerProcess(home=home, port=free_port(), env={
        **os.environ, "GOLDENPATH_TOKEN": ADMIN, "GOLDENPATH_CONFIG": str(config),
        "GRANTED_TO_MODELS": "a value the config grants", "AWS_SECRET_ACCESS_KEY": "nope",
        **env})
    server.start()
    previous = _config._current
    try:
        yield server
    finally:
        _config._current = previous
        server.stop()
        stop_model_processes(home)


@pytest.fixture()
def sandboxed(tmp_path: Path) -> Iterator[ServerProcess]:
    yield from _server(tmp_path)


@pytest.fixture()
def without_bubblewrap(tmp_path: Path) -> Iterator[ServerProcess]:
    """bubblewrap is not on the server's PATH: the fallback, which must say so."""
    empty = tmp_path / "bin"
    empty.mkdir()
    yield from _server(tmp_path, PATH=str(empty))


def _probe(server: ServerProcess, tmp_path: Path) -> dict[str, Any]:
    """A submitter (not the admin) deploys Snoop; what Snoop saw from inside."""
    admin = requests.Session()
    admin.headers["Authorization"] = f"Bearer {ADMIN}"
    admin.put(f"{server.url}/api/v1/users/mallory/roles",
              json={"team": "*", "role": "submitter"}).raise_for_status()
    token = admin.post(f"{server.url}/api/v1/users/mallory/tokens", json={}).json()["token"]
    goldenpath.configure(server=server.url, token=token)
    home = server.home
    targets = [str(home / "goldenpath.db"), str(home / "goldenpath.db-wal"), str(home),
               str(home / "artifacts" / "sha256"), str(home / "artifacts" / "unpacked"),
               str(home / "runtime" / "logs"), str(home / "server.log"),
               str(tmp_path / "goldenpath.yaml"), "/root", "/etc/shadow"]
    goldenpath.deploy(_Dummy(), name="other-team", sample=np.ones((2, 2)), quiet=True)
    d = goldenpath.deploy(Snoop(targets), name="snoop", sample=np.ones((2, 2)), quiet=True)
    return json.loads(d.predict(np.full((1, 2), PROBE))[0])


RUNTIME_SETTINGS = {"GOLDENPATH_LOG_SAMPLE", "GOLDENPATH_LOG_DROP", "GOLDENPATH_LOG_HASH",
                    "GOLDENPATH_LOG_SALT", "GOLDENPATH_LOG_BUFFER"}


class _Dummy:
    def predict(self, X: Any) -> Any:
        return np.ones(len(X))


def _assert_nothing_of_the_platform(seen: dict[str, Any], server: ServerProcess) -> None:
    env = seen["env"]
    assert ADMIN not in json.dumps(env) and "hook-s3cret" not in json.dumps(env)
    # of goldenpath's variables only the runtime's own inference-log settings (how much to
    # sample, which columns to drop or hash: monitoring/_config.serving_env), no secret
    assert {k for k in env if k.startswith("GOLDENPATH_")} <= RUNTIME_SETTINGS
    assert env.get("GOLDENPATH_LOG_SAMPLE") == "1.0"
    assert "AWS_SECRET_ACCESS_KEY" not in env
    assert env["GRANTED_TO_MODELS"] == "a value the config grants"  # granted by name
    read = seen["read"]
    home = server.home
    for path in (home / "goldenpath.db", home / "goldenpath.db-wal", home / "server.log",
                 home / "artifacts" / "sha256", home / "runtime" / "logs"):
        assert str(read[str(path)]).startswith("refused"), (path, read[str(path)])
    # the home folder holds only what this process needs: its bundle and metrics folder
    assert sorted(read[str(home)]) == ["artifacts", "runtime"]
    assert len(read[str(home / "artifacts" / "unpacked")]) == 1  # not the other bundle
    config = read[str(home.parent / "goldenpath.yaml")]  # webhook secrets: hidden or blank
    assert str(config).startswith("refused") or config == ""
    assert str(read["/etc/shadow"]).startswith("refused")
    root = read["/root"]  # nobody's home folder: at most the Python it runs on
    assert str(root).startswith("refused") or not {".bashrc", ".ssh", ".cache"} & set(root)
    leaked = [p for p, v in read.items() if p.startswith("/proc/") and ADMIN in str(v)]
    assert not leaked
    for path, value in read.items():  # nobody's environment: not the server's, not its own
        if path.startswith("/proc/") and path.endswith("/environ"):
            assert str(value).startswith("refused") or "GOLDENPATH" not in str(value)
    assert seen["cwd"].startswith(str(home / "artifacts" / "unpacked"))


@pytest.mark.skipif(os.geteuid() != 0, reason="the uid switch needs a root server")
def test_a_hostile_model_reads_no_secret_and_no_server_file(sandboxed: ServerProcess,
                                                            tmp_path: Path) -> None:
    seen = _probe(sandboxed, tmp_path)
    _assert_nothing_of_the_platform(seen, sandboxed)
    assert seen["uid"] >= 1_000_000_000  # a uid of its own, far from every real account
    state = goldenpath.get("snoop").status()
    assert state["status"] == "live"
    uids = {p.uids().real for p in serving_processes(sandboxed.home)}
    assert len(uids) == 2 and 0 not in uids  # each release its own uid, none root


@pytest.mark.skipif(os.geteuid() != 0, reason="the namespace fallback needs a root server")
def test_without_bubblewrap_the_fallback_still_hides_the_platform_and_says_so(
        without_bubblewrap: ServerProcess, tmp_path: Path) -> None:
    seen = _probe(without_bubblewrap, tmp_path)
    _assert_nothing_of_the_platform(seen, without_bubblewrap)
    log = (without_bubblewrap.home / "server.log").read_text()
    assert "sandbox: bubblewrap is not installed" in log and "apt-get install bubblewrap" in log
    events = goldenpath._deploy.client().events("snoop")
    assert any("sandbox: namespaces" in e["message"] for e in events)


def test_sandbox_off_is_loud(tmp_path: Path) -> None:
    for server in _server(tmp_path, GOLDENPATH_SANDBOX="off"):
        goldenpath.configure(server=server.url, token=ADMIN)
        goldenpath.deploy(_Dummy(), name="unboxed", sample=np.ones((2, 2)), quiet=True)
        log = (server.home / "server.log").read_text()
        assert "GOLDENPATH_SANDBOX=off" in log
        events = goldenpath._deploy.client().events("unboxed")
        assert any("sandbox: none" in e["message"] for e in events)


def test_a_python_below_tmp_or_a_closed_folder_is_mounted_back(tmp_path: Path,
                                                                monkeypatch: Any) -> None:
    """The jail puts a fresh tmpfs on /tmp: a venv made under /tmp (a fresh clone there)
    must be mounted back, or the serving process cannot import what the zygote had not."""
    from goldenpath_server.targets import _sandbox

    venv = tmp_path / "clone" / ".venv"
    venv.mkdir(parents=True)
    monkeypatch.setattr(_sandbox, "_python_paths", lambda: {venv, Path("/usr/lib/python3")})
    jail = json.loads(_sandbox.Sandbox.detect("auto", tmp_path / "home").jail())
    assert str(venv) in jail["keep"] and "/usr/lib/python3" not in jail["keep"]
