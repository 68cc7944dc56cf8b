"""Turning CLI file arguments into what the SDK takes."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from goldenpath.errors import InvalidInput


def export_bento_dir(path: Path) -> tuple[Path, str]:
    """Export a built bento folder (with bento.yaml) to an archive; returns it and its name."""
    import bentoml
    import yaml

    meta = path / "bento.yaml"
    if not meta.exists():
        raise InvalidInput(f"{path} has no bento.yaml", "pass a bento folder or .bento archive")
    info = yaml.safe_load(meta.read_text())
    bento = bentoml.Bento.from_path(str(path))
    out = Path(tempfile.mkdtemp(prefix="goldenpath-")) / f"{info['name']}.bento"
    bento.export(str(out))
    return out, str(info["name"])


def load_model_file(path: Path) -> Any:
    """Load the user's own pickled model (their file, on their machine, in the CLI process)."""
    if path.suffix in (".joblib",):
        import joblib

        return joblib.load(path)
    if path.suffix in (".pkl", ".pickle", ".cloudpickle"):
        import cloudpickle

        with open(path, "rb") as fh:
            return cloudpickle.load(fh)
    raise InvalidInput(f"cannot read a model from {path.name}",
                       "pass a .bento archive, a bento folder, or a .pkl/.joblib model file")


def load_sample(path: Path) -> Any:
    if path.suffix == ".csv":
        import pandas as pd

        return pd.read_csv(path)
    if path.suffix == ".npy":
        import numpy as np

        return np.load(path, allow_pickle=False)
    if path.suffix == ".json":
        return json.loads(path.read_text())
    raise InvalidInput(f"cannot read sample rows from {path.name}", "use .csv, .npy or .json")
