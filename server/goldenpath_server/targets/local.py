"""The local process target: each release runs as a supervised BentoML serving process.

A single-worker bundle (goldenpath's own) is served by BentoML's HTTP worker forked from a
zygote that has imported everything ahead of time (_warm.py). Anything else runs under
`bentoml serve`.
Model processes run in their own session so that a server crash does not take them down;
after a restart the server re-adopts the ones still healthy and restarts the others.
"""

from __future__ import annotations

import shutil
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
from goldenpath_server.targets._warm import (
    WarmStartFailed,
    Zygote,
    bundle_modules,
    metrics_dir,
    serving_env,
    warm_eligible,
)

DRAIN_SECONDS = 2.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalProcessTarget:
    """Runs bundles as BentoML serving processes on loopback, behind a stable forwarding port."""

    name = "local"

    def __init__(self, runtime_dir: Path, ready_timeout_s: float = 180.0,
                 stopping: threading.Event | None = None, warm: bool = True,
                 warm_preload: list[str] | None = None) -> None:
        self.runtime_dir = runtime_dir
        self._stopping = stopping or threading.Event()
        self.ready_timeout_s = ready_timeout_s
        (runtime_dir / "logs").mkdir(parents=True, exist_ok=True)
        self._forwarders = Forwarders()
        self._zygote = Zygote(runtime_dir, warm_preload or [], enabled=warm)
        self._zygote.prepare()  # the first deploy finds it ready too

    def deploy(self, rollout: Rollout, state: dict[str, Any], progress: Progress
               ) -> dict[str, Any]:
        if rollout.kind != "model" or rollout.bundle_dir is None:
            raise TargetError("the local target runs model bundles only; deploy apps to a "
                              "Kubernetes environment")
        port = free_port()
        log = self.runtime_dir / "logs" / f"{rollout.key}.{rollout.release_id}.log"
        pid, proc = self._start(rollout.bundle_dir, port, log, progress)
        try:
            self._wait_ready(pid, proc, port, log)
        except (TargetError, RolloutInterrupted):
            self._discard(pid)
            raise
        finally:
            # after this rollout, so a new zygote does not compete with it for the CPU
            self._zygote.prepare(bundle_modules(rollout.bundle_dir))
        front = self._forwarders.ensure(rollout.key, state.get("front_port"))
        self._forwarders.point(rollout.key, port)
        old_pid = state.get("pid")
        if old_pid and old_pid != pid and _alive(state):
            # connections already on the old process get DRAIN_SECONDS to finish
            threading.Timer(DRAIN_SECONDS, self._discard, args=(int(old_pid),)).start()
        progress(f"live at http://127.0.0.1:{front}")
        return {"pid": pid, "started": psutil.Process(pid).create_time(),
                "port": port, "front_port": front, "log": str(log),
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
            self._discard(int(state["pid"]))
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
            self._discard(int(state["pid"]))
        if state.get("key"):
            self._forwarders.remove(str(state["key"]))

    def close(self) -> None:
        self._zygote.close()
        self._forwarders.close()

    def _discard(self, pid: int) -> None:
        """Stop a serving process and remove what it left behind."""
        _terminate(pid)
        shutil.rmtree(metrics_dir(self.runtime_dir, pid), ignore_errors=True)

    def _start(self, bundle_dir: Path, port: int, log: Path, progress: Progress
               ) -> tuple[int, subprocess.Popen[bytes] | None]:
        """A process serving the bundle on `port`: forked from the zygote when one BentoML
        worker serves it, else `bentoml serve` (also when the zygote fails)."""
        if self._zygote.enabled and warm_eligible(bundle_dir):
            progress(f"forking a warm BentoML worker on 127.0.0.1:{port}")
            try:
                return self._zygote.fork(bundle_dir, "127.0.0.1", port, log), None
            except WarmStartFailed as exc:
                progress(f"{exc}; falling back to bentoml serve")
        progress(f"starting bentoml serve on 127.0.0.1:{port}")
        proc = self._spawn(bundle_dir, port, log)
        return proc.pid, proc

    def _spawn(self, bundle_dir: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
        env = serving_env(self.runtime_dir)
        with open(log, "ab") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "bentoml", "serve", str(bundle_dir), "--host",
                 "127.0.0.1", "--port", str(port)],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                cwd=bundle_dir, start_new_session=True)

    def _wait_ready(self, pid: int, proc: subprocess.Popen[bytes] | None, port: int,
                    log: Path) -> None:
        deadline = time.monotonic() + self.ready_timeout_s
        while time.monotonic() < deadline:
            if self._stopping.is_set():
                raise RolloutInterrupted(str(port))
            code = _exit_code(pid, proc)
            if code is not None:
                tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
                raise TargetError(f"the serving process exited with code {code} before it "
                                  f"was ready:\n{tail}")
            try:
                if requests.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise TargetError(f"the serving process was not ready within "
                          f"{self.ready_timeout_s:.0f}s; see its log {log}")


def _exit_code(pid: int, proc: subprocess.Popen[bytes] | None) -> int | str | None:
    """None while `pid` runs; its exit code (or "unknown" for a forked one) once it ended."""
    if proc is not None:
        return proc.poll()
    try:
        gone = psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        gone = True  # the zygote's children are reaped by the kernel: no code to read
    return "unknown" if gone else None


def _alive(state: dict[str, Any]) -> bool:
    pid = state.get("pid")
    if not pid:
        return False
    try:
        proc = psutil.Process(int(pid))
        if not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE:
            return False
        # guard against pid reuse: the same pid started at the same time is our process
        if "started" in state:
            return abs(proc.create_time() - float(state["started"])) < 0.01
        return str(state.get("bundle_dir", "")) in " ".join(proc.cmdline())
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
