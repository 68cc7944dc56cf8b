"""The local target's zygote: `python -P _warm_worker.py RUNTIME [MODULE...]`.

It imports BentoML's HTTP worker and the frameworks named on the command line once, then
reads orders from stdin, one JSON line each: {"bundle_dir", "host", "port", "log"}. For
each it forks a child that becomes that release's serving process (BentoML's own worker
entry point, `_bentoml_impl.worker.service`, the process `bentoml serve` spawns per
worker, serving the unpacked bundle) and answers {"pid": ...} on stdout.
A fork of an interpreter that has already imported everything serves within a fraction of
a second; starting `bentoml serve` costs two interpreters and their imports (~3 s).

Run by path with -P, so nothing but the standard library and site-packages is importable
until the bundle's own `src/` is put first on sys.path by BentoML's loader: the bundle's
copy of goldenpath_serving is the one that serves, exactly as under `bentoml serve`.
The children run in their own sessions and outlive the zygote; EOF on stdin (the server
closed it or went away) ends the zygote.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import socket
import sys
import traceback

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


def _serve(order: dict[str, str], runtime: str) -> None:
    """In the forked child: become the serving process of one release."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.setsid()  # a server crash or a stopped zygote must not take the release down
    metrics = os.path.join(runtime, "metrics", str(os.getpid()))
    os.makedirs(metrics, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics  # read when BentoML makes its metrics
    log = os.open(order["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)  # the zygote's pipe from the server is not the child's
    os.close(devnull)
    os.chdir(order["bundle_dir"])
    sock = _listen(order["host"], int(order["port"]))

    from _bentoml_impl.worker.service import main as serve_worker

    serve_worker([order["bundle_dir"], "--fd", str(sock.fileno()), "--worker-id", "1"],
                 prog_name="goldenpath-warm-worker")


def main() -> None:
    # argv[1] is the local target's runtime folder (metrics go under it). prometheus_client
    # picks its multiprocess mode at import, so the variable must be set now (each child
    # then points it at a folder of its own).
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = os.path.join(sys.argv[1], "metrics")
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)
    _preload(sys.argv[2:])
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    print(json.dumps({"ready": os.getpid()}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        order = json.loads(line)
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                _serve(order, sys.argv[1])
                code = 0
            except SystemExit as exc:  # how click ends the worker
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:  # noqa: BLE001 - logged, then the child ends
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)  # never return into the zygote's loop
        print(json.dumps({"pid": pid}), flush=True)


if __name__ == "__main__":
    main()
