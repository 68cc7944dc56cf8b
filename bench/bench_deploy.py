"""Benchmark 1: notebook -> first successful prediction, and redeploy of a changed model.

Contenders (same LogisticRegression, same data, each in a fresh state folder and port):
  goldenpath  gp.deploy on the embedded default (the first call starts the local server)
  bentoml     save_model + `bentoml build` + `bentoml serve` (hand-written service.py)
  mlflow      log_model (SQLite tracking) + `mlflow models serve --env-manager local`
Rounds are interleaved (the order rotates every round); round 0 is a warm-up.

    .venv/bin/python bench/bench_deploy.py [--reps 3] [--model lr]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    PEERS_PY,
    PRODUCT_PY,
    free_port,
    kill_tree,
    log,
    median,
    ratio,
    run_contender,
    table,
    venv_env,
    versions,
    write_result,
)

CONTENDERS = {
    "goldenpath": (PRODUCT_PY, "goldenpath_nb.py"),
    "bentoml": (PEERS_PY, "bentoml_peer.py"),
    "mlflow": (PEERS_PY, "mlflow_peer.py"),
}
TARGET_SPEEDUP = 3.0
TARGET_REDEPLOY_S = 2.0


def one_run(name: str, model: str) -> dict[str, float]:
    python, script = CONTENDERS[name]
    work = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
    try:
        result = run_contender(
            python,
            script,
            ["notebook", "--model", model, "--workdir", str(work), "--port", str(free_port())],
            env=venv_env(python),
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if result.get("server_pid"):
        kill_tree(int(result["server_pid"]))  # the autostarted server and its model processes
    return result


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--model", default="lr")
    a = p.parse_args()
    names = list(CONTENDERS)
    runs: dict[str, list[dict]] = {n: [] for n in names}
    for rnd in range(a.warmup + a.reps):
        order = names[rnd % len(names) :] + names[: rnd % len(names)]
        for name in order:
            result = one_run(name, a.model)
            tag = "warm-up" if rnd < a.warmup else f"rep {rnd - a.warmup + 1}"
            log(
                f"{tag} {name}: first {result['first_prediction_s']:.2f}s, "
                f"redeploy {result['redeploy_s']:.2f}s"
            )
            if rnd >= a.warmup:
                runs[name].append(result)
    med = {
        n: {
            "first_prediction_s": median([r["first_prediction_s"] for r in runs[n]]),
            "redeploy_s": median([r["redeploy_s"] for r in runs[n]]),
        }
        for n in names
    }
    gp = med["goldenpath"]
    rows = []
    for n in names:
        m = med[n]
        rows.append(
            [
                n,
                m["first_prediction_s"],
                ratio(m["first_prediction_s"], gp["first_prediction_s"]),
                m["redeploy_s"],
                ratio(m["redeploy_s"], gp["redeploy_s"]),
            ]
        )
    speedups = {
        n: ratio(med[n]["first_prediction_s"], gp["first_prediction_s"])
        for n in names
        if n != "goldenpath"
    }
    targets = {
        f"first prediction >= {TARGET_SPEEDUP:g}x faster than both peers": {
            "value": round(min(speedups.values()), 2),
            "met": min(speedups.values()) >= TARGET_SPEEDUP,
        },
        f"redeploy < {TARGET_REDEPLOY_S:g} s": {
            "value": round(gp["redeploy_s"], 2),
            "met": gp["redeploy_s"] < TARGET_REDEPLOY_S,
        },
    }
    headers = [
        "contender",
        "first prediction s (median)",
        "x goldenpath",
        "redeploy s (median)",
        "x goldenpath",
    ]
    print(table(headers, rows))
    for t, v in targets.items():
        print(f"target {t}: {v['value']} -> {'MET' if v['met'] else 'MISSED'}")
    path = write_result(
        "deploy",
        {
            "model": a.model,
            "reps": a.reps,
            "warmup": a.warmup,
            "headers": headers,
            "rows": rows,
            "medians": med,
            "targets": targets,
            "runs": runs,
            "versions": {
                "product": versions(PRODUCT_PY, ("bentoml", "scikit-learn", "numpy")),
                "peers": versions(PEERS_PY, ("bentoml", "mlflow", "scikit-learn", "numpy")),
            },
        },
    )
    log(f"wrote {path}")


if __name__ == "__main__":
    main()
