"""Benchmark 2: serving latency (1 client) and throughput (32 clients), measured with wrk.

For each model (LogisticRegression: serving overhead dominates; RandomForest, 100 trees)
every contender serves the same model on loopback at the same time:
  goldenpath         gp.deploy'd endpoint (stable URL = the local target's TCP forwarder)
  goldenpath-direct  the same `bentoml serve` process, bypassing the forwarder (diagnostic)
  bentoml            `bentoml serve` of a hand-written service (bentoml.sklearn, 1 worker)
  mlflow             `mlflow models serve --env-manager local` (uvicorn, 1 worker)
Same JSON body for all: {"inputs": [[20 floats]]}. One warm-up pass, then repetitions
interleaved (the order rotates); medians of the per-repetition wrk results.

    .venv/bin/python bench/bench_serving.py [--reps 2] [--models lr,rf] [--seconds 4]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    PEERS_PY,
    PRODUCT_PY,
    free_port,
    kill_tree,
    log,
    median,
    poll_until,
    post_json,
    pyspy_start,
    ratio,
    run_contender,
    shown_path,
    summarize_packages,
    summarize_profile,
    table,
    tool_version,
    venv_env,
    versions,
    write_result,
)
from _models import one_row, train  # noqa: E402

TARGET_P50 = 1.1
TARGET_RPS_VS_MLFLOW = 1.5
TARGET_P99_VS_MLFLOW = 2.0  # one client: the tail, where BentoML workers stalled on GC
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def parse_wrk(out: str) -> dict[str, float]:
    def lat(pct: str) -> float:
        m = re.search(rf"^\s*{pct}%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)
        return float(m.group(1)) * _UNITS[m.group(2)] if m else float("nan")

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(non2xx.group(1)) if non2xx else 0) + (sum(map(int, sock.groups())) if sock else 0)
    return {
        "p50_ms": lat("50"),
        "p90_ms": lat("90"),
        "p99_ms": lat("99"),
        "rps": float(rps.group(1)) if rps else 0.0,
        "requests": int(total.group(1)) if total else 0,
        "errors": errors,
    }


def wrk(url: str, script: Path, clients: int, seconds: float) -> dict[str, float]:
    threads = 1 if clients == 1 else 2
    out = subprocess.run(
        [
            "wrk",
            "-t",
            str(threads),
            "-c",
            str(clients),
            "-d",
            f"{int(round(seconds))}s",
            "--timeout",
            "10s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return parse_wrk(out)


def tree_rss_mb(pid: int) -> float:
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
        return round(sum(p.memory_info().rss for p in procs) / 2**20, 1)
    except psutil.NoSuchProcess:
        return float("nan")


def worker_pid(pid: int) -> int:
    """The process that runs the model: the deepest descendant (bentoml's worker, uvicorn's)."""
    import psutil

    kids = psutil.Process(pid).children(recursive=True)
    for kid in kids:
        cmd = " ".join(kid.cmdline())
        if "_bentoml_impl.worker" in cmd or "uvicorn" in cmd:
            return int(kid.pid)
    return kids[-1].pid if kids else pid


def serving_listener(home: Path) -> tuple[int, int]:
    """(pid, port) of the process serving a bundle of the promotion server whose state is in
    `home`: it runs in the unpacked bundle and listens on TCP. Found by its folder, not as a
    child of the server: forked serving processes outlive the zygote that forked them."""
    import psutil

    bundles = str(home / "artifacts")
    for conn in psutil.net_connections("tcp"):
        if conn.status != psutil.CONN_LISTEN or not conn.pid:
            continue
        try:
            if psutil.Process(conn.pid).cwd().startswith(bundles):
                return conn.pid, conn.laddr.port
        except psutil.Error:
            continue
    raise RuntimeError(f"no process serves a bundle of the server in {home}")


class Fleet:
    """The contenders' serving processes for one model, started side by side."""

    def __init__(self, model: str, work: Path) -> None:
        self.model, self.work = model, work
        self.urls: dict[str, str] = {}
        self.pids: dict[str, int] = {}  # process tree that serves (for RSS)
        self.owned: list[int] = []  # what we kill at the end

    def start(self) -> None:
        # goldenpath: deploy through the embedded default server; keep it running
        gp = run_contender(
            PRODUCT_PY,
            "goldenpath_nb.py",
            [
                "serve",
                "--model",
                self.model,
                "--workdir",
                str(self.work / "gp"),
                "--port",
                str(free_port()),
            ],
            env=venv_env(PRODUCT_PY),
        )
        self.owned.append(int(gp["server_pid"]))
        self.urls["goldenpath"] = gp["url"]
        pid, port = serving_listener(self.work / "gp" / ".goldenpath")
        # the serving process outlives the server by design, and when the zygote that forked
        # it was replaced it is no longer below the server's process tree: own it too
        self.owned.append(pid)
        self.urls["goldenpath-direct"] = f"http://127.0.0.1:{port}/predict"
        self.pids["goldenpath"] = self.pids["goldenpath-direct"] = pid
        for name, script in (("bentoml", "bentoml_peer.py"), ("mlflow", "mlflow_peer.py")):
            spec = run_contender(
                PEERS_PY,
                script,
                [
                    "serve",
                    "--model",
                    self.model,
                    "--workdir",
                    str(self.work / name),
                    "--port",
                    str(free_port()),
                ],
                env=venv_env(PEERS_PY),
            )
            env = venv_env(PEERS_PY, **spec["env"])
            log_file = open(self.work / f"{name}.log", "wb")  # noqa: SIM115
            proc = subprocess.Popen(
                spec["cmd"],
                cwd=spec["cwd"],
                env=env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
            self.owned.append(proc.pid)
            self.pids[name] = proc.pid
            self.urls[name] = spec["url"]
        model, X = train(self.model)
        row = one_row(X)
        for name, url in self.urls.items():
            body = poll_until(lambda u=url: post_json(u, {"inputs": row}), timeout=180, what=name)
            preds = body["predictions"] if isinstance(body, dict) else body
            assert [int(p) for p in preds] == model.predict(row).tolist(), (name, preds)

    def stop(self) -> None:
        for pid in self.owned:
            kill_tree(pid)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--reps", type=int, default=2)
    p.add_argument("--models", default="lr,rf")
    p.add_argument("--seconds", type=int, default=4, help="per wrk run at 1 client")
    p.add_argument("--seconds-32", type=int, default=6, help="per wrk run at 32 clients")
    p.add_argument("--profile", type=int, default=5, help="py-spy seconds (0: none)")
    a = p.parse_args()
    names = ["goldenpath", "goldenpath-direct", "bentoml", "mlflow"]
    results: dict[str, Any] = {}
    profiles: dict[str, Any] = {}
    rows = []
    targets: dict[str, Any] = {}
    for model in a.models.split(","):
        work = Path(tempfile.mkdtemp(prefix=f"bench-serving-{model}-"))
        script = work / "post.lua"
        _, X = train(model)
        body = json.dumps({"inputs": one_row(X)})
        script.write_text(
            'wrk.method = "POST"\nwrk.headers["Content-Type"] = '
            f'"application/json"\nwrk.body = {json.dumps(body)}\n'
        )
        fleet = Fleet(model, work)
        try:
            log(f"{model}: starting contenders")
            fleet.start()
            for name in names:  # warm-up
                wrk(fleet.urls[name], script, 8, 2)
            runs: dict[str, dict[str, list[dict[str, float]]]] = {
                n: {"c1": [], "c32": []} for n in names
            }
            for rep in range(a.reps):
                order = names[rep % len(names) :] + names[: rep % len(names)]
                for name in order:
                    c1 = wrk(fleet.urls[name], script, 1, a.seconds)
                    c32 = wrk(fleet.urls[name], script, 32, a.seconds_32)
                    runs[name]["c1"].append(c1)
                    runs[name]["c32"].append(c32)
                    log(
                        f"{model} rep {rep + 1} {name}: p50 {c1['p50_ms']:.2f} ms, "
                        f"p99 {c1['p99_ms']:.2f} ms, {c32['rps']:.0f} req/s @32 "
                        f"(errors {c1['errors'] + c32['errors']})"
                    )
            rss = {n: tree_rss_mb(fleet.pids[n]) for n in names}
            if a.profile and model == "lr":  # where a request's time goes, at 32 clients
                profiles[model] = {}
                for name, pid, url in (
                    (
                        "goldenpath worker",
                        worker_pid(fleet.pids["goldenpath"]),
                        fleet.urls["goldenpath"],
                    ),
                    (
                        "goldenpath forwarder (promotion server process)",
                        fleet.owned[0],
                        fleet.urls["goldenpath"],
                    ),
                    ("bentoml worker", worker_pid(fleet.pids["bentoml"]), fleet.urls["bentoml"]),
                    ("mlflow worker", worker_pid(fleet.pids["mlflow"]), fleet.urls["mlflow"]),
                ):
                    slug = name.split()[0] + "-" + name.split()[1]
                    spy, out = pyspy_start(pid, f"serving-{model}-{slug}", a.profile)
                    w = wrk(url, script, 32, a.profile)
                    spy.wait(timeout=60)
                    profiles[model][name] = {
                        "file": shown_path(out),
                        "rps_while_sampled": w["rps"],
                        "by_package_pct": summarize_packages(out, 12),
                        "top_inclusive_pct": summarize_profile(out, 40),
                    }
        finally:
            fleet.stop()
            shutil.rmtree(work, ignore_errors=True)
        med = {
            n: {
                "p50_ms": median([r["p50_ms"] for r in runs[n]["c1"]]),
                "p99_ms": median([r["p99_ms"] for r in runs[n]["c1"]]),
                "rps_c32": median([r["rps"] for r in runs[n]["c32"]]),
                "p99_ms_c32": median([r["p99_ms"] for r in runs[n]["c32"]]),
                "errors": sum(r["errors"] for k in ("c1", "c32") for r in runs[n][k]),
                "rss_mb": rss[n],
            }
            for n in names
        }
        gp = med["goldenpath"]
        for n in names:
            m = med[n]
            rows.append(
                [
                    model,
                    n,
                    m["p50_ms"],
                    m["p99_ms"],
                    ratio(m["p50_ms"], gp["p50_ms"]),
                    m["rps_c32"],
                    ratio(gp["rps_c32"], m["rps_c32"]),
                    m["p99_ms_c32"],
                    m["errors"],
                    m["rss_mb"],
                ]
            )
        p50_vs = ratio(gp["p50_ms"], med["bentoml"]["p50_ms"])
        rps_vs = ratio(gp["rps_c32"], med["mlflow"]["rps_c32"])
        targets[f"{model}: p50 within {TARGET_P50:g}x of bentoml serve"] = {
            "value": round(p50_vs, 2),
            "met": p50_vs <= TARGET_P50,
        }
        targets[f"{model}: throughput @32 >= {TARGET_RPS_VS_MLFLOW:g}x mlflow"] = {
            "value": round(rps_vs, 2),
            "met": rps_vs >= TARGET_RPS_VS_MLFLOW,
        }
        p99_vs = ratio(gp["p99_ms"], med["mlflow"]["p99_ms"])
        targets[f"{model}: p99 @1 within {TARGET_P99_VS_MLFLOW:g}x of mlflow"] = {
            "value": round(p99_vs, 2),
            "met": p99_vs <= TARGET_P99_VS_MLFLOW,
        }
        targets[f"{model}: throughput @32 ahead of bentoml and mlflow"] = {
            "value": round(min(ratio(gp["rps_c32"], med[n]["rps_c32"])
                               for n in ("bentoml", "mlflow")), 2),
            "met": all(gp["rps_c32"] > med[n]["rps_c32"] for n in ("bentoml", "mlflow")),
        }
        results[model] = {"medians": med, "runs": runs}
    headers = [
        "model",
        "contender",
        "p50 ms @1",
        "p99 ms @1",
        "p50 / goldenpath",
        "req/s @32",
        "goldenpath req/s / this",
        "p99 ms @32",
        "errors",
        "serving RSS MB",
    ]
    print(table(headers, rows))
    for t, v in targets.items():
        print(f"target {t}: {v['value']} -> {'MET' if v['met'] else 'MISSED'}")
    for model, per in profiles.items():
        for name, prof in per.items():
            print(f"py-spy {model} {name} at 32 clients, CPU by package (innermost frame):")
            for pkg, pct in prof["by_package_pct"]:
                print(f"  {pct:5.1f}%  {pkg}")
    path = write_result(
        "serving",
        {
            "reps": a.reps,
            "seconds_c1": a.seconds,
            "seconds_c32": a.seconds_32,
            "headers": headers,
            "rows": rows,
            "targets": targets,
            "results": results,
            "profiles": profiles,
            "load_generator": tool_version(["wrk", "-v"]),
            "versions": {
                "product": versions(PRODUCT_PY, ("bentoml", "scikit-learn", "numpy")),
                "peers": versions(PEERS_PY, ("bentoml", "mlflow", "scikit-learn", "uvicorn")),
            },
        },
    )
    log(f"wrote {path}")


if __name__ == "__main__":
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "True")
    main()
