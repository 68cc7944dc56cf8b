"""`pip install goldenpath` in a fresh virtualenv: the SDK, the CLI and the widgets, without
the server's stack (FastAPI, SQLAlchemy, Alembic, MLflow), still deploying through a running
server; and without one, gp.deploy says exactly what to install."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import venv
from pathlib import Path

import pytest

from tests._servers import ServerProcess, free_port

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
SERVER_ONLY = ("fastapi", "sqlalchemy", "alembic", "mlflow", "cel-python", "picklescan")

DEPLOY = textwrap.dedent("""
    import json, sys
    import numpy as np
    import goldenpath as gp

    class Doubler:  # any object with predict(X): travels by value from __main__
        def predict(self, X):
            return np.asarray(X) * 2

    gp.configure(server=sys.argv[1])
    d = gp.deploy(Doubler(), name="client-install", sample=np.array([[1.0, 2.0]]))
    print(json.dumps({"url": d.url, "answer": np.asarray(d.predict([[3.0, 4.0]])).tolist()}))
""")


@pytest.fixture(scope="module")
def client_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with the goldenpath wheel and nothing but its own requirements."""
    where = tmp_path_factory.mktemp("client")
    wheels = where / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--no-build-isolation", "-w", str(wheels), str(REPO)], check=True)
    (wheel,) = wheels.glob("goldenpath-*.whl")
    venv.create(where / "venv", with_pip=True)
    python = where / "venv" / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", str(wheel)], check=True)
    return python


def _installed(python: Path) -> set[str]:
    listed = subprocess.run([str(python), "-m", "pip", "list", "--format", "json"],
                            check=True, capture_output=True, text=True).stdout
    return {p["name"].lower().replace("_", "-") for p in json.loads(listed)}


def test_the_client_install_has_none_of_the_server_stack(client_venv: Path) -> None:
    installed = _installed(client_venv)
    assert "goldenpath" in installed and "bentoml" in installed
    assert not installed & set(SERVER_ONLY), installed & set(SERVER_ONLY)
    # the CLI is there, over the same SDK
    cli = client_venv.parent / "goldenpath"
    assert subprocess.run([str(cli), "--help"], capture_output=True).returncode == 0


def test_the_client_install_deploys_through_a_running_server(
        client_venv: Path, server: ServerProcess, tmp_path: Path) -> None:
    script = tmp_path / "deploy.py"
    script.write_text(DEPLOY)
    env = {**os.environ, "BENTOML_HOME": str(tmp_path / "bentoml"),
           "GOLDENPATH_HOME": str(tmp_path / "home")}
    done = subprocess.run([str(client_venv), str(script), server.url], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["answer"] == [[6.0, 8.0]]
    assert answer["url"].startswith("http://")


def test_without_a_server_the_client_install_says_what_to_install(
        client_venv: Path, tmp_path: Path) -> None:
    nobody = f"http://127.0.0.1:{free_port()}"
    env = {**os.environ, "GOLDENPATH_SERVER": nobody, "GOLDENPATH_AUTOSTART": "1",
           "GOLDENPATH_HOME": str(tmp_path / "home"), "BENTOML_HOME": str(tmp_path / "b")}
    done = subprocess.run(
        [str(client_venv), "-c", "import numpy as np, goldenpath as gp\n"
         "class M:\n    def predict(self, X): return X\n"
         "gp.deploy(M(), name='nobody', sample=np.array([[1.0]]))"],
        env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert "ServerUnreachable" in done.stderr
    assert "pip install 'goldenpath[server]'" in done.stderr
    assert not (tmp_path / "home" / "server.log").exists()  # nothing was started
