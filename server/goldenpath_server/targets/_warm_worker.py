"""A serving process started before it is needed: `python -P _warm_worker.py RUNTIME [MODULE...]`.

It imports BentoML's HTTP worker and the frameworks named on the command line, then waits
for one JSON line on stdin: {"bundle_dir", "host", "port", "log"}. It then becomes the
release's serving process: BentoML's own worker entry point (`_bentoml_impl.worker.service`,
the process `bentoml serve` spawns for each worker) serves the unpacked bundle. That skips
the interpreter start, the imports and `bentoml serve`'s supervisor process (the local
target supervises instead), which is most of the time a deploy takes.

Run by path with -P, so nothing but the standard library and site-packages is importable
until the bundle's own `src/` is put first on sys.path by BentoML's loader: the bundle's
copy of goldenpath_serving is the one that serves, exactly as under `bentoml serve`.
Every warm process serves at most one release; an EOF on stdin (the server went away or
closed the pool) ends it.
"""

from __future__ import annotations

import importlib
import json
import os
import socket
import sys

# what BentoML's worker imports on its way to serving (bentoml itself imports lazily)
_RUNTIME = ("_bentoml_impl.loader", "_bentoml_impl.worker.service", "_bentoml_impl.server.app",
            "_bentoml_sdk", "bentoml._internal.service.loader", "bentoml._internal.log",
            "uvicorn", "uvicorn.protocols.http.h11_impl", "uvicorn.lifespan.on",
            "prometheus_client", "opentelemetry.instrumentation.asgi",
            "goldenpath_serving.service")


def _preload(modules: list[str]) -> None:
    for name in (*_RUNTIME, *modules):
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - a missing module only costs the warm-up
            print(f"warm worker: could not preload {name}: {exc}", file=sys.stderr)
    # The installed runtime was imported only for its dependencies: forget it, so the bundle's
    # own copy (first on sys.path once BentoML loads the bundle) is the one that serves.
    for name in [m for m in sys.modules if m.split(".")[0] == "goldenpath_serving"]:
        del sys.modules[name]


def _listen(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _own_metrics_dir() -> None:
    """One Prometheus folder per process, set before prometheus_client is imported (it reads
    it then); a shared one would be wiped by the next `bentoml serve` (ensure_prometheus_dir)."""
    base = os.environ.pop("GOLDENPATH_METRICS_BASE", "")
    if base:
        path = os.path.join(base, str(os.getpid()))
        os.makedirs(path, exist_ok=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = path


def main() -> None:
    # argv[1] is the local target's runtime folder: it only names whose worker this is
    _own_metrics_dir()
    _preload(sys.argv[2:])
    print(f"warm worker {os.getpid()}: ready", flush=True)
    line = sys.stdin.readline()
    if not line.strip():
        return  # the pool closed or the server went away before we were needed
    order = json.loads(line)
    log = os.open(order["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)  # the pipe to the server is not ours to keep once serving
    os.chdir(order["bundle_dir"])
    sock = _listen(order["host"], int(order["port"]))

    from _bentoml_impl.worker.service import main as serve_worker

    serve_worker([order["bundle_dir"], "--fd", str(sock.fileno()), "--worker-id", "1"],
                 prog_name="goldenpath-warm-worker")


if __name__ == "__main__":
    main()
