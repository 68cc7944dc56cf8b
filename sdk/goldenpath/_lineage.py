"""Evidence gathered where the model was trained: lineage, data fingerprints, a card draft.

Lineage comes from what is already there: the active (or last) MLflow run when mlflow is
imported, the git commit and dirty state of the working directory, the notebook's path and
content hash. Nothing here imports mlflow itself (1.5 s): a user who logs to MLflow has.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any


def collect_lineage(notebook: str | Path | None = None, data: dict[str, Any] | None = None
                    ) -> dict[str, Any]:
    """Lineage of the model being deployed from this process."""
    lineage: dict[str, Any] = {**_mlflow_run(), **_git(Path.cwd())}
    source = Path(notebook) if notebook else _notebook_path()
    if source is None and sys.argv and sys.argv[0].endswith(".py"):
        source = Path(sys.argv[0])
    if source is not None and source.is_file():
        lineage["notebook_path"] = str(source)
        lineage["notebook_sha256"] = hashlib.sha256(source.read_bytes()).hexdigest()
    lineage["data"] = [fingerprint(name, value) for name, value in (data or {}).items()]
    return lineage


def lineage_labels(lineage: dict[str, Any]) -> dict[str, str]:
    """The lineage that travels inside the bundle (bento labels), covered by its digest."""
    keys = ("mlflow_run_id", "git_commit", "notebook_path", "notebook_sha256")
    labels = {f"goldenpath.{k}": str(lineage[k]) for k in keys if lineage.get(k)}
    if lineage.get("data"):
        labels["goldenpath.data_sha256"] = ",".join(d["sha256"] for d in lineage["data"])
    return labels


def fingerprint(name: str, value: Any) -> dict[str, Any]:
    """A content hash of a training/evaluation data set (DataFrame, array, file path)."""
    digest = hashlib.sha256()
    rows: int | None = None
    if isinstance(value, str | Path) and Path(value).is_file():
        with open(value, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    elif hasattr(value, "columns") and hasattr(value, "to_numpy"):
        import pandas as pd

        digest.update(",".join(map(str, value.columns)).encode())
        digest.update(pd.util.hash_pandas_object(value, index=True).to_numpy().tobytes())
        rows = len(value)
    else:
        import numpy as np

        array = np.ascontiguousarray(np.asarray(value))
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(array.tobytes())
        rows = int(array.shape[0]) if array.ndim else 1
    return {"name": name, "sha256": digest.hexdigest(), "rows": rows}


def draft_card(name: str, kind: str, lineage: dict[str, Any], metrics: dict[str, float],
               requirements: list[str]) -> str:
    """A model card to edit: what is known filled in, the rest left as placeholders."""
    data = "\n".join(f"- `{d['name']}`: {d.get('rows') or '?'} rows, sha256 "
                     f"`{d['sha256'][:16]}…`" for d in lineage.get("data") or [])
    shown = "\n".join(f"| {k} | {v:.4g} |" for k, v in sorted(metrics.items()))
    source = []
    if lineage.get("mlflow_run_id"):
        source.append(f"- MLflow run `{lineage['mlflow_run_id']}`")
    if lineage.get("git_commit"):
        dirty = " (uncommitted changes)" if lineage.get("git_dirty") else ""
        source.append(f"- git commit `{lineage['git_commit'][:12]}`{dirty}")
    if lineage.get("notebook_path"):
        source.append(f"- `{lineage['notebook_path']}` (sha256 "
                      f"`{lineage['notebook_sha256'][:16]}…`)")
    libraries = ", ".join(r for r in requirements if not r.startswith(("bentoml", "cloudpickle")))
    return "\n".join([
        f"# Model card: {name}", "",
        "## Intended use", "_Who uses this model, for what decision, and what it must not be "
        "used for._", "",
        "## Model", f"- kind: {kind}", f"- libraries: {libraries or '-'}", *source, "",
        "## Training data", data or "_Which data, from when, how it was sampled._", "",
        "## Metrics", ("| metric | value |\n|---|---|\n" + shown) if shown
        else "_Pass metrics={...} to gp.deploy, measured on held-out data._", "",
        "## Limitations", "_Known failure modes, populations it was not evaluated on._", "",
        "## Ethical considerations", "_Fairness checks done, risks, mitigations._", ""])


def _mlflow_run() -> dict[str, Any]:
    mlflow = sys.modules.get("mlflow")
    if mlflow is None:
        return {}
    try:
        run = mlflow.active_run() or mlflow.last_active_run()
        if run is None:
            return {}
        run = mlflow.get_run(run.info.run_id)  # fresh: params/metrics logged since
        return {"mlflow_run_id": run.info.run_id,
                "mlflow_experiment_id": run.info.experiment_id,
                "mlflow_tracking_uri": mlflow.get_tracking_uri(),
                "mlflow_params": dict(run.data.params),
                "mlflow_metrics": {k: float(v) for k, v in run.data.metrics.items()}}
    except Exception:  # lineage is best effort: never fail a deploy over it
        return {}


def _git(cwd: Path) -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
        remote = ""
        try:
            remote = git("config", "--get", "remote.origin.url")
        except subprocess.CalledProcessError:
            pass
    except (OSError, subprocess.SubprocessError):
        return {}
    return {"git_commit": commit, "git_dirty": dirty, "git_remote": remote}


def _notebook_path() -> Path | None:
    """The notebook this kernel runs, where Jupyter tells us (JPY_SESSION_NAME, __session__)."""
    for candidate in (os.environ.get("JPY_SESSION_NAME"), _ipython_session()):
        if candidate and candidate.endswith(".ipynb") and Path(candidate).is_file():
            return Path(candidate)
    return None


def _ipython_session() -> str | None:
    shell = sys.modules.get("IPython")
    ip = shell.get_ipython() if shell is not None else None  # type: ignore[attr-defined]
    return ip.user_ns.get("__session__") if ip is not None else None
