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

from goldenpath_serving._frameworks import DEFAULT_OUTPUTS, answer_json, call
from goldenpath_serving._parity import ParityMismatch, answer_differences, load_case, save_case
from goldenpath_serving._schema import Schema

MODEL_FILE = "model.pkl"
META_FILE = "goldenpath.json"


def save_model(model: Any, directory: Path, *, kind: str, schema: Schema,
               outputs: tuple[str, ...] = DEFAULT_OUTPUTS, classes: list[Any] | None = None,
               output_schema: dict[str, Any] | None = None,
               parity: tuple[list[Any], dict[str, list[Any]]] | None = None) -> dict[str, Any]:
    """Write `model` and its metadata into `directory`; returns the metadata written.

    `parity` is (sample inputs, the notebook's answer: every output) as JSON values: the
    serving runtime replays them at load (see _parity.py)."""
    directory.mkdir(parents=True, exist_ok=True)
    if parity is not None:
        save_case(directory, *parity)
    with open(directory / MODEL_FILE, "wb") as fh:
        cloudpickle.dump(model, fh)
    meta = {"format": "cloudpickle", "kind": kind, "schema": schema.to_dict(),
            "outputs": list(outputs), "classes": classes,
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
    outputs: tuple[str, ...] = DEFAULT_OUTPUTS
    classes: list[Any] | None = None

    def check_parity(self) -> int:
        """Replay the notebook's sample; ParityMismatch when an answer differs (any output).
        The number of rows checked (0 for a bundle without a sample)."""
        if not self.parity_case:
            return 0
        diffs = answer_differences(self.parity_case,
                                   self.predict_json(self.parity_case["inputs"]))
        rows = len(self.parity_case["inputs"])
        if diffs:
            raise ParityMismatch(diffs, rows)
        return rows

    def predict(self, features: Any) -> dict[str, Any]:
        """Every output of the model on parsed `features`, as the framework returns them."""
        return call(self.model, self.kind, features, self.outputs)

    def answer(self, raw: dict[str, Any]) -> dict[str, Any]:
        return answer_json(raw, self.classes)

    def predict_json(self, inputs: Any) -> dict[str, Any]:
        """Validate `inputs` against the schema (SchemaError if they do not fit), answer."""
        return self.answer(self.predict(self.schema.parse(inputs)))


def load_model(directory: str | Path) -> LoadedModel:
    """Load a model directory written by save_model (in the serving process, never the server)."""
    directory = Path(directory)
    meta = json.loads((directory / META_FILE).read_text())
    with open(directory / MODEL_FILE, "rb") as fh:
        model = cloudpickle.load(fh)
    if meta["kind"] == "pytorch":
        model.eval()
    return LoadedModel(model=model, kind=meta["kind"], schema=Schema.from_dict(meta["schema"]),
                       parity_case=load_case(directory),
                       outputs=tuple(meta.get("outputs") or DEFAULT_OUTPUTS),
                       classes=meta.get("classes"))
