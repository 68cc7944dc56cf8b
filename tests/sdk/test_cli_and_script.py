"""The same package from a plain training script and from the `goldenpath` CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import requests

TRAIN_PY = textwrap.dedent('''
    import numpy as np
    from sklearn.base import BaseEstimator, TransformerMixin
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    import goldenpath as gp


    class Doubler(BaseEstimator, TransformerMixin):
        """A custom step defined in the script itself (lives in __main__)."""

        def fit(self, X, y=None):
            return self

        def transform(self, X):
            return np.asarray(X) * 2.0


    X, y = load_iris(return_X_y=True)
    model = make_pipeline(Doubler(), LogisticRegression(max_iter=500)).fit(X, y)
    d = gp.deploy(model, name="script-iris", sample=X[:5])
    print("URL", d.url)
    print("PRED", d.predict(X[:3]), model.predict(X[:3]).tolist())
''')


def _env(server: Any) -> dict[str, str]:
    return {**os.environ, "GOLDENPATH_SERVER": server.url}


def test_training_script_with_a_custom_transformer_deploys(server: Any, tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(TRAIN_PY)
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          env=_env(server), cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    pred_line = next(line for line in proc.stdout.splitlines() if line.startswith("PRED"))
    remote, local = pred_line.removeprefix("PRED ").split("] [")
    assert remote + "]" == "[" + local  # same predictions over HTTP as in the script
    assert "package" in proc.stderr and "live" in proc.stderr  # progress shown


def _cli(server: Any, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "goldenpath", *args], capture_output=True,
                          text=True, env=_env(server), timeout=300)


def test_cli_deploys_a_bento_archive_and_a_saved_model(server: Any, tmp_path: Path,
                                                       iris: tuple) -> None:
    import joblib
    from sklearn.linear_model import LogisticRegression

    from goldenpath._bundle import build_bundle

    X, y = iris
    model = LogisticRegression(max_iter=500).fit(X, y)
    bundle = build_bundle(model, "cli-bento", X[:5], tmp_path)
    deployed = _cli(server, "deploy", str(bundle.archive), "--name", "cli-bento")
    assert deployed.returncode == 0, deployed.stderr
    assert "live" in deployed.stdout and "http://127.0.0.1:" in deployed.stdout

    joblib.dump(model, tmp_path / "model.joblib")
    X[:5].to_csv(tmp_path / "sample.csv", index=False)
    saved = _cli(server, "deploy", str(tmp_path / "model.joblib"), "--name", "cli-saved",
                 "--sample", str(tmp_path / "sample.csv"))
    assert saved.returncode == 0, saved.stderr

    listing = _cli(server, "ls")
    assert "cli-bento" in listing.stdout and "cli-saved" in listing.stdout
    status = _cli(server, "status", "cli-saved")
    assert "live" in status.stdout and "rollout_succeeded" in status.stdout
    url = next(w for w in status.stdout.split() if w.startswith("http://"))
    answer = requests.post(f"{url}/predict", json={"inputs": json.loads(
        X[:2].to_json(orient="records"))}, timeout=10)
    assert answer.json()["predictions"] == model.predict(X[:2]).tolist()


def test_cli_errors_say_what_to_fix(server: Any, tmp_path: Path) -> None:
    (tmp_path / "model.joblib").write_bytes(b"whatever")
    missing_sample = _cli(server, "deploy", str(tmp_path / "model.joblib"))
    assert missing_sample.returncode == 1
    assert "--sample" in missing_sample.stderr
    unknown = _cli(server, "status", "no-such-service")
    assert unknown.returncode == 1 and "no service named" in unknown.stderr
