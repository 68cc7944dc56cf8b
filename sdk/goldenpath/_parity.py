"""The parity check: the bundled model, loaded in a fresh interpreter, must predict as in here.

A fresh interpreter spends most of its time importing the framework (scikit-learn pulls in
SciPy: ~1.5 s). So checks run in forks of a zygote: a child interpreter of this session that
has imported only the model's framework modules (never the notebook's, never goldenpath)
and forks one process per check. `prepare_parity()` at the start of a deploy starts it
while the bundle is packaged; later deploys find it ready. In the fork the bundle's own
`src/` goes first on sys.path and its copy of goldenpath_serving loads the model, as in the
serving process, so what passes here is what the server will run.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np

from goldenpath.errors import ParityError

# Runs with -P -c: nothing but the standard library and site-packages is importable.
# Orders: {"src", "model_dir", "inputs", "out", "err"}; answers {"pid"} then {"code"}.
_ZYGOTE = """
import importlib, io, json, os, runpy, sys, traceback
for name in ("cloudpickle", *sys.argv[1:]):
    try:
        importlib.import_module(name)
    except Exception:
        pass
print(json.dumps({"ready": os.getpid()}), flush=True)
for line in sys.stdin:
    order = json.loads(line)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            out = os.open(order["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            err = os.open(order["err"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(out, 1)
            os.dup2(err, 2)
            os.chdir(order["src"])
            sys.path.insert(0, order["src"])
            sys.argv = ["parity", order["model_dir"]]
            sys.stdin = io.StringIO(json.dumps(order["inputs"]))
            runpy.run_module("goldenpath_serving.parity", run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)  # no teardown of SciPy & co. (~0.3 s), never back into the loop
    print(json.dumps({"pid": pid}), flush=True)
    _, status = os.waitpid(pid, 0)
    print(json.dumps({"code": os.waitstatus_to_exitcode(status)}), flush=True)
"""

_lock = threading.Lock()
_zygote: subprocess.Popen[str] | None = None
_zygote_modules: set[str] = set()


def prepare_parity(modules: list[str]) -> None:
    """Have a zygote that has imported `modules` (start one now if needed; do not wait)."""
    global _zygote, _zygote_modules
    with _lock:
        alive = _zygote is not None and _zygote.poll() is None
        if alive and set(modules) <= _zygote_modules:
            return
        old = _zygote if alive else None
        _zygote_modules = set(modules) | (_zygote_modules if alive else set())
        _zygote = _spawn(sorted(_zygote_modules))
    if old is not None:
        _stop(old)


def check_parity(bundle: Any, timeout: float = 300) -> None:
    """Load the bundled model in a fresh process, predict the sample, compare (ParityError).

    `bundle` is a goldenpath._bundle.Bundle: archive, sample_inputs, predictions, tag."""
    unpacked = Path(tempfile.mkdtemp(prefix="parity-", dir=bundle.archive.parent))
    with tarfile.open(bundle.archive) as archive:
        archive.extractall(unpacked, filter="data")
    model_dirs = [p.parent for p in (unpacked / "models").rglob("goldenpath.json")]
    if len(model_dirs) != 1:
        raise ParityError(f"bundle {bundle.tag} does not contain its model",
                          "rebuild the bundle; this is a goldenpath bug if it repeats")
    modules = json.loads((model_dirs[0] / "goldenpath.json").read_text()).get("modules", [])
    prepare_parity(modules)
    out, err = unpacked / "parity.out", unpacked / "parity.err"
    order = {"src": str(unpacked / "src"), "model_dir": str(model_dirs[0]),
             "inputs": bundle.sample_inputs, "out": str(out), "err": str(err)}
    code = _run(order, timeout)
    if code != 0:
        raise ParityError("the bundled model failed to load or predict in a fresh process",
                          "make sure everything the model needs is importable outside this "
                          "notebook (define custom classes in the notebook or an installed "
                          "package)", details={"stderr": _tail(err)})
    remote = json.loads(out.read_text())["predictions"]
    differences = _differences(bundle.predictions, remote)
    if differences:
        raise ParityError(
            f"the bundled model predicts differently from the original on "
            f"{len(differences)} of {len(bundle.predictions)} sample rows",
            "the model is not deterministic or depends on notebook state; fix that and retry",
            details={"differences": differences[:10]})


def _run(order: dict[str, Any], timeout: float) -> int:
    """Have the zygote fork a check; its exit code."""
    with _lock:
        proc = _zygote
        assert proc is not None and proc.stdin is not None and proc.stdout is not None
        child: list[int] = []
        expired = threading.Event()

        def expire() -> None:  # kill the check (or a zygote stuck importing)
            expired.set()
            with contextlib.suppress(OSError):
                if child:
                    os.kill(child[0], signal.SIGKILL)
                else:
                    proc.kill()

        timer = threading.Timer(timeout, expire)
        timer.start()
        try:
            proc.stdin.write(json.dumps(order) + "\n")
            proc.stdin.flush()
            while line := proc.stdout.readline():
                answer = json.loads(line)
                if "pid" in answer:
                    child.append(int(answer["pid"]))
                elif "code" in answer and not expired.is_set():
                    return int(answer["code"])
                elif "code" in answer:
                    break
        except (OSError, ValueError) as exc:
            raise ParityError("the parity interpreter failed", "retry; if it repeats, import "
                              "the model's framework in a plain python to see why",
                              details={"error": str(exc)}) from None
        finally:
            timer.cancel()
        if expired.is_set():
            raise ParityError(f"the bundled model did not predict within {timeout:.0f}s in a "
                              "fresh process", "check that loading the model needs no "
                              "network or user input")
        raise ParityError("the parity interpreter exited before it checked the bundle",
                          "retry; if it repeats, import the model's framework in a plain "
                          f"python to see why (exit code {proc.poll()})")


def _tail(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[-4000:]
    except OSError:
        return ""


def _spawn(modules: list[str]) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    return subprocess.Popen(
        [sys.executable, "-P", "-c", _ZYGOTE, *modules], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
        cwd=tempfile.gettempdir())


def _stop(proc: subprocess.Popen[str]) -> None:
    try:
        if proc.stdin is not None:
            proc.stdin.close()  # EOF: it exits
        proc.wait(timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        proc.kill()


@atexit.register
def _close() -> None:
    global _zygote
    with _lock:
        proc, _zygote = _zygote, None
    if proc is not None and proc.poll() is None:
        _stop(proc)


def _differences(local: list[Any], remote: list[Any]) -> list[dict[str, Any]]:
    diffs = []
    for i, (a, b) in enumerate(zip(local, remote, strict=False)):
        try:
            same = np.allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float),
                               rtol=1e-6, atol=1e-8, equal_nan=True)
        except (TypeError, ValueError):
            same = a == b
        if not same:
            diffs.append({"row": i, "notebook": a, "bundle": b})
    if len(local) != len(remote):
        diffs.append({"row": "count", "notebook": len(local), "bundle": len(remote)})
    return diffs
