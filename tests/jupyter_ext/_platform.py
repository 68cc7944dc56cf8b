"""A real promotion server with a deployed model, for the extension's pytest and UI tests.

    python tests/jupyter_ext/_platform.py --state DIR   # UI tests: serve until SIGTERM

writes DIR/server.json ({"url", "token", "service", "canary"}) once `iris` is live in dev,
bob has asked for iris in prod (prod needs one approval, from someone else), and `flowers` v2
is in a canary in prod over v1 (held at its first step: prod's steps last ten minutes). The
token there is a
delegation token, as a Jupyter server holds: the panel acts for the signed-in user (alice
or ada, approvers), bob has a token of his own.
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
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEPLOY_IRIS = """
import goldenpath as gp
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
X, y = load_iris(return_X_y=True, as_frame=True)
model = LogisticRegression(max_iter=500, C=C).fit(X, y)
d = gp.deploy(model, name=NAME, sample=X[:5], quiet=True)
print(d.url)
"""


# prod's canary holds each step ten minutes: a UI test finds it at its first step
PLATFORM_CONFIG = """
environments:
  dev: {target: local}
  staging: {target: local}
  prod:
    target: local
    approvals: 1
    delivery:
      canary: {steps: [20, 50, 100], hold_s: 600, min_requests: 10}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


USERS = {"ada": "approver", "alice": "approver", "bob": "approver"}  # in every team


@dataclass
class Platform:
    """A `goldenpath server` process (token-protected) under a temp home: `token` is the
    bootstrap admin's, `tokens` each user's own, `delegation` the Jupyter server's."""

    home: Path
    port: int
    token: str
    proc: subprocess.Popen[bytes]
    tokens: dict[str, str] = field(default_factory=dict)
    delegation: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return {**os.environ, "GOLDENPATH_SERVER": self.url, "GOLDENPATH_TOKEN": self.token,
                "BENTOML_HOME": str(self.home / "bentoml"), "BENTOML_DO_NOT_TRACK": "True"}

    def deploy_iris(self, name: str = "iris", c: float = 1.0) -> str:
        """Deploy a scikit-learn model through the SDK (in a subprocess); its URL. Another
        `c` (regularization) makes another release."""
        out = subprocess.run([sys.executable, "-c", f"NAME = {name!r}\nC = {c!r}\n{DEPLOY_IRIS}"],
                             env=self.env(), capture_output=True, text=True, timeout=300)
        if out.returncode != 0:
            raise RuntimeError(f"gp.deploy failed:\n{out.stdout}\n{out.stderr}")
        return out.stdout.strip().splitlines()[-1]

    def api(self, method: str, path: str, body: dict[str, Any] | None = None,
            user: str = "") -> Any:
        """Call the server directly as `user` (with that user's own token), else as admin."""
        token = self.tokens[user] if user else self.token
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.url}/api/v1/{path}", data=data,
                                         headers=headers, method=method)
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")

    def request_promotion(self, service: str, from_env: str, to_env: str, user: str) -> Any:
        """`user` asks for the release live in `from_env` in `to_env` (may wait for approval)."""
        release = self.api("GET", f"services/{service}/environments/{from_env}")["release_id"]
        return self.api("POST", f"releases/{release}/promotions", {"environment": to_env}, user)

    def promote_approved(self, service: str, to_env: str, strategy: str | None = None,
                         asker: str = "bob", approver: str = "ada",
                         timeout: float = 300) -> str:
        """The release live in dev goes to `to_env` by `strategy`: `asker` asks, `approver`
        approves (four eyes); returns the release id once its rollout started there."""
        release = self.api("GET", f"services/{service}/environments/dev")["release_id"]
        body: dict[str, Any] = {"environment": to_env}
        if strategy:
            body["strategy"] = strategy
        self.api("POST", f"releases/{release}/promotions", body, asker)
        self.api("POST", f"releases/{release}/approvals",
                 {"environment": to_env, "decision": "approve", "comment": "seeded"}, approver)
        return release

    def wait_until(self, what: str, check: Any, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out waiting until {what}")
            time.sleep(1)

    def seed_canary(self, name: str = "flowers") -> None:
        """v1 of `name` live in prod (its first release there: rolling), then v2 in a canary
        there, at its first step (20% of requests)."""
        self.deploy_iris(name)
        v1 = self.promote_approved(name, "prod")
        where = f"services/{name}/environments/prod"
        self.wait_until(f"{name} v1 is live in prod", lambda: (
            (d := self.api("GET", where))["status"] == "live" and d["release_id"] == v1))
        self.deploy_iris(name, c=0.5)
        v2 = self.promote_approved(name, "prod", strategy="canary")
        self.wait_until(f"the canary of {name} v2 progresses in prod", lambda: (
            (p := self._progression(where)) is not None and p["candidate_release_id"] == v2
            and p["state"] == "progressing"))

    def _progression(self, where: str) -> Any:
        try:
            return self.api("GET", f"{where}/rollout")
        except urllib.error.HTTPError as exc:
            if exc.code in (404, 409):
                return None
            raise

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
    (home / "goldenpath.yaml").write_text(PLATFORM_CONFIG)
    env = {**os.environ, "GOLDENPATH_TOKEN": token, "GOLDENPATH_STOP_DEPLOYMENTS_ON_EXIT": "true",
           "GOLDENPATH_CONFIG": str(home / "goldenpath.yaml"),
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
                break
        except OSError:
            time.sleep(0.2)
    else:
        platform.stop()
        raise RuntimeError(f"server did not answer on {platform.url}")
    for user, role in USERS.items():
        platform.api("PUT", f"users/{user}/roles", {"team": "*", "role": role})
        platform.tokens[user] = platform.api("POST", f"users/{user}/tokens", {})["token"]
    platform.delegation = platform.api("POST", "users/jupyter/tokens",
                                       {"name": "jupyter server", "kind": "delegation"})["token"]
    return platform


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
        platform.request_promotion("iris", "dev", "prod", user="bob")
        platform.seed_canary("flowers")
        (args.state / "server.json").write_text(json.dumps(
            {"url": platform.url, "token": platform.delegation, "service": "iris",
             "canary": "flowers"}))
        print(f"goldenpath server {platform.url}: iris live in dev, waiting for approval in "
              "prod; flowers v2 in a canary in prod", flush=True)
        while platform.proc.poll() is None:
            time.sleep(1)
    finally:
        platform.stop()


if __name__ == "__main__":
    main()
