"""An exported bundle runs with stock `bentoml serve` where goldenpath is NOT installed."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

import requests

from tests._servers import free_port


def test_bundle_serves_with_stock_bentoml_in_a_bare_environment(tmp_path: Path,
                                                                iris: tuple) -> None:
    from sklearn.ensemble import GradientBoostingClassifier

    from goldenpath._bundle import build_bundle

    X, y = iris
    model = GradientBoostingClassifier(n_estimators=5, random_state=0).fit(X, y)
    bundle = build_bundle(model, "stock", X[:5], tmp_path)
    bento_dir = tmp_path / "unpacked"
    with tarfile.open(bundle.archive) as tar:
        tar.extractall(bento_dir, filter="data")

    venv = tmp_path / "bare-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", "-r",
                    str(bento_dir / "env" / "python" / "requirements.txt")], check=True,
                   timeout=900)
    has_goldenpath = subprocess.run([str(py), "-c", "import goldenpath"], capture_output=True)
    assert has_goldenpath.returncode != 0, "the bare environment must not have goldenpath"

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(BENTOML_DO_NOT_TRACK="True", BENTOML_HOME=str(tmp_path / "bare-home"))
    proc = subprocess.Popen([str(venv / "bin" / "bentoml"), "serve", str(bento_dir),
                             "--port", str(port), "--host", "127.0.0.1"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        answer: Any = None
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and proc.poll() is None:
            try:  # the socket accepts before the worker has loaded the model: wait for ready
                if requests.get(f"http://127.0.0.1:{port}/readyz", timeout=5).ok:
                    answer = requests.post(f"http://127.0.0.1:{port}/predict",
                                           json={"inputs": X[:3].to_numpy().tolist()},
                                           timeout=30)
                    break
            except (requests.ConnectionError, requests.Timeout):
                pass
            time.sleep(0.5)
        assert answer is not None, proc.stdout.read().decode() if proc.stdout else ""
        assert answer.json()["predictions"] == model.predict(X[:3]).tolist()
    finally:
        from goldenpath_server.targets.local import _terminate

        _terminate(proc.pid)
