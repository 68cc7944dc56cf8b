"""Scoring outcomes per variant (server/goldenpath_server/_outcomes.py): the metrics against
scikit-learn's, and how an experiment ends on them."""

from __future__ import annotations

import random

import pytest
from sklearn.metrics import accuracy_score, mean_squared_error, roc_auc_score

from goldenpath_server._outcomes import add, decide, empty, metrics
from goldenpath_server._strategies import ChallengerConfig


def test_metrics_match_scikit_learn() -> None:
    rng = random.Random(7)
    truths = [rng.randint(0, 1) for _ in range(2000)]
    scores = [min(0.999, max(0.0, t * 0.3 + rng.random() * 0.7)) for t in truths]
    labels = [int(s > 0.5) for s in scores]
    scored, labelled = empty(), empty()
    for s, label, t in zip(scores, labels, truths, strict=True):
        add(scored, s, t)
        add(labelled, label, bool(t))  # a True outcome counts as 1
    m = metrics(scored)
    assert m["outcomes"] == 2000 and m["accuracy"] is None
    assert m["auc"] == pytest.approx(roc_auc_score(truths, scores), abs=0.01)
    assert m["rmse"] == pytest.approx(mean_squared_error(truths, scores) ** 0.5)
    assert metrics(labelled)["accuracy"] == pytest.approx(accuracy_score(truths, labels))
    assert metrics(None) == {"outcomes": 0, "accuracy": None, "rmse": None, "mae": None,
                             "auc": None}


def _scored(correct: int, wrong: int) -> dict[str, object]:
    acc = empty()
    for n in range(correct + wrong):
        add(acc, "yes" if n < correct else "no", "yes")
    return acc


def test_an_experiment_ends_on_its_metric_or_asks_a_person() -> None:
    on_accuracy = ChallengerConfig(decide_on="accuracy", min_outcomes=50, min_improvement=0.02)
    better = {"stable": _scored(80, 20), "candidate": _scored(90, 10)}
    assert decide(better, on_accuracy)[0] == "switch"
    close = {"stable": _scored(80, 20), "candidate": _scored(81, 19)}
    decision, why = decide(close, on_accuracy)
    assert decision == "abort" and "did not beat the champion by 0.02" in why
    few = {"stable": _scored(80, 20), "candidate": _scored(9, 1)}
    decision, why = decide(few, on_accuracy)
    assert decision == "ask" and "the challenger has 10" in why and "50 needed" in why
    assert decide(better, ChallengerConfig())[0] == "ask"  # decide_on: person
    on_rmse = ChallengerConfig(decide_on="rmse", min_outcomes=1)
    lower, higher = empty(), empty()
    add(lower, 0.9, 1.0)
    add(higher, 0.5, 1.0)
    assert decide({"stable": higher, "candidate": lower}, on_rmse)[0] == "switch"
    assert decide({"stable": lower, "candidate": higher}, on_rmse)[0] == "abort"
