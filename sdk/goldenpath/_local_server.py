"""The local promotion server: started for the user when none runs (so gp.deploy is one
call), and stopped again with `goldenpath server stop` / `make stop`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

from goldenpath._client import Client
from goldenpath.errors import NotFound, ServerUnreachable


def ensure_server(client: Client, wait_s: float = 60.0) -> None:
    """Make sure `client` reaches a server, starting a local one if allowed and needed."""
    wait_for_server(client, start_server(client), wait_s)


def start_server(client: Client) -> bool:
    """Start a local server for `client` if none answers and autostart allows; do not wait.

    Returns whether one was started (and says so, once, on stderr). gp.deploy packages the
    model while it starts."""
    if client.healthy():
        return False
    if not client.config.autostart:
        raise ServerUnreachable(
            f"could not reach the goldenpath server at {client.base}",
            "start it (`goldenpath server`) or fix gp.configure(server=...)")
    _check_server_installed(client)
    url = urlparse(client.base)
    home = client.config.home
    home.mkdir(parents=True, exist_ok=True)
    log = open(home / "server.log", "ab")  # noqa: SIM115 - handed to the child
    subprocess.Popen(
        [sys.executable, "-m", "goldenpath", "server", "--host", url.hostname or "127.0.0.1",
         "--port", str(url.port or 8731), "--home", str(home)],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    print(f"goldenpath: started a local server at {client.base} (state and log in {home}); "
          "it keeps running: stop it with `goldenpath server stop`", file=sys.stderr)
    return True


# what `goldenpath[server]` adds; without them there is no local server to start
SERVER_MODULES = ("fastapi", "uvicorn", "sqlalchemy", "alembic", "celpy", "mlflow")


def _check_server_installed(client: Client) -> None:
    import importlib.util

    missing = [m for m in SERVER_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        raise ServerUnreachable(
            f"no goldenpath server answers at {client.base}, and this Python cannot start "
            f"one: the server is not installed (missing {', '.join(missing)})",
            "install it here: pip install 'goldenpath[server]'; or point at a running "
            "server: gp.configure(server='http://HOST:8731') (GOLDENPATH_SERVER)")


def wait_for_server(client: Client, started: bool, wait_s: float = 60.0) -> None:
    """Wait until the server start_server started answers (nothing to do if none was)."""
    if not started:
        return
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if client.healthy():
            return
        time.sleep(0.05)
    raise ServerUnreachable(f"started a local goldenpath server for {client.base}, but it did "
                            "not answer", f"read {client.config.home / 'server.log'}")


def stop_server(home: Path, keep_models: bool = False, timeout: float = 30.0) -> list[str]:
    """Stop the server whose state is in `home` (its `server.pid`) and, unless
    `keep_models`, the serving processes it started; what was stopped, in words."""
    import psutil

    stopped: list[str] = []
    pid_file = home / "server.pid"
    try:
        recorded = json.loads(pid_file.read_text())
    except (OSError, ValueError):
        recorded = {}
    pid = int(recorded.get("pid") or 0)
    if pid and psutil.pid_exists(pid):
        os.kill(pid, signal.SIGTERM)
        try:
            psutil.Process(pid).wait(timeout)
        except psutil.TimeoutExpired:
            os.kill(pid, signal.SIGKILL)
        stopped.append(f"the server at {recorded.get('url', '?')} (pid {pid})")
    pid_file.unlink(missing_ok=True)
    if not keep_models:
        models = _serving_processes(home)
        for proc in models:
            assert isinstance(proc, psutil.Process)
            try:
                proc.terminate()
            except psutil.Error:
                pass
        _gone, alive = psutil.wait_procs(models, timeout=10)
        for proc in alive:
            try:
                proc.kill()
            except psutil.Error:
                pass
        if models:
            stopped.append(f"{len(models)} serving process(es)")
    if not stopped:
        raise NotFound(f"no goldenpath server runs with its state in {home}",
                       "pass --home (or GOLDENPATH_HOME) where the server keeps its state")
    return stopped


def _serving_processes(home: Path) -> list[object]:
    """The processes a server in `home` started: zygotes, serving processes, their
    supervisors (each names a path in `home` on its command line)."""
    import psutil

    marker = f"{home.resolve()}/"
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if proc.pid != os.getpid() and marker in cmd and ("bentoml" in cmd or
                                                         "_warm_worker" in cmd):
            found.append(proc)
    return found
