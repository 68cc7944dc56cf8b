"""Start a real Kubernetes cluster for tests: etcd, apiserver, controllers, scheduler, KWOK
fake nodes and one real node (kubelet + containerd) with goldenpath's images loaded.

Thin wrapper around scripts/cluster/{build,up,down,namespace}.sh and scripts/image/build.sh
so tests and humans start clusters the same way. Each cluster lives in its own state dir on
free loopback ports, its real node's pods on a bridge of its own.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts" / "cluster"
IMAGE_BUILD = SCRIPTS.parent / "image" / "build.sh"
# The images up.sh loads into the real node (scripts/image/build.sh variants).
NODE_IMAGES = ("pause", "runtime", "app")

# A cold build compiles Kubernetes from source (10-20 min on 2 cores); warm is seconds.
BUILD_TIMEOUT_S = 45 * 60
UP_TIMEOUT_S = 5 * 60


def wait_for(what: str, check: Callable[[], Any], timeout: float = 60) -> Any:
    """Poll check until it returns something truthy; fail with `what` after timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


class ClusterError(RuntimeError):
    """A cluster script failed; the message carries its output and where the logs are."""


def _run(args: list[str], timeout: float, env: dict[str, str] | None = None) -> str:
    """Run a cluster script, returning stdout; raise ClusterError with its output on failure."""
    try:
        proc = subprocess.run(
            args,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ClusterError(f"{' '.join(args)} timed out after {timeout:.0f}s") from exc
    if proc.returncode != 0:
        raise ClusterError(
            f"{' '.join(args)} failed with exit code {proc.returncode}:\n"
            f"{proc.stderr[-4000:]}\n{proc.stdout[-2000:]}"
        )
    return proc.stdout


def build_binaries() -> Path:
    """Build (or find cached) control-plane binaries and return their directory."""
    out = _run([str(SCRIPTS / "build.sh")], timeout=BUILD_TIMEOUT_S)
    return Path(out.strip().splitlines()[-1])


def build_images() -> None:
    """Build (or find cached) the real node's images, before up.sh's shorter timeout runs."""
    _run([str(IMAGE_BUILD), *NODE_IMAGES], timeout=BUILD_TIMEOUT_S)


def _env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines written by up.sh (cluster.env, images.env)."""
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {key: value for key, value in pairs}


@dataclass
class Cluster:
    """A running cluster; stop it with stop(), restart only kube-apiserver for fault tests."""

    state_dir: Path
    bin_dir: Path

    @property
    def kubeconfig(self) -> Path:
        return self.state_dir / "kubeconfig"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def images(self) -> dict[str, str]:
        """Image references loaded into the real node: {"runtime": NAME@sha256:..., ...}."""
        env = _env_file(self.state_dir / "images.env")
        return {key[: -len("_IMAGE")].lower().replace("_", "-"): value
                for key, value in env.items() if key.endswith("_IMAGE")}

    @property
    def node_gateway(self) -> str:
        """The host's address on the real node's pod bridge: pods reach servers there."""
        return f"10.244.{_env_file(self.state_dir / 'cluster.env')['NODE_NET']}.1"

    def namespace(self, name: str, real_node: bool = False) -> str:
        """Create a goldenpath namespace as the platform does: admission policies and Pod
        Security `restricted` enforced; with real_node its pods run on the real node."""
        flags = ["--real-node"] if real_node else []
        _run([str(SCRIPTS / "namespace.sh"), *flags, name, str(self.state_dir)],
             UP_TIMEOUT_S, self._env())
        return name

    def _env(self) -> dict[str, str]:
        # The owner pid makes up.sh stop the cluster if this process dies unannounced.
        return {
            **os.environ,
            "GOLDENPATH_K8S_BIN": str(self.bin_dir),
            "GOLDENPATH_CLUSTER_OWNER_PID": str(os.getpid()),
        }

    def _script(self, name: str, *args: str) -> None:
        _run([str(SCRIPTS / name), *args, str(self.state_dir)], UP_TIMEOUT_S, self._env())

    def start(self) -> None:
        """Start every component not yet running and wait until nodes are Ready."""
        self._script("up.sh")

    def stop(self) -> None:
        """Stop every component; the state dir (etcd data, logs) stays."""
        self._script("down.sh")

    def stop_apiserver(self) -> None:
        """Stop only kube-apiserver; etcd keeps the data, the other components retry."""
        self._script("down.sh", "--only", "kube-apiserver")

    def start_apiserver(self) -> None:
        """Start kube-apiserver again on the same port and wait until /readyz is ok."""
        self._script("up.sh", "--only", "kube-apiserver")


def start_cluster(state_dir: Path) -> Cluster:
    """Build the binaries if needed and start a cluster in state_dir (use a fresh temp dir)."""
    cluster = Cluster(state_dir=Path(state_dir), bin_dir=build_binaries())
    build_images()
    try:
        cluster.start()
    except BaseException:
        cluster.stop()
        raise
    return cluster


def start_gateway_server(cluster: Cluster, tmp: Path, extra_env: dict[str, str],
                         port: int = 0) -> Any:
    """A promotion server listening on the real node's gateway address, where pods fetch
    bundles from (and where the caller talks to it, as a user on this machine would)."""
    from tests._servers import ServerProcess, free_port

    @dataclass
    class GatewayServer(ServerProcess):
        host: str = "127.0.0.1"

        @property
        def url(self) -> str:
            return f"http://{self.host}:{self.port}"

    home = tmp / "home"
    home.mkdir(parents=True, exist_ok=True)
    gateway = cluster.node_gateway
    server = GatewayServer(home=home, port=port or free_port(), host=gateway, env={
        **os.environ, "GOLDENPATH_HOST": gateway, "KUBECONFIG": str(cluster.kubeconfig),
        **extra_env})
    server.start()
    return server
