"""One window of live inputs and predictions against a stored reference profile.

The reference keeps statistics only (goldenpath_serving._profile): 101 quantiles, a 30-bin
histogram and frequencies. The window is small, so its raw values are used. Per column, the
test Evidently would choose, computed on the reference's statistics:

    reference rows  numeric, > 5 values          categorical, or <= 5 values
    <= 1,000        KS, on the quantile function  chi-squared goodness of fit
    >  1,000        Wasserstein / reference std   Jensen-Shannon distance (base 2)

p-value tests drift when p < 0.05, distances when >= 0.1; `psi` (on the reference's histogram
bins or categories) is there for a column that asks for it. Values the reference never saw are
one extra category ("__other__" when the reference already pooled its rare values).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
from scipy import stats as scipy_stats
from scipy.spatial.distance import jensenshannon

from goldenpath_serving._profile import (
    FEW_UNIQUE,
    OTHER,
    labels,
    numbers,
    quantile_function,
    value_key,
)

SMALL_REFERENCE = 1000  # reference rows up to which the p-value tests are used
P_VALUE_METHODS = ("ks", "chisquare")
DISTANCE_METHODS = ("wasserstein", "jensenshannon", "psi")
NUMERIC_METHODS = ("ks", "wasserstein")
UNSEEN = "__unseen__"  # the window's values the reference never saw
UNSEEN_WEIGHT = 0.5  # ... expected as if the reference had held half a row of them
SHOWN_VALUES = 20  # categories drawn in a report, the rest summed into OTHER
# the levels the Wasserstein distance integrates over, finer in the tails
_GRID = np.unique(np.concatenate([np.linspace(0.0, 1.0, 2001), np.linspace(0.0, 0.01, 401),
                                  np.linspace(0.99, 1.0, 401)]))
_PSI_FLOOR = 1e-4  # an empty bin's share in PSI (Evidently's)


@dataclass(frozen=True)
class DriftThresholds:
    """When a column and a window count as drifted; overrides by column name."""

    p_value: float = 0.05
    distance: float = 0.1
    drift_share: float = 0.5
    min_rows: int = 100
    per_column_method: dict[str, str] = field(default_factory=dict)
    per_column_threshold: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        known = P_VALUE_METHODS + DISTANCE_METHODS
        for column, method in self.per_column_method.items():
            if method not in known:
                raise ValueError(f"column {column!r}: unknown drift method {method!r}; use "
                                 f"one of {', '.join(known)}")

    def threshold(self, column: str, method: str, tests: int = 1) -> float:
        """A p-value test's level is shared by the `tests` columns of a window (Bonferroni,
        Alibi Detect's default): else each column's 5% adds up to a false alarm in most
        windows of a wide table."""
        if column in self.per_column_threshold:
            return float(self.per_column_threshold[column])
        if method in P_VALUE_METHODS:
            return self.p_value / max(1, tests)
        return self.distance


@dataclass
class ColumnDrift:
    """One column's verdict: the score is the test's statistic or the distance."""

    name: str
    kind: str  # "numeric" | "categorical", the reference's
    method: str
    score: float | None
    p_value: float | None
    threshold: float
    drifted: bool
    reference: dict[str, Any]  # what to plot: histogram counts on the reference's edges,
    window: dict[str, Any]  # or the top frequencies, for the reference and the window
    note: str | None = None  # why a column was not judged

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DriftReport:
    """A window's verdict. `status` is "drift" when the share of drifted features reaches
    drift_share (dataset drift) or the prediction drifted, "insufficient" for a window under
    min_rows (not judged), else "ok"; `drifted_columns` names every drifted feature."""

    status: str
    rows: int
    reference_rows: int
    dataset_drift: bool
    drift_share: float
    share_drifted: float
    drifted_columns: list[str]
    columns: list[ColumnDrift]
    prediction: ColumnDrift | None
    not_compared: list[str]  # reference features the window lacks

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["columns"] = [column.to_dict() for column in self.columns]
        data["prediction"] = self.prediction.to_dict() if self.prediction else None
        return data


def compare(reference: dict[str, Any], window_columns: dict[str, np.ndarray],
            window_predictions: np.ndarray | None = None,
            thresholds: DriftThresholds | None = None) -> DriftReport:
    """The window's drift against `reference` (a profile); ValueError for a method that does
    not fit a column (KS or Wasserstein on a categorical one)."""
    limits = thresholds or DriftThresholds()
    features = reference.get("features", {})
    lengths = [len(values) for values in window_columns.values()]
    if window_predictions is not None:
        lengths.append(len(window_predictions))
    rows, reference_rows = max(lengths, default=0), int(reference.get("rows", 0))
    not_compared = [name for name in features if name not in window_columns]
    if rows < limits.min_rows:
        return DriftReport("insufficient", rows, reference_rows, False, limits.drift_share, 0.0,
                           [], [], None, not_compared)
    # the smaller sample decides the test: a window of 300 rows against a reference of
    # 100,000 is a small-sample comparison, where a distance's noise alone passes 0.1
    size = min(reference_rows, rows)
    judged = [name for name in features if name in window_columns]
    with_prediction = bool(reference.get("prediction")) and window_predictions is not None
    tests = len(judged) + with_prediction  # p-values corrected for them (Bonferroni)
    columns = [_column(name, features[name], window_columns[name], size, limits, tests)
               for name in judged]
    prediction = None
    if with_prediction:
        values = np.asarray(window_predictions)
        prediction = _column("prediction", reference["prediction"],
                             values[:, 0] if values.ndim == 2 else values, size, limits, tests)
    drifted = [column.name for column in columns if column.drifted]
    share = len(drifted) / len(columns) if columns else 0.0
    dataset_drift = bool(columns) and share >= limits.drift_share
    status = "drift" if dataset_drift or (prediction and prediction.drifted) else "ok"
    return DriftReport(status, rows, reference_rows, dataset_drift, limits.drift_share, share,
                       drifted, columns, prediction, not_compared)


def choose_method(stats: dict[str, Any], reference_rows: int) -> str:
    """Evidently's default test for a column with these reference statistics, where
    `reference_rows` is the smaller of the two samples (compare() passes it so)."""
    few = stats["kind"] == "categorical" or ("frequencies" in stats
                                             and stats["unique"] <= FEW_UNIQUE)
    if reference_rows <= SMALL_REFERENCE:
        return "chisquare" if few else "ks"
    return "jensenshannon" if few else "wasserstein"


def _column(name: str, stats: dict[str, Any], values: np.ndarray, reference_rows: int,
            limits: DriftThresholds, tests: int = 1) -> ColumnDrift:
    method = limits.per_column_method.get(name) or choose_method(stats, reference_rows)
    by_values = method in ("chisquare", "jensenshannon") or (
        method == "psi" and "histogram" not in stats)
    if stats["kind"] == "categorical" and method in NUMERIC_METHODS:
        raise ValueError(f"column {name!r} is categorical and {method} needs numbers: use "
                         "chisquare, jensenshannon or psi for it")
    if by_values and "frequencies" not in stats:
        raise ValueError(f"column {name!r} has more than {FEW_UNIQUE} values and {method} "
                         "needs its frequencies: use ks, wasserstein or psi for it")
    column = ColumnDrift(name, stats["kind"], method, None, None,
                         limits.threshold(name, method, tests), False, {}, {})
    try:
        if by_values:
            _judge_values(column, stats, np.asarray(values))
        else:
            _judge_numbers(column, stats, np.asarray(values))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"column {name!r} is numeric in the reference but the window's "
                         f"values are not numbers ({exc}): profile the reference from the "
                         "same columns the window is logged from") from None
    if column.score is not None:
        column.drifted = bool(column.p_value < column.threshold if column.p_value is not None
                              else column.score >= column.threshold)
    return column


def _judge_numbers(column: ColumnDrift, stats: dict[str, Any], values: np.ndarray) -> None:
    present = np.sort(numbers(values))
    edges = np.asarray(stats["histogram"]["edges"], dtype=float)
    column.reference = {"count": stats["count"], "missing": stats["missing"],
                        "mean": stats["mean"], "std": stats["std"],
                        "edges": edges.tolist(), "counts": stats["histogram"]["counts"]}
    column.window = {"count": int(present.size), "missing": int(len(values) - present.size),
                     "mean": float(present.mean()) if present.size else None,
                     "std": float(present.std()) if present.size else None,
                     **_on_edges(present, edges)}
    if not present.size or not stats["count"]:
        column.note = "no values in the window" if stats["count"] else "no reference values"
        return
    quantiles = quantile_function(stats)
    if column.method == "ks":
        column.score, column.p_value = _ks(quantiles, int(stats["count"]), present)
    elif column.method == "wasserstein":
        spread = float(stats["std"]) or 1.0  # a constant reference: the plain distance
        column.score = _wasserstein(quantiles, present) / spread
    else:
        column.score = _psi(np.asarray(stats["histogram"]["counts"], dtype=float),
                            np.asarray(column.window["counts"], dtype=float))


def _judge_values(column: ColumnDrift, stats: dict[str, Any], values: np.ndarray) -> None:
    reference = {str(k): int(v) for k, v in stats["frequencies"].items()}
    seen = Counter(labels(values)) if stats["kind"] == "categorical" else Counter(
        value_key(v) for v in numbers(values))
    count = sum(seen.values())
    column.reference = {"count": stats["count"], "missing": stats["missing"],
                        "frequencies": _shown(reference, reference)}
    column.window = {"count": count, "missing": int(len(values) - count),
                     "frequencies": _shown(seen, reference)}
    if not count or not stats["count"]:
        column.note = "no values in the window" if stats["count"] else "no reference values"
        return
    pooled = OTHER if OTHER in reference else UNSEEN
    observed = Counter({key: n for key, n in seen.items() if key in reference})
    observed[pooled] += sum(n for key, n in seen.items() if key not in reference)
    keys = [*reference, *([UNSEEN] if observed[UNSEEN] else [])]
    expected = np.array([reference.get(key, UNSEEN_WEIGHT) for key in keys], dtype=float)
    got = np.array([observed[key] for key in keys], dtype=float)
    if column.method == "chisquare":
        column.score, column.p_value = _chisquare(got, expected)
    elif column.method == "jensenshannon":
        column.score = float(jensenshannon(expected / expected.sum(), got / got.sum(), base=2))
    else:
        column.score = _psi(expected, got)


def _ks(quantiles: tuple[np.ndarray, np.ndarray], n: int,
        window: np.ndarray) -> tuple[float, float]:
    """Two-sample KS statistic of the sorted window against the reference's CDF as given by
    its quantiles (linear between them), and its p-value (scipy's asymptotic one)."""
    m = window.size
    distinct, first = np.unique(window, return_index=True)
    after = np.searchsorted(window, distinct, side="right") / m
    before = first / m
    gap = max(float(np.max(np.abs(_cdf(quantiles, distinct, "right") - after))),
              float(np.max(np.abs(_cdf(quantiles, distinct, "left") - before))))
    effective = n * m / (n + m)
    return gap, float(scipy_stats.kstwo.sf(gap, max(1, round(effective))))


def _cdf(quantiles: tuple[np.ndarray, np.ndarray], x: np.ndarray,
         side: Literal["left", "right"]) -> np.ndarray:
    """The reference CDF at x ("right") or just below x ("left"), linear between the
    stored quantiles (levels, values)."""
    levels, values = quantiles
    above = np.searchsorted(values, x, side=side)
    low = np.clip(above - 1, 0, values.size - 1)
    high = np.clip(above, 0, values.size - 1)
    span = values[high] - values[low]
    inside = levels[low] + (levels[high] - levels[low]) * np.divide(
        x - values[low], span, out=np.zeros_like(x), where=span > 0)
    return np.where(above == 0, 0.0, np.where(above == values.size, 1.0, inside))


def _wasserstein(quantiles: tuple[np.ndarray, np.ndarray], window: np.ndarray) -> float:
    """W1 = the integral of the gap between the two quantile functions over the levels."""
    gap = np.abs(np.interp(_GRID, *quantiles)
                 - np.quantile(window, _GRID, method="inverted_cdf"))
    return float(np.sum(np.diff(_GRID) * (gap[1:] + gap[:-1]) / 2))


def _chisquare(observed: np.ndarray, expected: np.ndarray) -> tuple[float, float]:
    if observed.size < 2:
        return 0.0, 1.0  # one category: nothing can move
    result = scipy_stats.chisquare(observed, expected / expected.sum() * observed.sum())
    return float(result.statistic), float(result.pvalue)


def _psi(reference: np.ndarray, window: np.ndarray) -> float:
    ref = np.maximum(reference / reference.sum(), _PSI_FLOOR)
    win = np.maximum(window / window.sum(), _PSI_FLOOR)
    return float(np.sum((win - ref) * np.log(win / ref)))


def _on_edges(present: np.ndarray, edges: np.ndarray) -> dict[str, Any]:
    """A window's histogram on the reference's bins, values outside them in the end bins."""
    if edges.size < 2:
        return {"counts": [], "below": 0, "above": 0}
    counts, _ = np.histogram(np.clip(present, edges[0], edges[-1]), bins=edges)
    return {"counts": counts.tolist(), "below": int(np.sum(present < edges[0])),
            "above": int(np.sum(present > edges[-1]))}


def _shown(counts: dict[str, int] | Counter[str], reference: dict[str, int]) -> dict[str, int]:
    """The reference's most frequent values, then the window's new ones, at most
    SHOWN_VALUES of them; the rest summed into OTHER."""
    order = [*reference, *sorted((k for k in counts if k not in reference),
                                 key=lambda k: -counts[k])]
    shown = {key: int(counts.get(key, 0)) for key in order[:SHOWN_VALUES] if key != OTHER}
    rest = sum(int(counts[key]) for key in counts if key not in shown)
    if rest:
        shown[OTHER] = rest
    return shown
