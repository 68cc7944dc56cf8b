"""Benchmark 4: what gets shipped, against the size of the model itself.

model bytes = len(cloudpickle.dumps(model)) in the notebook. goldenpath = the exported .bento
archive gp.deploy uploads (its packaging step, goldenpath._bundle.build_bundle); bentoml = the
hand-written service's bento exported with `bentoml.bentos.export_bento`; mlflow = the logged
model's artifact folder (MLflow ships a folder, not an archive).

    .venv/bin/python bench/bench_bundle.py [--models lr,rf,rf-big]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import PEERS_PY, PRODUCT_PY, log, run_contender, table, venv_env, write_result  # noqa: E402

TARGET_OVERHEAD = 200 * 1024


def measure(python: Path, script: str, model: str) -> dict:
    work = Path(tempfile.mkdtemp(prefix="bench-bundle-"))
    try:
        return run_contender(
            python,
            script,
            ["bundle", "--model", model, "--workdir", str(work), "--port", "0"],
            env=venv_env(python, BENTOML_HOME=str(work / "bentoml")),
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--models", default="lr,rf")
    a = p.parse_args()
    rows, detail, targets = [], {}, {}
    for model in a.models.split(","):
        gp = measure(PRODUCT_PY, "goldenpath_nb.py", model)
        bento = measure(PEERS_PY, "bentoml_peer.py", model)
        mlf = measure(PEERS_PY, "mlflow_peer.py", model)
        overhead = gp["bundle_bytes"] - gp["model_bytes"]
        rows.append(
            [
                model,
                gp["model_bytes"],
                gp["bundle_bytes"],
                overhead,
                gp["members_unpacked_bytes"],
                bento["bundle_bytes"],
                mlf["bundle_bytes"],
            ]
        )
        targets[f"{model}: bundle <= model + 200 KB"] = {
            "value": overhead,
            "met": overhead <= TARGET_OVERHEAD,
        }
        detail[model] = {"goldenpath": gp, "bentoml": bento, "mlflow": mlf}
        log(f"{model}: model {gp['model_bytes']} B, goldenpath bundle {gp['bundle_bytes']} B")
    headers = [
        "model",
        "model bytes (pickle)",
        "goldenpath .bento bytes",
        "bundle - model",
        "goldenpath unpacked bytes",
        "bentoml .bento bytes",
        "mlflow folder bytes",
    ]
    print(table(headers, rows))
    for t, v in targets.items():
        print(f"target {t}: {v['value']} B overhead -> {'MET' if v['met'] else 'MISSED'}")
    path = write_result(
        "bundle", {"headers": headers, "rows": rows, "targets": targets, "detail": detail}
    )
    log(f"wrote {path}")


if __name__ == "__main__":
    main()
