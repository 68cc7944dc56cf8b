"""The parity check: the bundled model, loaded in a fresh interpreter, must predict as in here.

A fresh interpreter spends most of its time importing the framework (scikit-learn pulls in
SciPy: ~1.5 s). So the interpreter is started before it is needed: `prepare_parity()` at the start
of a deploy, with the model's framework modules, imports them while the bundle is packaged;
after each check a spare is started for the next deploy. Each interpreter checks one bundle
and exits. It imports nothing of the notebook and nothing of goldenpath: the bundle's own
`src/` goes first on sys.path and its copy of goldenpath_serving loads the model, as in the
serving process.
"""

from __future__ import annotations

import atexit
import json
import os
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
_BOOT = """
import importlib, io, json, os, runpy, sys
for name in ("cloudpickle", *sys.argv[1:]):
    try:
        importlib.import_module(name)
    except Exception:
        pass
line = sys.stdin.readline()
if not line.strip():
    sys.exit(0)
order = json.loads(line)
os.chdir(order["src"])
sys.path.insert(0, order["src"])
sys.argv = ["parity", order["model_dir"]]
sys.stdin = io.StringIO(json.dumps(order["inputs"]))
runpy.run_module("goldenpath_serving.parity", run_name="__main__", alter_sys=True)
sys.stdout.flush()
sys.stderr.flush()
os._exit(0)  # the answer is out; tearing down SciPy & co. would cost ~0.3 s more
"""

_lock = threading.Lock()
_spare: subprocess.Popen[str] | None = None


def prepare_parity(modules: list[str]) -> None:
    """Start the interpreter the next check will use, importing `modules` meanwhile."""
    global _spare
    with _lock:
        if _spare is None or _spare.poll() is not None:
            _spare = _spawn(modules)


def check_parity(bundle: Any, timeout: float = 300) -> None:
    """Load the bundled model in a fresh process, predict the sample, compare (ParityError).

    `bundle` is a goldenpath._bundle.Bundle: archive, sample_inputs, predictions, tag."""
    global _spare
    unpacked = Path(tempfile.mkdtemp(prefix="parity-", dir=bundle.archive.parent))
    with tarfile.open(bundle.archive) as archive:
        archive.extractall(unpacked, filter="data")
    model_dirs = [p.parent for p in (unpacked / "models").rglob("goldenpath.json")]
    if len(model_dirs) != 1:
        raise ParityError(f"bundle {bundle.tag} does not contain its model",
                          "rebuild the bundle; this is a goldenpath bug if it repeats")
    modules = json.loads((model_dirs[0] / "goldenpath.json").read_text()).get("modules", [])
    with _lock:
        proc, _spare = _spare, None
    if proc is None or proc.poll() is not None:
        proc = _spawn(modules)
    order = {"src": str(unpacked / "src"), "model_dir": str(model_dirs[0]),
             "inputs": bundle.sample_inputs}
    try:
        stdout, stderr = proc.communicate(json.dumps(order) + "\n", timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise ParityError(f"the bundled model did not predict within {timeout:.0f}s in a "
                          "fresh process", "check that loading the model needs no network "
                          "or user input") from None
    finally:
        prepare_parity(modules)  # the next deploy's interpreter starts importing now
    if proc.returncode != 0:
        raise ParityError("the bundled model failed to load or predict in a fresh process",
                          "make sure everything the model needs is importable outside this "
                          "notebook (define custom classes in the notebook or an installed "
                          "package)", details={"stderr": stderr[-4000:]})
    remote = json.loads(stdout)["predictions"]
    differences = _differences(bundle.predictions, remote)
    if differences:
        raise ParityError(
            f"the bundled model predicts differently from the original on "
            f"{len(differences)} of {len(bundle.predictions)} sample rows",
            "the model is not deterministic or depends on notebook state; fix that and retry",
            details={"differences": differences[:10]})


def _spawn(modules: list[str]) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    return subprocess.Popen(
        [sys.executable, "-P", "-c", _BOOT, *modules], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        cwd=tempfile.gettempdir())


@atexit.register
def _close() -> None:
    global _spare
    with _lock:
        proc, _spare = _spare, None
    if proc is not None and proc.poll() is None:
        proc.communicate("", timeout=10)  # EOF: it exits without checking anything


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
