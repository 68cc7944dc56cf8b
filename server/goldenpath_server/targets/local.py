"""The local process target: each release runs as a supervised `bentoml serve` subprocess.

Model processes run in their own session so that a server crash does not take them down;
after a restart the server re-adopts the ones still healthy and restarts the others.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import requests

from goldenpath_server.targets._base import Progress, Rollout, RolloutInterrupted, TargetError
from goldenpath_server.targets._forwarder import Forwarders

DRAIN_SECONDS = 2.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalProcessTarget:
    """Runs bundles with `bentoml serve` on loopback, behind a stable forwarding port."""

    name = "local"

    def __init__(self, runtime_dir: Path, ready_timeout_s: float = 180.0,
                 stopping: threading.Event | None = None) -> None:
        self.runtime_dir = runtime_dir
        self._stopping = stopping or threading.Event()
        self.ready_timeout_s = ready_timeout_s
        (runtime_dir / "logs").mkdir(parents=True, exist_ok=True)
        self._forwarders = Forwarders()

    def deploy(self, rollout: Rollout, state: dict[str, Any], progress: Progress
               ) -> dict[str, Any]:
        if rollout.kind != "model" or rollout.bundle_dir is None:
            raise TargetError("the local target runs model bundles only; deploy apps to a "
                              "Kubernetes environment")
        port = free_port()
        log = self.runtime_dir / "logs" / f"{rollout.key}.{rollout.release_id}.log"
        progress(f"starting bentoml serve on 127.0.0.1:{port}")
        proc = self._spawn(rollout.bundle_dir, port, log)
        try:
            self._wait_ready(proc, port, log)
        except (TargetError, RolloutInterrupted):
            _terminate(proc.pid)
            raise
        front = self._forwarders.ensure(rollout.key, state.get("front_port"))
        self._forwarders.point(rollout.key, port)
        old_pid = state.get("pid")
        if old_pid and old_pid != proc.pid:
            # connections already on the old process get DRAIN_SECONDS to finish
            threading.Timer(DRAIN_SECONDS, _terminate, args=(old_pid,)).start()
        progress(f"live at http://127.0.0.1:{front}")
        return {"pid": proc.pid, "port": port, "front_port": front, "log": str(log),
                "bundle_dir": str(rollout.bundle_dir), "key": rollout.key,
                "url": f"http://127.0.0.1:{front}"}

    def adopt(self, rollout: Rollout, state: dict[str, Any], progress: Progress
              ) -> dict[str, Any]:
        ok, _ = self.health(state)
        if ok:
            front = self._forwarders.ensure(rollout.key, state.get("front_port"))
            self._forwarders.point(rollout.key, int(state["port"]))
            progress("re-adopted the running process")
            return {**state, "front_port": front, "url": f"http://127.0.0.1:{front}"}
        if _alive(state):
            _terminate(int(state["pid"]))
        progress("process gone; starting it again")
        return self.deploy(rollout, {"front_port": state.get("front_port")}, progress)

    def health(self, state: dict[str, Any]) -> tuple[bool, str]:
        if not _alive(state):
            return False, "process is not running"
        try:
            response = requests.get(f"http://127.0.0.1:{state['port']}/readyz", timeout=2)
        except requests.RequestException as exc:
            return False, f"readiness probe failed: {exc}"
        return response.status_code == 200, f"readyz answered {response.status_code}"

    def logs(self, state: dict[str, Any], tail: int) -> list[str]:
        log = state.get("log")
        if not log or not Path(log).exists():
            return []
        with open(log, "rb") as fh:
            fh.seek(max(0, Path(log).stat().st_size - 256 * 1024))
            lines = fh.read().decode("utf-8", "replace").splitlines()
        return lines[-tail:]

    def stop(self, state: dict[str, Any]) -> None:
        """Stop the process and give up its stable endpoint."""
        if _alive(state):
            _terminate(int(state["pid"]))
        if state.get("key"):
            self._forwarders.remove(str(state["key"]))

    def close(self) -> None:
        self._forwarders.close()

    def _spawn(self, bundle_dir: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
        env = {**os.environ, "BENTOML_DO_NOT_TRACK": "True",
               "BENTOML_HOME": str(self.runtime_dir / "bentoml")}
        env.pop("PYTHONPATH", None)
        with open(log, "ab") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "bentoml", "serve", str(bundle_dir), "--host",
                 "127.0.0.1", "--port", str(port)],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                cwd=bundle_dir, start_new_session=True)

    def _wait_ready(self, proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
        deadline = time.monotonic() + self.ready_timeout_s
        while time.monotonic() < deadline:
            if self._stopping.is_set():
                raise RolloutInterrupted(str(port))
            if proc.poll() is not None:
                tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
                raise TargetError(f"bentoml serve exited with code {proc.returncode} before "
                                  f"it was ready:\n{tail}")
            try:
                if requests.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise TargetError(f"bentoml serve was not ready within {self.ready_timeout_s:.0f}s; "
                          f"see its log {log}")


def _alive(state: dict[str, Any]) -> bool:
    pid = state.get("pid")
    if not pid:
        return False
    try:
        proc = psutil.Process(int(pid))
        # guard against pid reuse: it must still be our bentoml serve of this bundle
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE and \
            str(state.get("bundle_dir", "")) in " ".join(proc.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def _terminate(pid: int, grace: float = 10.0) -> None:
    """Stop `bentoml serve` and its workers (circus puts each worker in its own session)."""
    try:
        parent = psutil.Process(pid)
        tree = [parent, *parent.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    try:
        parent.terminate()  # the arbiter stops its workers gracefully
    except psutil.NoSuchProcess:
        pass
    _gone, alive = psutil.wait_procs(tree, timeout=grace)
    for proc in alive:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=5)
