"""A real promotion server with a deployed model, for the extension's pytest and UI tests.

    python tests/jupyter_ext/_platform.py --state DIR   # UI tests: serve until SIGTERM

writes DIR/server.json ({"url", "token", "service"}) once `iris` is live in dev.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

DEPLOY_IRIS = """
import goldenpath as gp
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
X, y = load_iris(return_X_y=True, as_frame=True)
model = LogisticRegression(max_iter=500).fit(X, y)
d = gp.deploy(model, name=NAME, sample=X[:5], quiet=True)
print(d.url)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Platform:
    """A `goldenpath server` process (token-protected) under a temp home."""

    home: Path
    port: int
    token: str
    proc: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return {**os.environ, "GOLDENPATH_SERVER": self.url, "GOLDENPATH_TOKEN": self.token,
                "BENTOML_HOME": str(self.home / "bentoml"), "BENTOML_DO_NOT_TRACK": "True"}

    def deploy_iris(self, name: str = "iris") -> str:
        """Deploy a scikit-learn model through the SDK (in a subprocess); its URL."""
        out = subprocess.run([sys.executable, "-c", f"NAME = {name!r}\n{DEPLOY_IRIS}"],
                             env=self.env(), capture_output=True, text=True, timeout=300)
        if out.returncode != 0:
            raise RuntimeError(f"gp.deploy failed:\n{out.stdout}\n{out.stderr}")
        return out.stdout.strip().splitlines()[-1]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        _kill_model_processes(self.home)


def start(home: Path, token: str = "test-token", timeout: float = 60) -> Platform:
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {**os.environ, "GOLDENPATH_TOKEN": token, "GOLDENPATH_STOP_DEPLOYMENTS_ON_EXIT": "true",
           "BENTOML_HOME": str(home / "bentoml"), "BENTOML_DO_NOT_TRACK": "True"}
    env.pop("GOLDENPATH_SERVER", None)
    log = open(home / "server.log", "ab")  # noqa: SIM115 - owned by the child process
    proc = subprocess.Popen([sys.executable, "-m", "goldenpath", "server", "--port", str(port),
                             "--home", str(home)], env=env, stdout=log, stderr=subprocess.STDOUT)
    platform = Platform(home, port, token, proc)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {(home / 'server.log').read_text()}")
        try:
            with urllib.request.urlopen(f"{platform.url}/healthz", timeout=1):
                return platform
        except OSError:
            time.sleep(0.2)
    platform.stop()
    raise RuntimeError(f"server did not answer on {platform.url}")


def _kill_model_processes(home: Path) -> None:
    """Model processes may outlive the server; leave none behind."""
    import psutil

    for proc in psutil.process_iter(["pid", "cmdline"]):
        if str(home) in " ".join(proc.info["cmdline"] or []) and proc.pid != os.getpid():
            try:
                proc.kill()
            except psutil.Error:
                pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--state", type=Path, required=True)
    args = parser.parse_args()
    platform = start(args.state / "home")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        platform.deploy_iris("iris")
        (args.state / "server.json").write_text(json.dumps(
            {"url": platform.url, "token": platform.token, "service": "iris"}))
        print(f"goldenpath server {platform.url} with iris live in dev", flush=True)
        while platform.proc.poll() is None:
            time.sleep(1)
    finally:
        platform.stop()


if __name__ == "__main__":
    main()
