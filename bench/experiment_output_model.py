"""Experiment behind the serving fix proposed in docs/benchmarks.md (not part of run_all).

BentoML 1.4 recomputes a pydantic JSON schema on every response whose declared output type
is not a pydantic model (IOMixin.to_http_response -> mime_type -> model_json_schema). The
goldenpath runtime declares `-> dict[str, Any]`. Two hand-written services in the peers
venv serve the same LogisticRegression, same body, side by side:
  dict      `def predict(self, inputs: Any) -> dict[str, Any]`   (goldenpath_serving today)
  model     `def predict(self, inputs: Any) -> Predictions`      (a pydantic BaseModel)
and wrk measures both, interleaved.

    .venv/bin/python bench/experiment_output_model.py [--reps 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    PEERS_PY,
    free_port,
    kill_tree,
    log,
    median,
    poll_until,
    post_json,
    table,
    venv_env,
    write_result,
)
from _models import one_row, train  # noqa: E402
from bench_serving import wrk  # noqa: E402

SERVICE = """import pickle
from typing import Any

import bentoml
import numpy as np
from pydantic import BaseModel


class Predictions(BaseModel):
    predictions: list[Any]


with open({model!r}, "rb") as fh:
    MODEL = pickle.load(fh)


@bentoml.service(workers=1)
class AsDict:
    @bentoml.api(route="/predict")
    def predict(self, inputs: Any) -> dict[str, Any]:
        return {{"predictions": MODEL.predict(np.asarray(inputs, dtype="float64")).tolist()}}


@bentoml.service(workers=1)
class AsModel:
    @bentoml.api(route="/predict")
    def predict(self, inputs: Any) -> Predictions:
        return Predictions(predictions=MODEL.predict(np.asarray(inputs, dtype="float64")).tolist())
"""


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--reps", type=int, default=3)
    a = p.parse_args()
    import pickle

    work = Path(tempfile.mkdtemp(prefix="bench-outmodel-"))
    model, X = train("lr")
    (work / "model.pkl").write_bytes(pickle.dumps(model))
    (work / "service.py").write_text(SERVICE.format(model=str(work / "model.pkl")))
    script = work / "post.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = {json.dumps(json.dumps({'inputs': one_row(X)}))}\n"
    )
    procs, urls = {}, {}
    try:
        for name, cls in (("dict", "AsDict"), ("model", "AsModel")):
            port = free_port()
            procs[name] = subprocess.Popen(
                [str(PEERS_PY), "-m", "bentoml", "serve", f"service:{cls}", "--port", str(port)],
                cwd=work,
                env=venv_env(PEERS_PY, BENTOML_HOME=str(work / "bh")),
                stdout=open(work / f"{name}.log", "wb"),
                stderr=subprocess.STDOUT,
            )
            urls[name] = f"http://127.0.0.1:{port}/predict"
        for name, url in urls.items():
            poll_until(lambda u=url: post_json(u, {"inputs": one_row(X)}), proc=procs[name])
            wrk(url, script, 8, 2)
        runs = {n: [] for n in urls}
        for rep in range(a.reps):
            for name in list(urls) if rep % 2 == 0 else list(urls)[::-1]:
                runs[name].append(
                    {"c1": wrk(urls[name], script, 1, 4), "c32": wrk(urls[name], script, 32, 5)}
                )
                log(f"rep {rep + 1} {name}: {runs[name][-1]['c32']['rps']:.0f} req/s @32")
    finally:
        for proc in procs.values():
            kill_tree(proc.pid)
        shutil.rmtree(work, ignore_errors=True)
    rows = [
        [
            n,
            median([r["c1"]["p50_ms"] for r in runs[n]]),
            median([r["c32"]["rps"] for r in runs[n]]),
        ]
        for n in runs
    ]
    rows = [r + [r[2] / rows[0][2]] for r in rows]
    headers = ["declared output", "p50 ms @1", "req/s @32", "req/s vs dict"]
    print(table(headers, rows))
    write_result("experiment_output_model", {"headers": headers, "rows": rows, "runs": runs})


if __name__ == "__main__":
    main()
