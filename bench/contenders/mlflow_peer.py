"""The MLflow peer: log_model to a SQLite tracking store + `mlflow models serve
--env-manager local` (which shells out to uvicorn from PATH).

    notebook: time to first good prediction, then redeploy of a changed model
    serve:    log the model and print the `mlflow models serve` command (serving benchmark)
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from _nb import Clock, args, emit, kill_tree, one_row, predict_until, train, tree_bytes


def log_model(model, X, workdir: Path) -> str:
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{workdir / 'mlflow.db'}")
    mlflow.set_experiment("bench")
    with mlflow.start_run():
        # skops (the 3.x default) refuses tree models without a trusted-types list
        info = mlflow.sklearn.log_model(
            model, name="model", input_example=X[:5], serialization_format="cloudpickle"
        )
    return str(info.model_uri)


def serve_cmd(model_uri: str, port: int) -> list[str]:
    mlflow_cli = str(Path(sys.executable).parent / "mlflow")
    return [
        mlflow_cli,
        "models",
        "serve",
        "-m",
        model_uri,
        "--env-manager",
        "local",
        "--host",
        "127.0.0.1",
        "-p",
        str(port),
    ]


def serve_env(workdir: Path) -> dict[str, str]:
    return {"MLFLOW_TRACKING_URI": f"sqlite:///{workdir / 'mlflow.db'}"}


def start(model_uri: str, port: int, workdir: Path) -> subprocess.Popen[bytes]:
    log = open(workdir / f"serve-{port}.log", "ab")  # noqa: SIM115
    return subprocess.Popen(
        serve_cmd(model_uri, port),
        cwd=workdir,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **serve_env(workdir)},
    )


def main() -> None:
    a = args()
    a.workdir.mkdir(parents=True, exist_ok=True)
    os.chdir(a.workdir)
    model, X = train(a.model)
    row = one_row(X)
    url = f"http://127.0.0.1:{a.port}/invocations"
    if a.mode == "bundle":
        import mlflow

        uri = log_model(model, X, a.workdir)
        local = mlflow.artifacts.download_artifacts(uri, dst_path=str(a.workdir / "dl"))
        emit(
            {
                "bundle_bytes": tree_bytes(Path(local)),
                "model_file_bytes": (Path(local) / "model.pkl").stat().st_size,
                "what": "the logged model's artifact folder (MLmodel, model.pkl, envs, examples)",
            }
        )
        return
    if a.mode == "serve":
        uri = log_model(model, X, a.workdir)
        emit(
            {
                "cmd": serve_cmd(uri, a.port),
                "cwd": str(a.workdir),
                "url": url,
                "env": serve_env(a.workdir),
            }
        )
        return
    changed, _ = train(a.model, variant=1)
    expected, expected2 = model.predict(row).tolist(), changed.predict(row).tolist()

    clock = Clock()
    uri = log_model(model, X, a.workdir)
    clock.lap("logged")
    proc = start(uri, a.port, a.workdir)
    predict_until(url, row, expected, proc)
    first = clock.lap("first_prediction")

    clock2 = Clock()
    uri2 = log_model(changed, X, a.workdir)
    clock2.lap("logged")
    kill_tree(proc.pid)
    proc2 = start(uri2, a.port, a.workdir)
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
