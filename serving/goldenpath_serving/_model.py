"""Saving and loading the model inside a bundle, and predicting with JSON in and out.

Every model kind is stored the same way: the exact Python object, serialized with
cloudpickle (classes defined in a notebook travel by value), next to `goldenpath.json`
that names the kind, the call to make and the request schema. One format means one
loader, and the prediction in the server equals the prediction in the notebook.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cloudpickle

from goldenpath_serving._parity import ParityMismatch, differences, load_case, save_case
from goldenpath_serving._schema import Schema, to_jsonable

MODEL_FILE = "model.pkl"
META_FILE = "goldenpath.json"


def save_model(model: Any, directory: Path, *, kind: str, schema: Schema,
               output_schema: dict[str, Any] | None = None,
               parity: tuple[list[Any], list[Any]] | None = None) -> dict[str, Any]:
    """Write `model` and its metadata into `directory`; returns the metadata written.

    `parity` is (sample inputs, the notebook's predictions) as JSON values: the serving
    runtime replays them at load (see _parity.py)."""
    directory.mkdir(parents=True, exist_ok=True)
    if parity is not None:
        save_case(directory, *parity)
    with open(directory / MODEL_FILE, "wb") as fh:
        cloudpickle.dump(model, fh)
    meta = {"format": "cloudpickle", "kind": kind, "schema": schema.to_dict(),
            "output_schema": output_schema or {}}
    (directory / META_FILE).write_text(json.dumps(meta, indent=2))
    return meta


@dataclass
class LoadedModel:
    """A model loaded from a bundle directory, ready to answer JSON requests."""

    model: Any
    kind: str
    schema: Schema
    parity_case: dict[str, Any] | None = None

    def check_parity(self) -> int:
        """Replay the notebook's sample; ParityMismatch when an answer differs. The number
        of rows checked (0 for a bundle without a sample)."""
        if not self.parity_case:
            return 0
        expected = self.parity_case["outputs"]
        diffs = differences(expected, self.predict_json(self.parity_case["inputs"]))
        if diffs:
            raise ParityMismatch(diffs, len(expected))
        return len(expected)

    def predict(self, features: Any) -> Any:
        if self.kind == "pytorch":
            import torch

            with torch.no_grad():
                return self.model(features)
        return self.model.predict(features)

    def predict_json(self, inputs: Any) -> list[Any]:
        """Validate `inputs` against the schema (SchemaError if they do not fit), predict."""
        return to_jsonable(self.predict(self.schema.parse(inputs)))


def load_model(directory: str | Path) -> LoadedModel:
    """Load a model directory written by save_model (in the serving process, never the server)."""
    directory = Path(directory)
    meta = json.loads((directory / META_FILE).read_text())
    with open(directory / MODEL_FILE, "rb") as fh:
        model = cloudpickle.load(fh)
    if meta["kind"] == "pytorch":
        model.eval()
    return LoadedModel(model=model, kind=meta["kind"], schema=Schema.from_dict(meta["schema"]),
                       parity_case=load_case(directory))
