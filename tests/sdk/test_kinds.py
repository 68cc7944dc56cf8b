"""Model kinds and sample checks happen before anything is built."""

import numpy as np
import pytest

from goldenpath import errors
from goldenpath._kinds import detect_kind, predict_sample


class HasPredict:
    def predict(self, X: object) -> object:
        return np.asarray(X).sum(axis=1)


def test_kinds_of_supported_models(iris: tuple) -> None:
    import lightgbm
    import xgboost
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    assert detect_kind(LogisticRegression()) == "sklearn"
    assert detect_kind(make_pipeline(StandardScaler(), LogisticRegression())) == "sklearn"
    assert detect_kind(xgboost.XGBClassifier()) == "xgboost"
    assert detect_kind(lightgbm.LGBMClassifier()) == "lightgbm"
    assert detect_kind(HasPredict()) == "python"
    import catboost
    import torch

    assert detect_kind(catboost.CatBoostClassifier()) == "catboost"
    assert detect_kind(torch.nn.Linear(2, 1)) == "pytorch"


def test_outputs_are_checked_against_the_model(iris: tuple) -> None:
    import torch
    from sklearn.linear_model import LinearRegression, LogisticRegression

    from goldenpath._kinds import choose_outputs

    X, y = iris
    classifier = LogisticRegression(max_iter=300).fit(X, y)
    assert choose_outputs(classifier, "sklearn", None) == ("predict",)
    assert choose_outputs(classifier, "sklearn", "predict_proba") == ("predict_proba",)
    assert choose_outputs(classifier, "sklearn", ["predict", "predict_proba"]) == (
        "predict", "predict_proba")
    with pytest.raises(errors.InvalidInput, match="has no predict_proba"):
        choose_outputs(LinearRegression().fit(X, y), "sklearn", ["predict", "predict_proba"])
    with pytest.raises(errors.InvalidInput, match="not a choice of model methods"):
        choose_outputs(classifier, "sklearn", ["predict", "predict"])
    with pytest.raises(errors.InvalidInput, match="answers with its own output only"):
        choose_outputs(torch.nn.Linear(2, 1), "pytorch", "predict_proba")


def test_a_module_gets_tensors_of_its_own_dtype_in_eval_mode() -> None:
    import torch

    class Probe(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = torch.nn.Linear(2, 1)
            self.seen: list[tuple[object, bool, bool]] = []

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.seen.append((x.dtype, self.training, torch.is_grad_enabled()))
            return self.linear(x)

    probe = Probe()
    answer = predict_sample(probe, "pytorch", np.ones((3, 2)))  # float64 from NumPy
    assert probe.seen == [(torch.float32, False, False)]
    assert probe.training  # the notebook's module is left as it was
    assert tuple(answer["predictions"].shape) == (3, 1)


def test_unsupported_model_names_the_supported_kinds() -> None:
    with pytest.raises(errors.UnsupportedModel) as err:
        detect_kind({"not": "a model"})
    assert "builtins.dict" in err.value.message
    assert "scikit-learn" in err.value.hint and "predict(X)" in err.value.hint
    assert err.value.status == 400


def test_sample_with_wrong_column_count_says_what_the_model_expects(iris: tuple) -> None:
    from sklearn.linear_model import LogisticRegression

    X, y = iris
    model = LogisticRegression(max_iter=300).fit(X, y)
    with pytest.raises(errors.SampleMismatch, match="sample has 3 columns, model expects 4"):
        predict_sample(model, "sklearn", X.iloc[:5, :3].to_numpy())
    renamed = X[:5].rename(columns={X.columns[0]: "other"})
    with pytest.raises(errors.SampleMismatch, match="differ from the training columns"):
        predict_sample(model, "sklearn", renamed)


def test_missing_sample_asks_for_one() -> None:
    with pytest.raises(errors.SampleMismatch) as err:
        predict_sample(HasPredict(), "python", None)
    assert "sample=X_test[:5]" in err.value.hint


def test_predict_failure_becomes_sample_mismatch() -> None:
    with pytest.raises(errors.SampleMismatch, match="cannot predict the sample"):
        predict_sample(HasPredict(), "python", [["a", "b"]])
