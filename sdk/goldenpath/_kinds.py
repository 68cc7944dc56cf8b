"""Which model objects goldenpath can package, and how to check a sample against them."""

from __future__ import annotations

import sys
from typing import Any

from goldenpath.errors import InvalidInput, SampleMismatch, UnsupportedModel
from goldenpath_serving._frameworks import ANSWER_OF, DEFAULT_OUTPUTS, call

SUPPORTED = ("scikit-learn estimators and Pipelines, XGBoost, LightGBM, CatBoost, PyTorch "
             "nn.Module (CPU), Hugging Face transformers pipelines, or any object with a "
             "predict(X) method")


def detect_kind(model: Any) -> str:
    """Name the model's kind: sklearn, xgboost, lightgbm, catboost, pytorch, transformers or
    python (anything with predict)."""
    root = type(model).__module__.split(".")[0]
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(model, torch.nn.Module):
        return "pytorch"
    transformers = sys.modules.get("transformers")
    if transformers is not None and isinstance(model, transformers.Pipeline):
        return "transformers"
    if root in ("xgboost", "lightgbm", "catboost"):
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


def choose_outputs(model: Any, kind: str, outputs: Any) -> tuple[str, ...]:
    """The model methods /predict answers with: `outputs=` checked against the model, or
    predict alone by default."""
    if outputs is None:
        return DEFAULT_OUTPUTS
    chosen = (outputs,) if isinstance(outputs, str) else tuple(outputs)
    unknown = [o for o in chosen if o not in ANSWER_OF]
    if unknown or not chosen or len(set(chosen)) != len(chosen):
        raise InvalidInput(f"outputs={outputs!r} is not a choice of model methods",
                           f"pass one or more of {', '.join(ANSWER_OF)}, e.g. "
                           "outputs=['predict', 'predict_proba']")
    if kind in ("pytorch", "transformers") and chosen != DEFAULT_OUTPUTS:
        raise InvalidInput(f"a {kind} model answers with its own output only",
                           "leave outputs= out for it (its forward pass or pipeline output "
                           "is what /predict returns)")
    missing = [o for o in chosen if not callable(getattr(model, o, None))]
    if missing:
        raise InvalidInput(f"the model has no {missing[0]}() method",
                           f"leave {missing[0]!r} out of outputs= (a regressor has no "
                           "probabilities), or deploy a model that has it")
    return chosen


def predict_sample(model: Any, kind: str, sample: Any,
                   outputs: tuple[str, ...] = DEFAULT_OUTPUTS) -> dict[str, Any]:
    """Every output of the model on `sample`, in this process and exactly as the serving
    runtime will call it; SampleMismatch says how the sample does not fit."""
    if sample is None:
        raise SampleMismatch("deploy needs a sample of the model's input to infer its schema",
                             "pass sample=X_test[:5] (a few rows of what predict() takes)")
    _check_feature_count(model, sample)
    try:
        return call(model, kind, sample, outputs)
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
