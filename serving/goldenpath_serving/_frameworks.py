"""Calling a model of any kind, the same way in the notebook and wherever it serves.

The SDK calls `call` on the sample before it packages the model, and the serving runtime
calls it on every request, so what the notebook saw is what /predict answers. A model's
answer has one entry per output the deployment chose:
    predictions     predict(X): labels, values, or a module's/pipeline's output
    probabilities   predict_proba(X), one {class name: probability} object per row
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from goldenpath_serving._schema import to_jsonable

ANSWER_OF = {"predict": "predictions", "predict_proba": "probabilities"}
DEFAULT_OUTPUTS = ("predict",)


def call(model: Any, kind: str, features: Any,
         outputs: Sequence[str] = DEFAULT_OUTPUTS) -> dict[str, Any]:
    """Each of `outputs` of `model` on parsed `features`, as the framework returns them."""
    if kind == "pytorch":
        return {"predictions": _torch(model, features)}
    if kind == "transformers":  # a Hugging Face pipeline: texts in, labels and scores out
        return {"predictions": model(list(features))}
    return {ANSWER_OF[method]: getattr(model, method)(features) for method in outputs}


def answer_json(raw: dict[str, Any], classes: list[Any] | None) -> dict[str, Any]:
    """`call`'s answer as JSON values; probabilities keyed by class name when known."""
    answer = {}
    for key, value in raw.items():
        if key == "probabilities" and classes is not None:
            rows = np.asarray(value).tolist()
            names = [str(c) for c in classes]
            answer[key] = [dict(zip(names, row, strict=True)) for row in rows]
        else:
            answer[key] = to_jsonable(value)
    return answer


def classes_of(model: Any) -> list[Any] | None:
    """A classifier's class labels as JSON values (one list: single-output only), or None."""
    classes = getattr(model, "classes_", None)
    if classes is None:
        return None
    values = to_jsonable(classes)
    if not isinstance(values, list) or any(isinstance(v, list) for v in values):
        return None
    return values


def answer_schema(example: dict[str, Any], classes: list[Any] | None) -> dict[str, Any]:
    """The JSON Schema of /predict's answer, from an example answer (the sample's)."""
    properties: dict[str, Any] = {}
    for key, rows in example.items():
        if key == "probabilities" and classes is not None:
            names = [str(c) for c in classes]
            item: dict[str, Any] = {
                "type": "object", "required": names,
                "properties": {n: {"type": "number", "minimum": 0, "maximum": 1}
                               for n in names}}
            properties[key] = {"type": "array", "items": item,
                               "description": "per row, the probability of each class"}
        else:
            first = rows[0] if isinstance(rows, list) and rows else None
            properties[key] = {"type": "array", "items": value_schema(first)}
    return {"type": "object", "required": list(example), "properties": properties}


def value_schema(value: Any) -> dict[str, Any]:
    """A JSON Schema that `value` (a JSON value) and values shaped like it fit."""
    if isinstance(value, bool):
        return {"type": "boolean"}
    if isinstance(value, int):
        return {"type": "integer"}
    if isinstance(value, float):
        return {"type": "number"}
    if isinstance(value, str):
        return {"type": "string"}
    if isinstance(value, list):
        return {"type": "array", "items": value_schema(value[0]) if value else {}}
    if isinstance(value, dict):
        return {"type": "object", "properties": {k: value_schema(v) for k, v in value.items()}}
    return {}


def _torch(module: Any, features: Any) -> Any:
    """The module on `features` as a tensor (of its parameters' float dtype), in eval mode
    and without autograd, as one serves a module."""
    import torch

    if isinstance(features, torch.Tensor):
        tensor = features
    else:
        tensor = torch.as_tensor(np.asarray(getattr(features, "to_numpy", lambda: features)()))
    weights = next(iter(module.parameters()), None) if hasattr(module, "parameters") else None
    if weights is not None and tensor.is_floating_point() and weights.is_floating_point():
        tensor = tensor.to(weights.dtype)
    training = getattr(module, "training", False)
    module.eval()
    try:
        with torch.no_grad():
            return module(tensor)
    finally:
        if training:
            module.train()
