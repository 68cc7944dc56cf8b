"""Benchmark 8: serving throughput at 32 clients with the inference log off and on.

One bundle (LogisticRegression by default: serving overhead dominates, so the log's share is
largest), served by `bentoml serve` three times side by side, differing only in environment:
  off          GOLDENPATH_LOG_SAMPLE=0 (the default: no request context, no header)
  on           GOLDENPATH_LOG_SAMPLE=1: every request gets an id and a record (the buffer
               fills, then the oldest records drop)
  on + pulled  the same, while this process pulls POST /inferences every second with
               limit=5000, following `next`, as the server does (caught up before each run)
Same body for all: {"inputs": [[20 floats]]}, no X-Request-Id (so the runtime makes one per
request). One warm-up pass, then repetitions interleaved (the order rotates); medians.

    .venv/bin/python bench/inference_log.py [--model lr] [--reps 3] [--seconds 6]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    PRODUCT_PY,
    free_port,
    kill_tree,
    log,
    median,
    poll_until,
    post_json,
    ratio,
    table,
    tool_version,
    venv_env,
    versions,
    write_result,
)
from _models import one_row, train  # noqa: E402
from bench_serving import wrk  # noqa: E402

TARGET_ON_VS_OFF = 0.9  # throughput @32 with the log on >= 90% of off
CASES = {"off": "0", "on": "1", "on + pulled": "1"}

_BUILD = """
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from _models import train
from goldenpath._bundle import build_bundle
model, X = train(sys.argv[1])
print(build_bundle(model, "inference-log-bench", X[:5], Path(sys.argv[2])).archive)
"""

_PATH_COST = """
import json, sys, time
from goldenpath_serving._inference_log import InferenceLog, LogSettings, request_id
row, n = json.loads(sys.argv[1]), 200_000
log = InferenceLog(LogSettings(sample=1.0))
answer = {"predictions": [1]}
cost = {}
for name, given in (("made id", None), ("caller's id", "req-0123456789")):
    start = time.perf_counter()
    for _ in range(n):
        rid = request_id(given)
        if log.sample and log.wants():
            log.add(rid, row, answer)
    cost[f"record, {name}: us/request"] = 1e6 * (time.perf_counter() - start) / n
start = time.perf_counter()
body = log.read_json(0, 5000)
cost["read 5000 records: ms"] = 1e3 * (time.perf_counter() - start)
cost["read: us/record"] = cost["read 5000 records: ms"] / 5
print(json.dumps(cost))
"""


def path_cost(row: list[list[float]]) -> dict[str, float]:
    """The log's own work, timed in one process (steadier than any throughput here): per
    request on the request path, and per record when read."""
    out = subprocess.run([str(PRODUCT_PY), "-c", _PATH_COST, json.dumps(row)],
                         env=venv_env(PRODUCT_PY), capture_output=True, text=True, check=True,
                         timeout=300)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def build(model: str, work: Path) -> Path:
    """Build the bundle in a fresh interpreter (its own BentoML home) and unpack it."""
    env = venv_env(PRODUCT_PY, BENTOML_HOME=str(work / "bentoml"))
    out = subprocess.run([str(PRODUCT_PY), "-c", _BUILD, model, str(work),
                          str(Path(__file__).resolve().parent)], env=env, capture_output=True,
                         text=True, check=True, timeout=600)
    unpacked = work / "bundle"
    with tarfile.open(out.stdout.strip().splitlines()[-1]) as tar:
        tar.extractall(unpacked, filter="data")
    return unpacked


def serve(bundle: Path, sample: str, work: Path, name: str) -> tuple[Any, str]:
    """`bentoml serve` the unpacked bundle with GOLDENPATH_LOG_SAMPLE=`sample`."""
    port = free_port()
    env = venv_env(PRODUCT_PY, BENTOML_HOME=str(work / "bentoml"), GOLDENPATH_LOG_SAMPLE=sample)
    out = open(work / f"{name.replace(' ', '')}.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([str(PRODUCT_PY), "-m", "bentoml", "serve", str(bundle), "--port",
                             str(port), "--host", "127.0.0.1"], env=env, stdout=out,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    return proc, f"http://127.0.0.1:{port}"


def tree_cpu(pid: int) -> float:
    """CPU seconds used so far by process `pid` and everything below it."""
    import psutil

    root = psutil.Process(pid)
    total = 0.0
    for proc in (root, *root.children(recursive=True)):
        try:
            times = proc.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            continue
    return total


def measure(url: str, pid: int, script: Path, seconds: int) -> dict[str, Any]:
    """One wrk run at 32 clients, plus the serving processes' CPU per request meanwhile (the
    cost itself, steadier than req/s on a busy machine)."""
    before = tree_cpu(pid)
    result: dict[str, Any] = wrk(f"{url}/predict", script, 32, seconds)
    cpu = tree_cpu(pid) - before
    result["cpu_us_per_req"] = 1e6 * cpu / result["requests"] if result["requests"] else 0.0
    return result


class Puller:
    """Pull /inferences every second, following `next`, as the server does. It keeps its
    cursor between runs and catches up before each, so a run measures the steady state
    (about one second of records per pull), not the read of a full buffer."""

    def __init__(self, url: str) -> None:
        self.url, self.after, self.pulled, self.pulls = url, 0, 0, 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def pull(self) -> int:
        page = post_json(f"{self.url}/inferences", {"after": self.after, "limit": 5000},
                         timeout=30)
        self.after = page["next"]
        return len(page["records"])

    def __enter__(self) -> Puller:
        while self.pull() == 5000:
            pass
        self.pulled = self.pulls = 0
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            self.pulled += self.pull()
            self.pulls += 1


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="lr", choices=["lr", "rf"])
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--seconds", type=int, default=6, help="per wrk run (32 clients)")
    a = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-inference-log-"))
    procs: dict[str, subprocess.Popen[bytes]] = {}
    urls: dict[str, str] = {}
    names = list(CASES)
    runs: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    try:
        log(f"{a.model}: building the bundle")
        bundle = build(a.model, work)
        for name, sample in CASES.items():
            procs[name], urls[name] = serve(bundle, sample, work, name)
        model, X = train(a.model)
        row = one_row(X)
        for name, url in urls.items():
            body = poll_until(lambda u=url: post_json(f"{u}/predict", {"inputs": row}),
                              timeout=180, proc=procs[name], what=name)
            assert body["predictions"] == model.predict(row).tolist(), (name, body)
            assert post_json(f"{url}/inferences", {})["sample"] == float(CASES[name])
        script = work / "post.lua"
        body = json.dumps(json.dumps({"inputs": row}))
        script.write_text('wrk.method = "POST"\nwrk.headers["Content-Type"] = '
                          f'"application/json"\nwrk.body = {body}\n')
        for name in names:  # warm-up
            wrk(f"{urls[name]}/predict", script, 8, 2)
        pullers = {name: Puller(url) for name, url in urls.items()}
        for rep in range(a.reps):
            for name in names[rep % len(names):] + names[: rep % len(names)]:
                puller = pullers[name]
                if name == "on + pulled":
                    with puller:
                        r = measure(urls[name], procs[name].pid, script, a.seconds)
                else:
                    r = measure(urls[name], procs[name].pid, script, a.seconds)
                r["pulls"], r["pulled"] = puller.pulls, puller.pulled
                runs[name].append(r)
                log(f"rep {rep + 1} {name}: {r['rps']:.0f} req/s, p50 {r['p50_ms']:.2f} ms, "
                    f"p99 {r['p99_ms']:.2f} ms, {r['cpu_us_per_req']:.0f} us CPU/req "
                    f"(errors {r['errors']}, records pulled {r['pulled']} in {r['pulls']} "
                    "pulls)")
        logs = {n: post_json(f"{urls[n]}/inferences", {"after": 0, "limit": 1})
                for n in names}
    finally:
        for proc in procs.values():
            kill_tree(proc.pid)
        shutil.rmtree(work, ignore_errors=True)
    keys = ("rps", "p50_ms", "p99_ms", "cpu_us_per_req")
    med = {n: {k: median([r[k] for r in runs[n]]) for k in keys} for n in names}
    off = med["off"]["rps"]
    rows = [[n, med[n]["rps"], ratio(med[n]["rps"], off), med[n]["p50_ms"], med[n]["p99_ms"],
             med[n]["cpu_us_per_req"], sum(r["errors"] for r in runs[n]), logs[n]["dropped"],
             sum(r["pulled"] for r in runs[n]) or "-"] for n in names]
    headers = ["inference log", "req/s @32", "x off", "p50 ms @32", "p99 ms @32",
               "serving CPU us/req", "errors",
               "records dropped (bound)", "records pulled"]
    print(table(headers, rows))
    targets = {}
    for n in ("on", "on + pulled"):
        vs = ratio(med[n]["rps"], off)
        targets[f"{n}: throughput @32 >= {TARGET_ON_VS_OFF:g}x off"] = {
            "value": round(vs, 3), "met": vs >= TARGET_ON_VS_OFF}
    for t, v in targets.items():
        print(f"target {t}: {v['value']} -> {'MET' if v['met'] else 'MISSED'}")
    cost = path_cost(row)
    for what, value in cost.items():
        print(f"in-process {what}: {value:.2f}")
    path = write_result("inference_log", {
        "model": a.model, "reps": a.reps, "seconds": a.seconds, "clients": 32,
        "headers": headers, "rows": rows, "targets": targets, "path_cost": cost,
        "medians": med, "runs": runs,
        "load_generator": tool_version(["wrk", "-v"]),
        "versions": versions(PRODUCT_PY, ("bentoml", "scikit-learn", "numpy")),
    })
    log(f"wrote {path}")


if __name__ == "__main__":
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "True")
    main()
