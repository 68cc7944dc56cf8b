"""Progressive-delivery router: what routing each request costs, against today's TCP relay.

Two real serving processes of the same model (gp.deploy'd twice through one embedded
promotion server: `stable` and `candidate`), then POST /predict at 32 clients (wrk) through:
  direct          the stable serving process itself
  relay           the local target's TCP relay (targets/_forwarder.py), in this process
  router w=0      goldenpath_router, Split(weight=0.0): every request answered by the stable
  router w=0.5    half the requests answered by the candidate; each of those also copied to the
                  stable and compared (compare=True, the default)
  router w=0.5 nc the same without the copies (compare=False)
  router shadow   Split(mirror=True): the stable answers, every request copied to the candidate
The relay and the router run in this process, which does nothing else meanwhile; its CPU
per request is measured from its own CPU time. Repetitions are interleaved (the order
rotates); the tables show medians.

    .venv/bin/python bench/bench_router.py [--model lr] [--reps 2] [--seconds 6]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "server"))

from _common import (  # noqa: E402
    PRODUCT_PY,
    free_port,
    kill_tree,
    log,
    median,
    post_json,
    ratio,
    run_contender,
    table,
    tool_version,
    venv_env,
    versions,
    write_result,
)
from _models import one_row, train  # noqa: E402
from bench_serving import wrk  # noqa: E402

from goldenpath_router import Router, Split  # noqa: E402
from goldenpath_server.targets._forwarder import Forwarders  # noqa: E402

TARGET_VS_RELAY = 0.9  # router throughput at 32 clients >= 90% of the relay's
CASES = {
    "router w=0": Split(weight=0.0),
    "router w=0.5": Split(weight=0.5),
    "router w=0.5 nc": Split(weight=0.5, compare=False),
    "router shadow": Split(mirror=True),
}


def deploy(model: str, name: str, work: Path, port: int) -> dict[str, Any]:
    """gp.deploy through the embedded server on `port` (started by the first call)."""
    return run_contender(
        PRODUCT_PY,
        "goldenpath_nb.py",
        ["serve", "--model", model, "--workdir", str(work), "--port", str(port), "--name", name],
        env=venv_env(PRODUCT_PY),
    )


def serving_listeners(home: Path) -> dict[int, int]:
    """{port: pid} of the serving processes of the server whose state is in `home`: they run
    in an unpacked bundle (forked from the server's zygote, so not below the server)."""
    import psutil

    found = {}
    for conn in psutil.net_connections("tcp"):
        if conn.status != psutil.CONN_LISTEN or not conn.pid:
            continue
        try:
            if psutil.Process(conn.pid).cwd().startswith(str(home / "artifacts")):
                found[conn.laddr.port] = conn.pid
        except psutil.Error:
            continue
    return found


def measure(url: str, script: Path, seconds: int) -> dict[str, float]:
    """One wrk run at 32 clients, plus this process's CPU per request meanwhile."""
    import psutil

    me = psutil.Process()
    before = me.cpu_times()
    result = wrk(url, script, 32, seconds)
    after = me.cpu_times()
    cpu = (after.user - before.user) + (after.system - before.system)
    result["proxy_cpu_us_per_req"] = 1e6 * cpu / result["requests"] if result["requests"] else 0
    return result


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="lr", choices=["lr", "rf"])
    p.add_argument("--reps", type=int, default=2)
    p.add_argument("--seconds", type=int, default=6, help="per wrk run (32 clients)")
    a = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-router-"))
    server_port = free_port()
    owned: list[int] = []
    forwarders, router = Forwarders(), Router()
    try:
        log(f"{a.model}: deploying stable and candidate")
        home = work / ".goldenpath"
        owned.append(int(deploy(a.model, "router-stable", work, server_port)["server_pid"]))
        first = serving_listeners(home)
        owned += first.values()
        deploy(a.model, "router-candidate", work, server_port)
        second = {port: pid for port, pid in serving_listeners(home).items() if port not in first}
        owned += second.values()
        assert len(first) == len(second) == 1, (first, second)
        ports = {"stable": next(iter(first)), "candidate": next(iter(second))}
        relay_port = forwarders.ensure("bench", None)
        forwarders.point("bench", ports["stable"])
        router_port = router.open("bench", ports["stable"], ports["candidate"], Split())
        urls = {"direct": f"http://127.0.0.1:{ports['stable']}/predict",
                "relay": f"http://127.0.0.1:{relay_port}/predict",
                **{case: f"http://127.0.0.1:{router_port}/predict" for case in CASES}}
        _, X = train(a.model)
        row = one_row(X)
        for url in urls.values():
            assert "predictions" in post_json(url, {"inputs": row})
        script = work / "post.lua"
        body = json.dumps({"inputs": row})
        script.write_text('wrk.method = "POST"\nwrk.headers["Content-Type"] = '
                          f'"application/json"\nwrk.body = {json.dumps(body)}\n')
        names = list(urls)
        runs: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
        for name in names:  # warm-up: pools, the workers' caches
            router.update("bench", CASES.get(name, Split()))
            wrk(urls[name], script, 8, 2)
        for rep in range(a.reps):
            for name in names[rep % len(names):] + names[: rep % len(names)]:
                router.update("bench", CASES.get(name, Split()))
                time.sleep(1)  # the previous case's copies come back before the window opens
                router.window("bench")
                r = measure(urls[name], script, a.seconds)
                r["window"] = router.window("bench") if name in CASES else None
                runs[name].append(r)
                log(f"rep {rep + 1} {name}: {r['rps']:.0f} req/s, p50 {r['p50_ms']:.2f} ms, "
                    f"p99 {r['p99_ms']:.2f} ms, {r['proxy_cpu_us_per_req']:.0f} us CPU/req "
                    f"(errors {r['errors']})")
    finally:
        router.close_all()
        forwarders.close()
        for pid in owned:
            kill_tree(pid)
        shutil.rmtree(work, ignore_errors=True)
    med = {n: {k: median([r[k] for r in runs[n]])
               for k in ("rps", "p50_ms", "p99_ms", "proxy_cpu_us_per_req")} for n in names}
    relay = med["relay"]["rps"]
    rows = []
    for n in names:
        last = runs[n][-1]["window"]
        paired = last["paired"] if last else {}
        rows.append([n, med[n]["rps"], ratio(med[n]["rps"], relay), med[n]["p50_ms"],
                     med[n]["p99_ms"], med[n]["proxy_cpu_us_per_req"] if n != "direct" else "-",
                     sum(r["errors"] for r in runs[n]),
                     paired.get("requests", "-"), paired.get("agreement", "-"),
                     paired.get("dropped", "-")])
    headers = ["path", "req/s @32", "x relay", "p50 ms", "p99 ms", "proxy CPU us/req",
               "errors", "pairs (last run)", "agreement", "copies dropped"]
    print(table(headers, rows))
    vs = ratio(med["router w=0"]["rps"], relay)
    targets = {f"router w=0 throughput @32 >= {TARGET_VS_RELAY:g}x relay":
               {"value": round(vs, 3), "met": vs >= TARGET_VS_RELAY}}
    for t, v in targets.items():
        print(f"target {t}: {v['value']} -> {'MET' if v['met'] else 'MISSED'}")
    path = write_result("router", {
        "model": a.model, "reps": a.reps, "seconds": a.seconds, "clients": 32,
        "headers": headers, "rows": rows, "targets": targets, "medians": med, "runs": runs,
        "load_generator": tool_version(["wrk", "-v"]),
        "versions": versions(PRODUCT_PY, ("bentoml", "scikit-learn", "numpy")),
    })
    log(f"wrote {path}")


if __name__ == "__main__":
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "True")
    main()
