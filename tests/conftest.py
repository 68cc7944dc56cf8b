"""Hermetic fixtures: temp homes, free ports, real server processes, a clean environment."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

# Before anything imports bentoml: a private model/bento store, no usage tracking.
_SESSION_TMP = Path(tempfile.mkdtemp(prefix="goldenpath-tests-"))
os.environ["BENTOML_HOME"] = str(_SESSION_TMP / "bentoml")
os.environ["BENTOML_DO_NOT_TRACK"] = "True"
for _var in ("GOLDENPATH_SERVER", "GOLDENPATH_TOKEN", "GOLDENPATH_HOME", "GOLDENPATH_ENV"):
    os.environ.pop(_var, None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerProcess:
    """A real `goldenpath server` process on loopback."""

    home: Path
    port: int
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> None:
        log = open(self.home / "server.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "goldenpath", "server", "--port", str(self.port),
             "--home", str(self.home)], env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {(self.home / 'server.log').read_text()}")
            try:
                if requests.get(f"{self.url}/healthz", timeout=1).ok:
                    return
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError("server did not start")

    def kill(self) -> None:
        """SIGKILL: the crash case, nothing gets to clean up."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)


def _stop_model_processes(home: Path) -> None:
    """Model processes outlive the server by design; tests must not leave them behind."""
    import psutil

    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if "bentoml" in cmd and str(home) in cmd:
            try:
                os.killpg(os.getpgid(proc.info["pid"]), signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def start_server(tmp: Path, extra_env: dict[str, str] | None = None) -> ServerProcess:
    home = tmp / "home"
    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **(extra_env or {})}
    server = ServerProcess(home=home, port=free_port(), env=env)
    server.start()
    return server


@pytest.fixture(scope="session")
def server() -> Iterator[ServerProcess]:
    """One promotion server for the session (tests use distinct service names)."""
    srv = start_server(Path(tempfile.mkdtemp(prefix="gp-server-", dir=_SESSION_TMP)))
    yield srv
    srv.stop()
    _stop_model_processes(srv.home)


@pytest.fixture()
def fresh_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server of the test's own, for tests that kill or restart it."""
    srv = start_server(tmp_path)
    yield srv
    srv.stop()
    _stop_model_processes(srv.home)


@pytest.fixture()
def gp(server: ServerProcess) -> Iterator[object]:
    """The SDK pointed at the session server."""
    import goldenpath
    from goldenpath import _config

    previous = _config._current
    goldenpath.configure(server=server.url)
    yield goldenpath
    _config._current = previous


@pytest.fixture(scope="session")
def iris() -> tuple[object, object]:
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True, as_frame=True)
    return X, y
