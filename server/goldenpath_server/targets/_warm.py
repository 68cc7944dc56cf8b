"""The local target's zygote: one process with BentoML and the frameworks imported, forking
a serving process per rollout (see _warm_worker.py).

Starting `bentoml serve` costs two interpreters, BentoML's CLI imports and the framework
imports before the model even loads: ~3 s of a deploy. A fork of the zygote has paid all
of that already and serves within a fraction of a second. When a bundle needs modules the
zygote has not imported (another framework), a new zygote that preloads them replaces the
old one after that rollout, so the next deploy of that kind is warm too.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import yaml

from goldenpath_server.targets._sandbox import Sandbox

WORKER_SCRIPT = Path(__file__).with_name("_warm_worker.py")
_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


class WarmStartFailed(Exception):
    """The zygote could not fork a serving process (it died or answered nonsense)."""


def warm_eligible(bundle_dir: Path) -> bool:
    """One worker, no dependent services, no GPUs: what a single BentoML worker serves alone.

    Anything else goes through `bentoml serve`, whose supervisor runs several workers."""
    try:
        bento = yaml.safe_load((bundle_dir / "bento.yaml").read_text()) or {}
        services = bento.get("services") or []
        entry = next(s for s in services if s.get("name") == bento.get("entry_service"))
    except (OSError, yaml.YAMLError, StopIteration, AttributeError):
        return False
    config = entry.get("config") or {}
    return (len(services) == 1 and not entry.get("dependencies")
            and config.get("workers", 1) == 1
            and "gpu" not in (config.get("resources") or {}))


def bundle_modules(bundle_dir: Path) -> list[str]:
    """Modules the bundle's model imports, as recorded in its goldenpath.json."""
    names: set[str] = set()
    for meta in (bundle_dir / "models").rglob("goldenpath.json"):
        try:
            names.update(json.loads(meta.read_text()).get("modules") or [])
        except (OSError, ValueError, AttributeError):
            continue
    return sorted(n for n in names if isinstance(n, str) and _MODULE.match(n))


def metrics_dir(runtime_dir: Path, port: int) -> Path:
    """Where the serving process on `port` keeps its Prometheus files (see _warm_worker.py)."""
    return runtime_dir / "metrics" / str(port)


def worker_command(sandbox: Sandbox, runtime_dir: Path, args: list[str]) -> list[str]:
    """The worker script (zygote, or `exec`) inside the sandbox's view of the machine."""
    return sandbox.wrap([sys.executable, "-P", str(WORKER_SCRIPT), *args],
                        writable=[runtime_dir / "logs", runtime_dir / "metrics"])


class Zygote:
    """Holds the zygote process; thread-safe (rollouts run in parallel)."""

    def __init__(self, runtime_dir: Path, preload: list[str], sandbox: Sandbox,
                 enabled: bool = True) -> None:
        self.runtime_dir = runtime_dir
        self.sandbox = sandbox
        self.enabled = enabled
        self._default = sorted(m for m in preload if _MODULE.match(m))
        self._proc: subprocess.Popen[str] | None = None
        self._modules: set[str] = set()
        self._coming: set[str] = set()  # what a replacement being started will preload
        self._lock = threading.Lock()
        self._closed = False

    def prepare(self, modules: list[str] | None = None) -> None:
        """Have a zygote that preloads the defaults and `modules`.

        A replacement takes over only once it has imported everything: until then rollouts
        still fork from the current one (and import what it lacks themselves)."""
        if not self.enabled:
            return
        wanted = {*self._default, *(modules or [])}
        with self._lock:
            if self._closed or (self._alive() and wanted <= self._modules) or \
                    wanted <= self._coming:
                return
            if not self._alive():  # nothing to fork from meanwhile: this one, at once
                self._proc, self._modules = self._spawn(wanted), wanted
                return
            wanted |= self._modules
            self._coming = wanted
            new = self._spawn(wanted)
        threading.Thread(target=self._take_over, args=(new, wanted), daemon=True,
                         name="gp-zygote").start()

    def _take_over(self, new: subprocess.Popen[str], modules: set[str]) -> None:
        assert new.stdout is not None
        ready = new.stdout.readline()  # the zygote's first line: its imports are done
        with self._lock:
            if self._coming == modules:
                self._coming = set()
            old: subprocess.Popen[str] | None
            if not ready or self._closed:
                old = new
            else:
                old, self._proc, self._modules = self._proc, new, modules
        if old is not None:
            _stop(old)

    def fork(self, bundle_dir: Path, host: str, port: int, log: Path,
             jailed: dict[str, Any]) -> int:
        """The pid of a new process serving `bundle_dir` on host:port; `jailed` is its
        environment, uid and metrics folder (see LocalProcessTarget._jailed)."""
        order = json.dumps({"bundle_dir": str(bundle_dir), "host": host, "port": port,
                            "log": str(log), **jailed})
        with self._lock:
            if not self._alive():
                self._modules = {*self._default, *bundle_modules(bundle_dir)}
                self._proc = self._spawn(self._modules)
            proc = self._proc
            assert proc is not None and proc.stdin is not None and proc.stdout is not None
            try:
                proc.stdin.write(order + "\n")
                proc.stdin.flush()
                while line := proc.stdout.readline():  # waits out the zygote's imports
                    answer = json.loads(line)
                    if "pid" in answer:
                        return int(answer["pid"])
            except (OSError, ValueError) as exc:
                raise WarmStartFailed(f"the warm worker zygote failed: {exc}") from exc
            raise WarmStartFailed(f"the warm worker zygote exited (code {proc.poll()}); see "
                                  f"{self.runtime_dir / 'logs' / 'zygote.log'}")

    def close(self) -> None:
        with self._lock:
            self._closed = True
            proc, self._proc = self._proc, None
        if proc is not None:
            _stop(proc)

    def _alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _spawn(self, modules: set[str]) -> subprocess.Popen[str]:
        argv = worker_command(self.sandbox, self.runtime_dir,
                              [str(self.runtime_dir), self.sandbox.jail(), *sorted(modules)])
        with open(self.runtime_dir / "logs" / "zygote.log", "ab") as err:
            return subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True,
                env=self.sandbox.environment(), cwd=tempfile.gettempdir(),
                start_new_session=True)  # signals to the server's group are not its


def _stop(proc: subprocess.Popen[str]) -> None:
    """EOF ends the zygote; the serving processes it forked live on (own sessions)."""
    try:
        if proc.stdin is not None:
            proc.stdin.close()
        proc.wait(timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        proc.kill()
        proc.wait(timeout=5)
