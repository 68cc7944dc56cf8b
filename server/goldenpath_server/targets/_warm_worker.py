"""The local target's serving processes: `python -P _warm_worker.py RUNTIME JAIL [MODULE...]`.

As a zygote, it imports BentoML's HTTP worker and the frameworks named on the command line
once, then reads orders from stdin, one JSON line each: {"bundle_dir", "host", "port", "log",
"metrics", "uid", "env"}. For each it forks a child that jails itself (`isolate`) and
becomes that release's serving process (BentoML's own worker entry point,
`_bentoml_impl.worker.service`, the process `bentoml serve` spawns per worker, serving the
unpacked bundle) and answers {"pid": ...} on stdout.
A fork of an interpreter that has already imported everything serves within a fraction of
a second; starting `bentoml serve` costs two interpreters and their imports (~3 s).

`python -P _warm_worker.py exec JAIL BUNDLE METRICS UID -- ARGV...` jails itself the same
way and execs ARGV (`bentoml serve` for bundles a single worker cannot serve).

JAIL is the JSON of _sandbox.Sandbox.jail(). Run by path with -P, and the standard library
only: nothing of goldenpath is importable here, and the bundle's own `src/` is put first on
sys.path by BentoML's loader, so the bundle's copy of goldenpath_serving is the one that
serves, exactly as under `bentoml serve`. The children run in their own sessions and
outlive the zygote; EOF on stdin (the server closed it or went away) ends the zygote.
"""

from __future__ import annotations

import ctypes
import importlib
import json
import os
import signal
import socket
import sys
import traceback
from typing import Any

# what BentoML's worker imports on its way to serving (bentoml itself imports lazily)
_RUNTIME = ("_bentoml_impl.loader", "_bentoml_impl.worker.service", "_bentoml_impl.server.app",
            "_bentoml_sdk", "bentoml._internal.service.loader", "bentoml._internal.log",
            "uvicorn", "uvicorn.protocols.http.h11_impl", "uvicorn.lifespan.on",
            "prometheus_client", "opentelemetry.instrumentation.asgi",
            "goldenpath_serving.service")

# <sched.h>, <sys/mount.h>, <sys/prctl.h>, <linux/capability.h>
_CLONE_NEWNS = 0x00020000
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_REMOUNT, _MS_BIND, _MS_REC, _MS_PRIVATE = (
    1, 2, 4, 32, 4096, 16384, 1 << 18)
_PR_SET_DUMPABLE, _PR_CAPBSET_DROP, _PR_SET_NO_NEW_PRIVS, _PR_CAP_AMBIENT = 4, 24, 38, 47
_CAP_AMBIENT_CLEAR_ALL, _CAP_VERSION_3, _CAP_LAST = 4, 0x20080522, 63
_libc = ctypes.CDLL(None, use_errno=True)


class JailError(OSError):
    """The serving process could not jail itself; it must not serve then."""


def _call(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise JailError(errno, f"{what}: {os.strerror(errno)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int,
           data: str | None = None) -> None:
    _call(_libc.mount(source.encode() if source else None, target.encode(),
                      fstype.encode() if fstype else None, flags,
                      data.encode() if data else None), f"mount {target}")


def isolate(jail: dict[str, Any], bundle_dir: str, metrics: str, uid: int | None) -> None:
    """Jail this process before any model code runs (see targets/_sandbox.py).

    A mount namespace of its own: a private /tmp, the server's home and files hidden (and
    folders its uid could not cross, such as /root), only `bundle_dir`, the Python it runs
    on (`jail["keep"]`, read-only) and `metrics` mounted back at their own paths; then a uid of its
    own (root) or no capabilities and not dumpable (rootless: every serving process is uid 0
    of the same user namespace, so none may read another's memory); cwd in the bundle."""
    if jail["level"] != "none":
        _call(_libc.unshare(_CLONE_NEWNS), "unshare the mount namespace")
        _mount(None, "/", None, _MS_REC | _MS_PRIVATE)
        # handles opened in this namespace (a bind needs a source mount of its own
        # namespace) before their parents are hidden
        readonly = [bundle_dir, *jail["keep"]]
        keep = {path: os.open(path, os.O_PATH | os.O_DIRECTORY)
                for path in (*readonly, metrics) if os.path.isdir(path)}
        _mount("tmpfs", "/tmp", "tmpfs", _MS_NOSUID | _MS_NODEV, "mode=1777,size=1g")
        for path in jail["hide"]:
            if os.path.isdir(path):
                _mount("tmpfs", path, "tmpfs", _MS_NOSUID | _MS_NODEV, "mode=0755,size=1m")
            elif os.path.exists(path):
                _mount("/dev/null", path, None, _MS_BIND)
        for path, fd in keep.items():  # back at their own paths, through the kept handles
            if not os.path.isdir(path) or _hidden(path, jail["hide"]):
                os.makedirs(path, exist_ok=True)
                _mount(f"/proc/self/fd/{fd}", path, None, _MS_BIND | _MS_REC)
                if path in readonly:
                    _mount(None, path, None,
                           _MS_BIND | _MS_REMOUNT | _MS_RDONLY | _MS_NOSUID | _MS_NODEV)
            os.close(fd)
        if jail["rootless"]:
            _drop_capabilities()
            _call(_libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0), "not dumpable")
        elif uid is not None:
            os.chown(metrics, uid, uid)
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)  # leaving root drops every capability
            # the uid change made it non-dumpable, which hides its own /proc/self from it;
            # no other process has this uid, so being dumpable exposes it to no one
            _call(_libc.prctl(_PR_SET_DUMPABLE, 1, 0, 0, 0), "dumpable")
        _call(_libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    os.chdir(bundle_dir)


def _hidden(path: str, hidden: list[str]) -> bool:
    return any(path == h or path.startswith(h.rstrip("/") + "/") for h in hidden) \
        or path.startswith("/tmp/")


def _drop_capabilities() -> None:
    """Rootless: uid 0 of a user namespace with no capabilities left, none to regain."""
    for cap in range(_CAP_LAST + 1):
        _libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0)  # EINVAL past the kernel's last cap
    _libc.prctl(_PR_CAP_AMBIENT, _CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    header = (ctypes.c_uint32 * 2)(_CAP_VERSION_3, 0)
    data = (ctypes.c_uint32 * 6)()  # effective, permitted, inheritable x 2: all zero
    _call(_libc.capset(header, data), "drop capabilities")


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


def _serve(order: dict[str, Any], jail: dict[str, Any]) -> None:
    """In the forked child: jail itself, then become the serving process of one release."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.setsid()  # a server crash or a stopped zygote must not take the release down
    log = os.open(order["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)  # the zygote's pipe from the server is not the child's
    os.close(devnull)
    os.makedirs(order["metrics"], exist_ok=True)
    sock = _listen(order["host"], int(order["port"]))
    isolate(jail, order["bundle_dir"], order["metrics"], order.get("uid"))
    os.environ.clear()
    os.environ.update(order["env"])
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = order["metrics"]  # read when BentoML makes its metrics

    from _bentoml_impl.worker.service import main as serve_worker

    serve_worker([order["bundle_dir"], "--fd", str(sock.fileno()), "--worker-id", "1"],
                 prog_name="goldenpath-warm-worker")


def _zygote(runtime: str, jail: dict[str, Any], modules: list[str]) -> None:
    # prometheus_client picks its multiprocess mode at import, so the variable must be set now
    # (each child then points it at a folder of its own).
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = os.path.join(runtime, "metrics")
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)
    _preload(modules)
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
                _serve(order, jail)
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


def _exec(jail: dict[str, Any], bundle_dir: str, metrics: str, uid: str, argv: list[str]
          ) -> None:
    os.makedirs(metrics, exist_ok=True)
    isolate(jail, bundle_dir, metrics, int(uid) if uid else None)
    os.execvp(argv[0], argv)


def main() -> None:
    if sys.argv[1] == "exec":
        _, _, jail, bundle_dir, metrics, uid, sep, *argv = sys.argv
        assert sep == "--", "usage: exec JAIL BUNDLE METRICS UID -- ARGV..."
        _exec(json.loads(jail), bundle_dir, metrics, uid, argv)
        return
    _zygote(sys.argv[1], json.loads(sys.argv[2]), sys.argv[3:])


if __name__ == "__main__":
    main()
