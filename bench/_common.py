"""Shared helpers for the benchmark harness (standard library + psutil only).

Imported by the orchestrators (product venv) and by the contenders (product or peers venv),
so nothing here may import goldenpath, bentoml or mlflow.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS = Path(os.environ.get("BENCH_RESULTS", BENCH / "results"))
PRODUCT_PY = Path(os.environ.get("PRODUCT_PY", REPO / ".venv" / "bin" / "python"))
PEERS_PY = Path(os.environ.get("PEERS_PY", BENCH / ".venv-peers" / "bin" / "python"))
HEY = Path(os.environ.get("HEY", BENCH / ".tools" / "bin" / "hey"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def post_json(url: str, body: Any, timeout: float = 10.0) -> Any:
    data = json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read())


def get_json(url: str, timeout: float = 10.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.loads(resp.read())


def poll_until(
    fn: Any,
    timeout: float = 180.0,
    every: float = 0.05,
    proc: subprocess.Popen[Any] | None = None,
    what: str = "service",
) -> Any:
    """Call fn() until it returns without raising; give up after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before answering")
        try:
            return fn()
        except (OSError, urllib.error.URLError, ValueError, KeyError) as exc:
            last = exc
        time.sleep(every)
    raise TimeoutError(f"{what} did not answer within {timeout:.0f}s: {last}")


def kill_tree(pid: int, grace: float = 10.0) -> None:
    """Terminate a process we started and everything below it (by pid, never by name)."""
    import psutil

    try:
        root = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    procs = [root, *root.children(recursive=True)]
    for p in procs:
        try:
            p.send_signal(signal.SIGTERM)
        except psutil.NoSuchProcess:
            pass
    _gone, alive = psutil.wait_procs(procs, timeout=grace)
    for p in alive:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=5)


def bench_env(product: bool = True, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTHON", "GOLDENPATH_", "BENTOML_", "MLFLOW_", "VIRTUAL_ENV"))
    }
    env["BENTOML_DO_NOT_TRACK"] = "True"
    env["MLFLOW_ENABLE_ASYNC_LOGGING"] = "false"
    if product and os.environ.get("BENCH_PRODUCT_SRC"):  # measure another product checkout
        src = Path(os.environ["BENCH_PRODUCT_SRC"])
        env["PYTHONPATH"] = os.pathsep.join(str(src / d) for d in ("sdk", "server", "serving"))
        env["BENCH_PRODUCT_SRC"] = str(src)
    env.update(extra)
    return env


def venv_env(python: Path, **extra: str) -> dict[str, str]:
    """Environment for a tool of `python`'s venv: its bin/ first on PATH (mlflow needs uvicorn)."""
    env = bench_env(product=python == PRODUCT_PY, **extra)
    env["PATH"] = f"{python.parent}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(python.parent.parent)
    return env


def run_contender(
    python: Path, script: str, args: list[str], env: dict[str, str], timeout: float = 600.0
) -> dict[str, Any]:
    """Run a contender script; it prints one JSON object as its last stdout line."""
    proc = subprocess.run(
        [str(python), str(BENCH / "contenders" / script), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        cwd=BENCH,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{script} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def versions(python: Path, dists: tuple[str, ...]) -> dict[str, str]:
    code = (
        "import importlib.metadata as m, json, sys; print(json.dumps({d: m.version(d) "
        f"for d in {list(dists)!r}}} | {{'python': sys.version.split()[0]}}))"
    )
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def machine() -> dict[str, Any]:
    import psutil

    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        cpu = platform.processor()
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "kernel": platform.release(),
        "loadavg_at_start": os.getloadavg(),
    }


def tool_version(cmd: list[str]) -> str:
    exe = shutil.which(cmd[0]) or cmd[0]
    try:
        out = subprocess.run([exe, *cmd[1:]], capture_output=True, text=True, timeout=10)
        return (out.stdout + out.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "unknown"


def write_result(name: str, payload: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": name,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
        "product": {
            "commit": os.environ.get("BENCH_PRODUCT_COMMIT", "unknown"),
            "src": os.environ.get("BENCH_PRODUCT_SRC", str(REPO)),
        },
        **payload,
    }
    path = RESULTS / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    tmp.replace(path)
    return path


def table(headers: list[str], rows: list[list[Any]]) -> str:
    """A GitHub-markdown table (also readable on a terminal)."""
    cells = [[_fmt(c) for c in row] for row in rows]
    widths = [
        max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)
    ]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |"  # noqa: E731
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(headers), sep, *(line(r) for r in cells)])


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if value != value:
            return "n/a"
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


PYSPY = Path(os.environ.get("PYSPY", BENCH / ".venv-peers" / "bin" / "py-spy"))
PROFILES = RESULTS / "profiles"


def pyspy_start(
    pid: int, name: str, seconds: int, subprocesses: bool = False, idle: bool = False
) -> tuple[subprocess.Popen[bytes], Path]:
    """Sample process `pid` with py-spy for `seconds`; collapsed stacks go to profiles/NAME.txt."""
    PROFILES.mkdir(parents=True, exist_ok=True)
    out = PROFILES / f"{name}.txt"
    cmd = [
        str(PYSPY),
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(seconds),
        "--rate",
        "200",
        "--format",
        "raw",
        "--output",
        str(out),
        "--nonblocking",
    ]
    if subprocesses:
        cmd.append("--subprocesses")
    if idle:
        cmd.append("--idle")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)  # let it attach
    return proc, out


def summarize_profile(
    path: Path, top: int = 15, prefix_filter: tuple[str, ...] = ()
) -> list[tuple[str, float]]:
    """Inclusive share of samples per function (each frame counted once per stack)."""
    totals: dict[str, int] = {}
    samples = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        samples += n
        seen = set()
        for frame in stack.split(";"):
            name = _short_frame(frame)
            if name in seen or (prefix_filter and not any(p in name for p in prefix_filter)):
                continue
            seen.add(name)
            totals[name] = totals.get(name, 0) + n
    ranked = sorted(totals.items(), key=lambda kv: -kv[1])[:top]
    return [(name, round(100 * n / samples, 1)) for name, n in ranked] if samples else []


def _short_frame(frame: str) -> str:
    # "func (path/to/site-packages/pkg/mod.py:123)" -> "func (pkg/mod.py)"
    func, _, where = frame.partition(" (")
    where = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/sdk/", "/server/", "/serving/", "lib/python3.11/"):
        if marker in where:
            where = where.split(marker, 1)[1]
            break
    return f"{func} ({where})" if where else func


def summarize_packages(path: Path, top: int = 12) -> list[tuple[str, float]]:
    """Share of samples by the package of the innermost frame (where the CPU time is spent)."""
    totals: dict[str, int] = {}
    samples = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        leaf = stack.split(";")[-1]
        where = leaf.partition(" (")[2].rstrip(")").rsplit(":", 1)[0]
        totals[_package(where)] = totals.get(_package(where), 0) + int(count)
        samples += int(count)
    ranked = sorted(totals.items(), key=lambda kv: -kv[1])[:top]
    return [(name, round(100 * n / samples, 1)) for name, n in ranked] if samples else []


def _package(where: str) -> str:
    if where.startswith("<frozen"):
        return where.strip("<>").split()[-1].split(".")[0]
    if "site-packages/" in where:
        return where.split("site-packages/", 1)[1].split("/")[0].removesuffix(".py")
    for marker in ("/src/", "/sdk/", "/server/", "/serving/"):
        if marker in where:
            return where.split(marker, 1)[1].split("/")[0].removesuffix(".py")
    if "lib/python3" in where:
        rest = where.split("lib/python3", 1)[1].split("/", 1)[-1]
        return rest.split("/")[0].removesuffix(".py") + " (stdlib)"
    return where or "?"


def shown_path(path: Path) -> str:
    """`path` relative to the repository when it is inside it (for results and docs)."""
    try:
        return str(Path(path).resolve().relative_to(REPO))
    except ValueError:
        return str(path)
