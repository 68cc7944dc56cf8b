"""App releases on the local target: the image runs as a podman container, behind the same
stable endpoint as a model's serving process.

Where the machine has podman (Debian: apt-get install podman slirp4netns), an app release
runs like its Kubernetes pod would: as uid 10001, read-only root filesystem with a private
/tmp, every capability dropped, no new privileges, its CPU and memory limited to what the
release asks for, and user-mode networking (slirp4netns) that reaches neither the host's
loopback nor the promotion server; its port is published on 127.0.0.1 only. The
environment is built as for a model: nothing of the server's but what the environment's
config grants by name. The image must be on the machine (`podman load`, or a registry
podman can pull from); it is always run by its digest.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from goldenpath_server.targets._base import Rollout, RolloutInterrupted, TargetError

NETWORK = "slirp4netns"  # no iptables needed, and no way back to the host's loopback
# raising resource limits is not permitted on some machines: lower them explicitly
_ULIMITS = ("--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096")
INSTALL = ("install podman (apt-get install podman slirp4netns) and restart the server, or "
           "deliver apps to a Kubernetes environment")


def podman_problem() -> str:
    """Why this machine cannot run app images ("" when it can)."""
    podman = shutil.which("podman")
    if not podman:
        return "podman is not installed"
    if not shutil.which(NETWORK):
        return f"{NETWORK} is not installed"
    done = subprocess.run([podman, "info", "--format", "{{.Host.OCIRuntime.Name}}"],
                          capture_output=True, text=True, timeout=60)
    return "" if done.returncode == 0 else f"podman does not work here: {done.stderr[-300:]}"


class Podman:
    """Runs, follows and stops app containers; the caller owns ports and endpoints."""

    def __init__(self, label: str) -> None:
        self.label = label  # marks this server's containers (its home folder)
        runc = shutil.which("runc") or "/usr/sbin/runc"
        # runc with cgroupfs: crun and the systemd manager fail on hybrid cgroups
        self.base = ["podman", "--runtime", runc, "--cgroup-manager", "cgroupfs"]

    def run(self, rollout: Rollout, port: int, env: dict[str, str],
            resources: dict[str, float]) -> str:
        """Start the release's container on 127.0.0.1:`port`; its name."""
        self._ensure_image(rollout.image)
        name = f"gp-{rollout.key.replace('.', '-')}-{rollout.release_id}-{port}"
        limits = []
        if resources.get("cpu"):
            limits += ["--cpus", str(resources["cpu"])]
        if resources.get("memory_gb"):
            limits += ["--memory", f"{max(6, round(resources['memory_gb'] * 1024))}m"]
        # --init: a real PID 1 passes SIGTERM on (an app alone as PID 1 ignores it)
        args = [*self.base, "run", "--detach", "--init", "--name", name, "--network", NETWORK,
                "--publish", f"127.0.0.1:{port}:{rollout.port}", "--user", "10001:10001",
                "--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL",
                "--security-opt", "no-new-privileges", *_ULIMITS, *limits,
                "--label", f"goldenpath.dev/home={self.label}",
                "--label", f"goldenpath.dev/release={rollout.release_id}"]
        for key, value in env.items():
            args += ["--env", f"{key}={value}"]
        done = self._podman(args + [rollout.image], timeout=300)
        if done.returncode != 0:
            raise TargetError(f"podman could not start {rollout.image}: "
                              f"{done.stderr.strip()[-800:]}")
        return name

    def wait_ready(self, name: str, port: int, container_port: int, timeout: float,
                   stopping: Any) -> None:
        """Until the app listens on `container_port` inside its container and the published
        `port` accepts connections (the Kubernetes template's readiness for apps is a TCP
        check on the pod's port), or TargetError with its log. The published port alone
        proves nothing: slirp4netns's forwarder accepts there before the app listens, and
        the first request would be cut off."""
        deadline = time.monotonic() + timeout
        pid = 0
        while time.monotonic() < deadline:
            if stopping.is_set():
                raise RolloutInterrupted(name)
            if not self.running(name):
                raise TargetError("the app container exited before it was ready:\n"
                                  + "\n".join(self.logs(name, 15)))
            pid = pid or self._pid(name)
            try:
                if pid and _listens(pid, container_port):
                    with socket.create_connection(("127.0.0.1", port), timeout=1):
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise TargetError(f"the app did not accept connections on its port within "
                          f"{timeout:.0f}s:\n" + "\n".join(self.logs(name, 15)))

    def running(self, name: str) -> bool:
        done = self._podman([*self.base, "inspect", "--format", "{{json .State.Running}}",
                             name], timeout=30)
        return done.returncode == 0 and json.loads(done.stdout.strip() or "false") is True

    def _pid(self, name: str) -> int:
        done = self._podman([*self.base, "inspect", "--format", "{{.State.Pid}}", name],
                            timeout=30)
        return int(done.stdout.strip() or 0) if done.returncode == 0 else 0

    def logs(self, name: str, tail: int) -> list[str]:
        done = self._podman([*self.base, "logs", "--tail", str(tail), name], timeout=30)
        return (done.stdout + done.stderr).splitlines()[-tail:]

    def remove(self, name: str, grace: float = 5.0) -> None:
        """SIGTERM, up to `grace` seconds to finish, then gone (SIGKILL if need be)."""
        self._podman([*self.base, "kill", "--signal", "TERM", name], timeout=30)
        deadline = time.monotonic() + grace
        while self.running(name) and time.monotonic() < deadline:
            time.sleep(0.2)
        self._podman([*self.base, "rm", "--force", "--time", "0", name], timeout=60)

    def containers(self) -> list[str]:
        """The names of this server's containers (by its label), running or not."""
        done = self._podman([*self.base, "ps", "--all", "--format", "{{.Names}}", "--filter",
                             f"label=goldenpath.dev/home={self.label}"], timeout=60)
        return done.stdout.split() if done.returncode == 0 else []

    def _ensure_image(self, image: str) -> None:
        if self._podman([*self.base, "image", "exists", image], timeout=60).returncode == 0:
            return
        pulled = self._podman([*self.base, "pull", "--quiet", image], timeout=600)
        if pulled.returncode != 0:
            raise TargetError(f"the image {image} is not on this machine and could not be "
                              f"pulled ({pulled.stderr.strip()[-300:]}); load it first "
                              "(podman load -i IMAGE.tar) or push it to a registry this "
                              "machine reaches")

    @staticmethod
    def _podman(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(args, capture_output=True, text=True, timeout=timeout,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise TargetError(f"podman did not answer within {timeout:.0f}s: "
                              f"{' '.join(args[:6])} ...") from None


_LISTEN = "0A"  # the TCP state LISTEN in /proc/net/tcp


def _listens(pid: int, port: int) -> bool:
    """Whether a socket in the network namespace of process `pid` listens on TCP `port`."""
    for table in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == _LISTEN and int(fields[1].rsplit(":", 1)[1], 16) == port:
                return True
    return False
