"""Which model objects goldenpath can package, and how to check a sample against them."""

from __future__ import annotations

import sys
from typing import Any

from goldenpath.errors import SampleMismatch, UnsupportedModel

SUPPORTED = ("scikit-learn estimators and Pipelines, XGBoost, LightGBM, PyTorch nn.Module "
             "(CPU), or any object with a predict(X) method")


def detect_kind(model: Any) -> str:
    """Name the model's kind: sklearn, xgboost, lightgbm, pytorch or python (has predict)."""
    root = type(model).__module__.split(".")[0]
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(model, torch.nn.Module):
        return "pytorch"
    if root in ("xgboost", "lightgbm"):
        return root
    sklearn_base = sys.modules.get("sklearn.base")
    if root == "sklearn" or (sklearn_base and isinstance(model, sklearn_base.BaseEstimator)):
        if callable(getattr(model, "predict", None)):
            return "sklearn"
    if callable(getattr(model, "predict", None)):
        return "python"
    raise UnsupportedModel(
        f"cannot deploy a {type(model).__module__}.{type(model).__qualname__}: it is not a "
        "model goldenpath knows and has no predict() method",
        f"pass one of: {SUPPORTED}; or wrap yours in a class with predict(X)")


def predict_sample(model: Any, kind: str, sample: Any) -> Any:
    """Predict `sample` in this process; SampleMismatch says how the sample does not fit."""
    if sample is None:
        raise SampleMismatch("deploy needs a sample of the model's input to infer its schema",
                             "pass sample=X_test[:5] (a few rows of what predict() takes)")
    _check_feature_count(model, sample)
    try:
        if kind == "pytorch":
            import torch

            tensor = sample if isinstance(sample, torch.Tensor) else torch.as_tensor(sample)
            model.eval()
            with torch.no_grad():
                return model(tensor)
        return model.predict(sample)
    except Exception as exc:  # the user's model decides what a bad sample raises
        raise SampleMismatch(
            f"the model cannot predict the sample: {type(exc).__name__}: {exc}",
            "pass sample= with the same columns and types you trained on, e.g. X_test[:5]",
        ) from exc


def _check_feature_count(model: Any, sample: Any) -> None:
    expected = getattr(model, "n_features_in_", None)
    shape = getattr(sample, "shape", None)
    if expected is None or not shape or len(shape) < 2:
        return
    if shape[1] != expected:
        raise SampleMismatch(
            f"sample has {shape[1]} columns, model expects {expected}",
            "pass sample=X_test[:5] with the same columns the model was trained on")
    names = getattr(model, "feature_names_in_", None)
    columns = getattr(sample, "columns", None)
    if names is not None and columns is not None and list(names) != [str(c) for c in columns]:
        raise SampleMismatch(
            f"sample columns {list(columns)} differ from the training columns {list(names)}",
            "pass sample= as a DataFrame with the training columns, in the training order")
