"""The local process target: each release runs as a supervised BentoML serving process.

A single-worker bundle (goldenpath's own) is served by BentoML's HTTP worker forked from a
zygote that has imported everything ahead of time (_warm.py). Anything else runs under
`bentoml serve`. Either way the process runs in the sandbox (_sandbox.py): its own uid,
nothing of the server's files, an environment built for it. Before the stable port points
at a new process, the server replays the notebook's sample against it (parity).
Model processes run in their own session so that a server crash does not take them down;
after a restart the server re-adopts the ones still healthy and restarts the others.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import requests

from goldenpath_router import Router, Split
from goldenpath_server.targets import _parity
from goldenpath_server.targets._base import (
    Progress,
    Rollout,
    RolloutInterrupted,
    TargetError,
    app_shadow_refused,
)
from goldenpath_server.targets._containers import INSTALL, Podman, podman_problem
from goldenpath_server.targets._forwarder import Forwarders
from goldenpath_server.targets._inference_pull import Source, http_source
from goldenpath_server.targets._pod_metrics import Counters, Scrape, process_counters
from goldenpath_server.targets._processes import _alive, _exit_code, _terminate, free_port
from goldenpath_server.targets._sandbox import Sandbox, serving_uid
from goldenpath_server.targets._template import resources_of
from goldenpath_server.targets._warm import (
    WarmStartFailed,
    Zygote,
    bundle_modules,
    metrics_dir,
    warm_eligible,
    worker_command,
)
from goldenpath_serving._parity import read_failure

DRAIN_SECONDS = 2.0


class LocalProcessTarget:
    """Runs bundles as BentoML serving processes on loopback, behind a stable forwarding port."""

    name = "local"

    def __init__(self, runtime_dir: Path, sandbox: Sandbox, ready_timeout_s: float = 180.0,
                 stopping: threading.Event | None = None, warm: bool = True,
                 warm_preload: list[str] | None = None) -> None:
        self.runtime_dir = runtime_dir
        self.sandbox = sandbox
        self._stopping = stopping or threading.Event()
        self.ready_timeout_s = ready_timeout_s
        (runtime_dir / "logs").mkdir(parents=True, exist_ok=True)
        self._forwarders = Forwarders()
        self._router = Router()
        self._unrouting: dict[str, threading.Timer] = {}
        self._routed: set[str] = set()  # keys whose stable endpoint the router serves
        self._zygote = Zygote(runtime_dir, warm_preload or [], sandbox, enabled=warm)
        self._zygote.prepare()  # the first deploy finds it ready too
        problem = podman_problem()
        self.podman = None if problem else Podman(label=str(sandbox.home))
        self._draining: dict[threading.Timer, str] = {}
        # what it cannot run, and why: the platform refuses such releases up front
        self.cannot_run = {"app": f"the local target runs app images with podman, which "
                                  f"does not work here: {problem}; {INSTALL}"} if problem else {}

    # the strategies the stable endpoint can follow: the relay switches at once (rolling);
    # the HTTP router (_router.py) splits, mirrors and measures requests for the others
    strategies = ("rolling", "blue-green", "canary", "shadow", "champion-challenger")

    def deploy(self, rollout: Rollout, state: dict[str, Any], progress: Progress
               ) -> dict[str, Any]:
        if rollout.kind == "app":
            return self._deploy_app(rollout, state, progress)
        warm = state.get("warm") or {}
        if warm.get("release_id") == rollout.release_id and _alive(warm):
            # blue-green keeps the release it replaced warm: switching back is instant
            progress("switching back to the process kept warm")
            return self.complete(rollout, state, warm, 0.0)
        candidate = self.start_candidate(rollout, progress)
        parity = candidate.get("parity")  # the platform records it as verified evidence
        live = self.complete(rollout, state, candidate, 0.0)
        return {**live, "parity": parity} if parity else live

    def start_candidate(self, rollout: Rollout, progress: Progress) -> dict[str, Any]:
        """A process serving the release, ready and parity-checked, on its own port: no
        traffic reaches it until complete() or split() sends some."""
        if rollout.kind == "app":
            return self._start_app(rollout, progress)
        assert rollout.bundle_dir is not None
        port = free_port()
        log = self.runtime_dir / "logs" / f"{rollout.key}.{rollout.release_id}.log"
        offset = log.stat().st_size if log.exists() else 0  # this attempt's part of the log
        pid, proc = self._start(rollout, port, log, progress)
        parity = None
        try:
            self._wait_ready(pid, proc, port, log, offset)
            if rollout.parity:
                progress(f"replaying the notebook's {len(rollout.parity['outputs'])} sample "
                         "rows against the new process")
                parity = _parity.verify(f"http://127.0.0.1:{port}", rollout.parity)
        except TargetError as exc:
            self._discard(pid, port)
            exc.state["failed_log"] = str(log)  # `goldenpath logs` shows the failed attempt
            raise
        except RolloutInterrupted:
            self._discard(pid, port)
            raise
        finally:
            # after this rollout, so a new zygote does not compete with it for the CPU
            self._zygote.prepare(bundle_modules(rollout.bundle_dir))
        state = {"pid": pid, "started": psutil.Process(pid).create_time(), "port": port,
                 "log": str(log), "bundle_dir": str(rollout.bundle_dir), "key": rollout.key,
                 "release_id": rollout.release_id, "sandbox": self.sandbox.describe(),
                 "url": f"http://127.0.0.1:{port}"}
        return {**state, "parity": parity} if parity else state

    def complete(self, rollout: Rollout, state: dict[str, Any], candidate: dict[str, Any],
                 keep_warm_s: float) -> dict[str, Any]:
        """Point the stable endpoint at `candidate`; the process `state` describes gets
        DRAIN_SECONDS for its open connections, or stays warm `keep_warm_s` (blue-green)."""
        candidate = {k: v for k, v in candidate.items() if k not in ("parity", "warm")}
        front = self._forwarders.ensure(rollout.key, state.get("front_port"))
        self._forwarders.point(rollout.key, int(candidate["port"]))
        self._unroute(rollout.key, Split(weight=1.0))
        old_container = state.get("container")
        if old_container and old_container != candidate.get("container"):
            if keep_warm_s:  # kept for a switch back by hand, then removed
                threading.Timer(keep_warm_s, self._drain, args=(old_container,)).start()
            else:
                self._drain(old_container)
        old_pid = state.get("pid")
        warm: dict[str, Any] = {}
        if old_pid and old_pid != candidate["pid"] and _alive(state):
            keep = max(DRAIN_SECONDS, keep_warm_s)
            threading.Timer(keep, self._discard, args=(int(old_pid), state.get("port"))).start()
            if keep_warm_s:
                warm = {k: state[k] for k in ("pid", "started", "port", "log", "bundle_dir",
                                              "release_id") if k in state}
                warm["until"] = time.time() + keep_warm_s
        url = f"http://127.0.0.1:{front}"
        return {**candidate, "front_port": front, "url": url, **({"warm": warm} if warm else {})}

    def split(self, key: str, state: dict[str, Any], candidate: dict[str, Any],
              weight: float, mirror: bool) -> float:
        """Route the stable endpoint's new connections through the HTTP router: `weight` of
        the requests to the candidate, every request copied to it when `mirror`. Returns
        the weight in effect: drawn per request, exactly the one asked for.

        An app's requests are never copied: a second POST could repeat a side effect (an
        order, a payment), so apps get canary, blue-green and champion/challenger, not
        shadow, and no comparison of answers."""
        app = candidate.get("runtime") == "podman"
        if app and mirror:
            raise app_shadow_refused()
        self._unrouting.pop(key, None)
        self._routed.add(key)
        port = self._router.open(key, int(state["port"]), int(candidate["port"]),
                                 Split(weight=weight, mirror=mirror, compare=not app))
        self._forwarders.point(key, port)
        return weight

    def window(self, key: str) -> dict[str, Any]:
        return self._router.window(key)

    def answers(self, key: str, request_ids: list[str]) -> dict[str, dict[str, Any]]:
        """What each variant answered to these requests while the router served `key`."""
        return self._router.answers(key, request_ids) if key in self._routed else {}

    def inference_sources(self, state: dict[str, Any], release_id: str) -> dict[str, Source]:
        """The live process's inference log, on its own port (not the stable one: during a
        progressive rollout the router there would ask a variant at random)."""
        if state.get("pid") and state.get("port") and _alive(state):
            return {f"pid-{state['pid']}": http_source(f"http://127.0.0.1:{state['port']}")}
        return {}

    def request_counters(self, state: dict[str, Any], release_id: str, scrape: Scrape,
                         port: int) -> dict[str, Counters]:
        """The live process's or container's request counters, from its own port (SLOs)."""
        name = (f"pid-{state['pid']}" if state.get("pid") and _alive(state)
                else state.get("container"))
        if not name or not state.get("port"):
            return {}
        counted = process_counters(f"http://127.0.0.1:{state['port']}", scrape)
        return {str(name): counted} if counted is not None else {}

    def abort(self, rollout: Rollout, state: dict[str, Any], candidate: dict[str, Any]
              ) -> None:
        """Every request back to the stable process; the candidate goes after the drain."""
        if state.get("port"):
            self._forwarders.point(rollout.key, int(state["port"]))
        self._unroute(rollout.key, Split(weight=0.0))
        if candidate.get("container"):
            self._drain(str(candidate["container"]))
        if candidate.get("pid") and _alive(candidate):
            threading.Timer(DRAIN_SECONDS, self._discard,
                            args=(int(candidate["pid"]), candidate.get("port"))).start()

    def _unroute(self, key: str, final: Split) -> None:
        """Connections the router holds keep `final` for DRAIN_SECONDS, then it lets go."""
        if key not in self._routed:
            return
        self._router.update(key, final)
        timer = threading.Timer(DRAIN_SECONDS, self._close_route, args=(key,))
        self._unrouting[key] = timer
        timer.start()

    def _close_route(self, key: str) -> None:
        if self._unrouting.pop(key, None) is not None:
            self._routed.discard(key)
            self._router.close(key)

    def _start_app(self, rollout: Rollout, progress: Progress) -> dict[str, Any]:
        """A container of the app's image, ready, on its own port."""
        if self.podman is None:
            raise TargetError(self.cannot_run["app"], code="configuration_error")
        port = free_port()
        progress(f"starting {rollout.image} with podman on 127.0.0.1:{port}")
        name = self.podman.run(rollout, port, rollout.serving_env, resources_of(rollout))
        try:
            self.podman.wait_ready(name, port, rollout.port, self.ready_timeout_s,
                                   self._stopping)
        except TargetError:
            self.podman.remove(name)  # its log is in the message
            raise
        except RolloutInterrupted:
            self.podman.remove(name)
            raise
        return {"container": name, "port": port, "key": rollout.key, "runtime": "podman",
                "release_id": rollout.release_id, "url": f"http://127.0.0.1:{port}"}

    def _deploy_app(self, rollout: Rollout, state: dict[str, Any], progress: Progress
                    ) -> dict[str, Any]:
        started = self._start_app(rollout, progress)
        name, port = started["container"], started["port"]
        front = self._forwarders.ensure(rollout.key, state.get("front_port"))
        self._forwarders.point(rollout.key, port)
        old = state.get("container")
        if old and old != name:
            self._drain(old)
        progress(f"live at http://127.0.0.1:{front}")
        return {"container": name, "port": port, "front_port": front, "key": rollout.key,
                "runtime": "podman", "url": f"http://127.0.0.1:{front}"}

    def adopt(self, rollout: Rollout, state: dict[str, Any], progress: Progress
              ) -> dict[str, Any]:
        ok, _ = self.health(state)
        if ok:
            front = self._forwarders.ensure(rollout.key, state.get("front_port"))
            self._forwarders.point(rollout.key, int(state["port"]))
            progress("re-adopted the running process")
            return {**state, "front_port": front, "url": f"http://127.0.0.1:{front}"}
        if state.get("container") and self.podman is not None:
            self.podman.remove(state["container"])
        if _alive(state):
            self._discard(int(state["pid"]), state.get("port"))
        progress("process gone; starting it again")
        return self.deploy(rollout, {"front_port": state.get("front_port")}, progress)

    def health(self, state: dict[str, Any]) -> tuple[bool, str]:
        if state.get("container"):
            running = self.podman is not None and self.podman.running(state["container"])
            return running, "container running" if running else "the container is not running"
        if not _alive(state):
            return False, "process is not running"
        try:
            response = requests.get(f"http://127.0.0.1:{state['port']}/readyz", timeout=2)
        except requests.RequestException as exc:
            return False, f"readiness probe failed: {exc}"
        return response.status_code == 200, f"readyz answered {response.status_code}"

    def logs(self, state: dict[str, Any], tail: int) -> list[str]:
        """The serving process's last lines; after a failed rollout, the failed attempt's."""
        if state.get("container") and self.podman is not None and not state.get("failed_log"):
            return self.podman.logs(state["container"], tail)
        log = state.get("failed_log") or state.get("log")
        if not log or not Path(log).exists():
            return []
        with open(log, "rb") as fh:
            fh.seek(max(0, Path(log).stat().st_size - 256 * 1024))
            lines = fh.read().decode("utf-8", "replace").splitlines()
        return lines[-tail:]

    def stop(self, state: dict[str, Any]) -> None:
        """Stop the process (or container) and give up its stable endpoint."""
        if state.get("container") and self.podman is not None:
            self.podman.remove(state["container"])
        if _alive(state):
            self._discard(int(state["pid"]), state.get("port"))
        if state.get("key"):
            key = str(state["key"])
            self._forwarders.remove(key)
            if key in self._routed:
                self._routed.discard(key)
                self._router.close(key)

    def close(self) -> None:
        self._zygote.close()
        self._forwarders.close()
        self._router.close_all()
        for timer, name in list(self._draining.items()):  # shutting down: no drain left
            timer.cancel()
            if self.podman is not None:
                self.podman.remove(name, grace=1)

    def _drain(self, container: str) -> None:
        """Remove a replaced container once its open connections had DRAIN_SECONDS."""
        def remove() -> None:
            self._draining.pop(timer, None)
            if self.podman is not None:
                self.podman.remove(container)

        timer = threading.Timer(DRAIN_SECONDS, remove)
        self._draining[timer] = container
        timer.start()

    def sweep(self, states: list[dict[str, Any]]) -> int:
        """After a restart: remove this server's containers no deployment holds (a crash
        left them behind); how many."""
        if self.podman is None:
            return 0
        held = {s.get("container") for s in states}
        orphans = [n for n in self.podman.containers() if n not in held]
        for name in orphans:
            self.podman.remove(name, grace=1)
        return len(orphans)

    def _discard(self, pid: int, port: int | None = None) -> None:
        """Stop a serving process and remove what it left behind."""
        _terminate(pid)
        if port:
            shutil.rmtree(metrics_dir(self.runtime_dir, int(port)), ignore_errors=True)

    def _jailed(self, rollout: Rollout, port: int) -> dict[str, Any]:
        """What the serving process on `port` runs with: the environment built for it, its
        uid (when the server is root and can give it one) and its metrics folder."""
        uid = (serving_uid(port) if not self.sandbox.rootless and self.sandbox.level != "none"
               else None)
        return {"env": self.sandbox.environment(rollout.serving_env), "uid": uid,
                "metrics": str(metrics_dir(self.runtime_dir, port))}

    def _start(self, rollout: Rollout, port: int, log: Path, progress: Progress
               ) -> tuple[int, subprocess.Popen[bytes] | None]:
        """A process serving the bundle on `port`: forked from the zygote when one BentoML
        worker serves it, else `bentoml serve` (also when the zygote fails)."""
        assert rollout.bundle_dir is not None
        jailed = self._jailed(rollout, port)
        where = f"127.0.0.1:{port}, sandbox: {self.sandbox.describe()}"
        if self._zygote.enabled and warm_eligible(rollout.bundle_dir):
            progress(f"forking a warm BentoML worker on {where}")
            try:
                return self._zygote.fork(rollout.bundle_dir, "127.0.0.1", port, log,
                                         jailed), None
            except WarmStartFailed as exc:
                progress(f"{exc}; falling back to bentoml serve")
        progress(f"starting bentoml serve on {where}")
        proc = self._spawn(rollout.bundle_dir, port, log, jailed)
        return proc.pid, proc

    def _spawn(self, bundle_dir: Path, port: int, log: Path, jailed: dict[str, Any]
               ) -> subprocess.Popen[bytes]:
        """`bentoml serve` behind the same jail as a forked worker (the worker's exec mode)."""
        serve = [sys.executable, "-m", "bentoml", "serve", str(bundle_dir), "--host",
                 "127.0.0.1", "--port", str(port)]
        argv = worker_command(self.sandbox, self.runtime_dir, [
            "exec", self.sandbox.jail(), str(bundle_dir), jailed["metrics"],
            str(jailed["uid"] or ""), "--", *serve])
        with open(log, "ab") as out:
            return subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=jailed["env"], cwd=bundle_dir, start_new_session=True)

    def _wait_ready(self, pid: int, proc: subprocess.Popen[bytes] | None, port: int,
                    log: Path, offset: int = 0) -> None:
        deadline = time.monotonic() + self.ready_timeout_s
        while time.monotonic() < deadline:
            if self._stopping.is_set():
                raise RolloutInterrupted(str(port))
            code = _exit_code(pid, proc)
            if code is not None:
                with open(log, "rb") as fh:
                    fh.seek(offset)
                    text = fh.read().decode("utf-8", "replace")
                failure = read_failure(text)
                if failure:  # the runtime said why (parity, the model's own exception)
                    raise TargetError(str(failure.get("message")),
                                      code=str(failure.get("code") or "deployment_failed"),
                                      details=failure.get("details") or {})
                tail = "\n".join(text.splitlines()[-15:])
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
