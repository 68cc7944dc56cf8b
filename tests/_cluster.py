"""Start a real Kubernetes control plane (etcd, apiserver, controllers, scheduler, KWOK) for tests.

Thin wrapper around scripts/cluster/{build,up,down}.sh so tests and humans start
clusters the same way. Each cluster lives in its own state dir on free loopback ports.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts" / "cluster"

# A cold build compiles Kubernetes from source (10-20 min on 2 cores); warm is seconds.
BUILD_TIMEOUT_S = 45 * 60
UP_TIMEOUT_S = 5 * 60


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
    try:
        cluster.start()
    except BaseException:
        cluster.stop()
        raise
    return cluster
