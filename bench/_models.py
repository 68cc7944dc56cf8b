"""The one data set and the models every contender trains (same seed, same bytes).

Trained in each contender's own process, so timings start with a model in memory, as in a
notebook. `variant=1` is the "changed model" for redeploys: trained on flipped labels, so
every prediction differs and a stale endpoint cannot pass for a fresh one.
"""

from __future__ import annotations

from typing import Any

N_FEATURES = 20


def dataset() -> tuple[Any, Any]:
    from sklearn.datasets import make_classification

    return make_classification(
        n_samples=4000, n_features=N_FEATURES, n_informative=10, random_state=7
    )


def train(kind: str, variant: int = 0) -> tuple[Any, Any]:
    """Return (model, X). kind: 'lr' (LogisticRegression), 'rf' (RandomForest, 100 trees,
    depth 12) or 'rf-big' (300 fully grown trees, for bundle sizes)."""
    X, y = dataset()
    if variant:
        y = 1 - y
    if kind == "lr":
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(max_iter=1000).fit(X, y)
    elif kind in ("rf", "rf-big"):
        from sklearn.ensemble import RandomForestClassifier

        trees, depth = (100, 12) if kind == "rf" else (300, None)
        model = RandomForestClassifier(
            n_estimators=trees, max_depth=depth, random_state=0, n_jobs=1
        ).fit(X, y)
    else:
        raise ValueError(kind)
    return model, X


def one_row(X: Any) -> list[list[float]]:
    return [[round(float(v), 6) for v in X[0]]]
