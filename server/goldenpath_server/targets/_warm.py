"""A spare serving process kept warm for the next local rollout (see _warm_worker.py).

Starting `bentoml serve` costs two interpreters, BentoML's CLI imports and the framework
imports before the model even loads: ~3 s of a deploy. The pool keeps one process that has
already paid for all of it; a rollout hands it the bundle and it serves within a fraction
of a second. After each rollout a new spare is started, preloading what the last bundle
imported, so a redeploy of the same model finds everything in memory.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import yaml

WORKER_SCRIPT = Path(__file__).with_name("_warm_worker.py")
METRICS_BASE_ENV = "GOLDENPATH_METRICS_BASE"
_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def serving_env(runtime_dir: Path) -> dict[str, str]:
    """The environment every local serving process gets (warm or `bentoml serve`)."""
    env = {**os.environ, "BENTOML_DO_NOT_TRACK": "True",
           "BENTOML_HOME": str(runtime_dir / "bentoml")}
    env.pop("PYTHONPATH", None)
    return env


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


class WarmPool:
    """Holds at most one spare warm worker; thread-safe (rollouts run in parallel)."""

    def __init__(self, runtime_dir: Path, preload: list[str], enabled: bool = True) -> None:
        self.runtime_dir = runtime_dir
        self.enabled = enabled
        self._default = [m for m in preload if _MODULE.match(m)]
        self._modules = list(self._default)
        self._spare: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._closed = False

    def refill(self, modules: list[str] | None = None) -> None:
        """Start a spare (if none waits) preloading the defaults plus `modules`."""
        if not self.enabled:
            return
        with self._lock:
            if modules is not None:
                self._modules = sorted({*self._default, *modules})
            if self._closed or (self._spare is not None and self._spare.poll() is None):
                return
            self._spare = self._spawn(self._modules)

    def launch(self, bundle_dir: Path, host: str, port: int, log: Path
               ) -> subprocess.Popen[bytes]:
        """A process serving `bundle_dir` on host:port: the spare if one waits, else a new one."""
        with self._lock:
            proc, self._spare = self._spare, None
        if proc is None or proc.poll() is not None:
            proc = self._spawn(bundle_modules(bundle_dir) or self._modules)
        order = {"bundle_dir": str(bundle_dir), "host": host, "port": port, "log": str(log)}
        assert proc.stdin is not None
        try:
            proc.stdin.write(json.dumps(order).encode() + b"\n")
            proc.stdin.close()
        except OSError:  # it died between the check and the write: start one for this order
            proc = self._spawn(bundle_modules(bundle_dir))
            assert proc.stdin is not None
            proc.stdin.write(json.dumps(order).encode() + b"\n")
            proc.stdin.close()
        return proc

    def close(self) -> None:
        with self._lock:
            self._closed = True
            proc, self._spare = self._spare, None
        if proc is not None and proc.poll() is None:
            assert proc.stdin is not None
            proc.stdin.close()  # EOF: the spare exits on its own
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()

    def _spawn(self, modules: list[str]) -> subprocess.Popen[bytes]:
        env = serving_env(self.runtime_dir)
        env[METRICS_BASE_ENV] = str(self.runtime_dir / "metrics")
        with open(self.runtime_dir / "logs" / "warm-workers.log", "ab") as out:
            return subprocess.Popen(
                [sys.executable, "-P", str(WORKER_SCRIPT), str(self.runtime_dir), *modules],
                stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT, env=env,
                cwd=self.runtime_dir, start_new_session=True)


def metrics_dir(runtime_dir: Path, pid: int) -> Path:
    """Where the warm worker with `pid` keeps its Prometheus files (see _warm_worker.py)."""
    return runtime_dir / "metrics" / str(pid)
