"""The BentoML peer: save_model + `bentoml build` + `bentoml serve`, with the service file
a user would write (the BentoML 1.4 docs' pattern: BentoModel class attribute, one @api).

    notebook: time to first good prediction, then redeploy of a changed model
    serve:    build the bento and print the `bentoml serve` command (serving benchmark)
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from _nb import Clock, args, emit, kill_tree, one_row, predict_until, train, tree_bytes

SERVICE_PY = """import bentoml
import numpy as np


@bentoml.service
class BenchClassifier:
    bento_model = bentoml.models.BentoModel("{name}:latest")

    def __init__(self) -> None:
        self.model = bentoml.sklearn.load_model(self.bento_model)

    @bentoml.api
    def predict(self, inputs: np.ndarray) -> np.ndarray:
        return self.model.predict(inputs)
"""

BENTOFILE = """service: "service:BenchClassifier"
include:
  - "service.py"
python:
  packages:
    - scikit-learn
    - numpy
  lock_packages: false
"""


def project(workdir: Path, name: str) -> Path:
    """The folder a user keeps next to the notebook (written before the clock starts)."""
    proj = workdir / "project"
    proj.mkdir(parents=True, exist_ok=True)
    (proj / "service.py").write_text(SERVICE_PY.format(name=name))
    (proj / "bentofile.yaml").write_text(BENTOFILE)
    return proj


def bentoml_cli() -> list[str]:
    return [sys.executable, "-m", "bentoml"]


def save_and_build(model, name: str, proj: Path) -> str:
    import bentoml

    bentoml.sklearn.save_model(name, model)
    out = subprocess.run(
        [*bentoml_cli(), "build", "--output", "tag"],
        cwd=proj,
        capture_output=True,
        text=True,
        check=True,
    )
    tag = out.stdout.strip().splitlines()[-1].removeprefix("__tag__:")
    return tag


def serve_cmd(tag: str, port: int) -> list[str]:
    return [*bentoml_cli(), "serve", tag, "--host", "127.0.0.1", "--port", str(port)]


def start(tag: str, port: int, proj: Path) -> subprocess.Popen[bytes]:
    log = open(proj / f"serve-{port}.log", "ab")  # noqa: SIM115
    return subprocess.Popen(
        serve_cmd(tag, port),
        cwd=proj,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )


def main() -> None:
    a = args()
    os.environ["BENTOML_HOME"] = str(a.workdir / "bentoml")
    model, X = train(a.model)
    row = one_row(X)
    proj = project(a.workdir, a.name)
    url = f"http://127.0.0.1:{a.port}/predict"
    if a.mode == "bundle":
        import bentoml

        tag = save_and_build(model, a.name, proj)
        archive = bentoml.bentos.export_bento(tag, str(a.workdir / "peer.bento"))
        model_dir = bentoml.models.get(f"{a.name}:latest").path
        emit(
            {
                "bundle_bytes": Path(archive).stat().st_size,
                "model_dir_bytes": tree_bytes(model_dir),
                "what": "bentoml export of the built bento (.bento)",
            }
        )
        return
    if a.mode == "serve":
        tag = save_and_build(model, a.name, proj)
        emit(
            {
                "cmd": serve_cmd(tag, a.port),
                "cwd": str(proj),
                "url": url,
                "env": {"BENTOML_HOME": os.environ["BENTOML_HOME"]},
            }
        )
        return
    changed, _ = train(a.model, variant=1)
    expected, expected2 = model.predict(row).tolist(), changed.predict(row).tolist()

    clock = Clock()  # the model is in memory; from here on the user waits
    tag = save_and_build(model, a.name, proj)
    clock.lap("built")
    proc = start(tag, a.port, proj)
    predict_until(url, row, expected, proc)
    first = clock.lap("first_prediction")

    clock2 = Clock()  # redeploy: new model version, rebuild, restart the server
    tag2 = save_and_build(changed, a.name, proj)
    clock2.lap("built")
    kill_tree(proc.pid)
    proc2 = start(tag2, a.port, proj)
    predict_until(url, row, expected2, proc2)
    redeploy = clock2.lap("first_prediction")
    kill_tree(proc2.pid)
    emit(
        {
            "first_prediction_s": first,
            "redeploy_s": redeploy,
            "laps": clock.laps,
            "redeploy_laps": clock2.laps,
        }
    )


if __name__ == "__main__":
    main()
