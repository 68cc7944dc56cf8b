"""The promotion server process on a real PostgreSQL database, end to end through the SDK."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path
from typing import Any

import goldenpath
from goldenpath import _config
from tests._servers import start_server, stop_model_processes

REPO = Path(__file__).resolve().parents[2]


def test_server_on_postgresql_deploys_and_survives_restart(tmp_path: Path, iris: tuple) -> None:
    from sklearn.linear_model import LogisticRegression

    subprocess.run(["bash", str(REPO / "scripts" / "ensure-postgres.sh")], check=True)
    database = f"gp_server_{uuid.uuid4().hex[:8]}"
    subprocess.run(["su", "postgres", "-c", f"psql -qc 'create database {database} owner "
                    "goldenpath'"], check=True)
    url = f"postgresql+psycopg://goldenpath:goldenpath@127.0.0.1:5432/{database}"
    server = start_server(tmp_path, {"GOLDENPATH_DATABASE_URL": url})
    previous = _config._current
    try:
        goldenpath.configure(server=server.url)
        X, y = iris
        model = LogisticRegression(max_iter=300).fit(X, y)
        d = goldenpath.deploy(model, name="pg-model", sample=X[:5], quiet=True)
        assert d.predict(X[:2]) == model.predict(X[:2]).tolist()
        assert not (server.home / "goldenpath.db").exists()  # nothing went to SQLite
        server.kill()
        server.start()
        again: Any = goldenpath.get("pg-model")
        assert again.status()["status"] == "live" and again.url == d.url
    finally:
        _config._current = previous
        server.stop()
        stop_model_processes(server.home)
