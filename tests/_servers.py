"""Real promotion-server processes for tests: free ports, temp homes, clean shutdown."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests


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


def serving_processes(home: Path) -> list[Any]:
    """Processes serving bundles of the server in `home`: they run in the unpacked bundle."""
    import psutil

    bundles = str(home / "artifacts")
    return [p for p in psutil.process_iter(["cwd"]) if (p.info["cwd"] or "").startswith(bundles)]


def stop_model_processes(home: Path) -> None:
    """Model processes outlive the server by design; tests must not leave them behind."""
    import psutil

    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if ("bentoml" in cmd or "_warm_worker" in cmd) and str(home) in cmd:
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


@contextmanager
def sdk_pointed_at(server: ServerProcess) -> Iterator[Any]:
    """The goldenpath SDK configured for `server` inside the block; the configuration the
    process had before, again after it."""
    import goldenpath
    from goldenpath import _config

    previous = _config._current
    goldenpath.configure(server=server.url)
    try:
        yield goldenpath
    finally:
        _config._current = previous
