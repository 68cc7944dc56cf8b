"""Drift of a window against a stored reference profile: the test chosen per column, the
verdicts, the approximations against scipy on the raw rows, and the HTML report.

Seeds are fixed. The smaller sample picks the test: at 300 rows the normed-Wasserstein
threshold (0.1) alone would flag about one in five in-distribution numeric columns (measured:
22% against a 2,000-row reference, 2% at 1,000 rows), so windows under 1,000 rows get KS and
chi-squared with their p-values corrected for the window's columns (Bonferroni); the large-
sample tests below use 1,500-row windows. The approximations are checked against scipy.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from goldenpath_server.monitoring import DriftThresholds, compare, render_html
from goldenpath_serving._profile import profile_of

PLANS = np.array(["basic", "pro", "team"], dtype=object)
NUMERIC = ["x0", "x1", "x2", "x3"]


def _table(n: int, seed: int, shift: dict[str, float] | None = None,
           plans: tuple[float, float, float] = (0.5, 0.3, 0.2)) -> dict[str, np.ndarray]:
    """4 numeric features (x_i ~ N(10 i, 1 + i)) and a plan; `shift` in standard deviations."""
    rng = np.random.default_rng(seed)
    columns = {name: rng.normal(10.0 * i, 1.0 + i, size=n) for i, name in enumerate(NUMERIC)}
    for name, sds in (shift or {}).items():
        columns[name] += sds * (1.0 + NUMERIC.index(name))
    columns["plan"] = rng.choice(PLANS, size=n, p=plans)
    return columns


def _reference(n: int) -> dict:
    return profile_of(_table(n, seed=1), np.random.default_rng(5).normal(size=n), source="train")


def _predictions(shift: float = 0.0) -> np.ndarray:
    return np.random.default_rng(6).normal(shift, 1.0, size=1500)


def test_an_in_distribution_window_flags_nothing() -> None:
    report = compare(_reference(2000), _table(1500, seed=2), _predictions())
    assert report.status == "ok" and report.rows == 1500 and report.reference_rows == 2000
    assert report.drifted_columns == [] and not report.dataset_drift
    methods = {column.name: column.method for column in report.columns}
    assert methods == {**dict.fromkeys(NUMERIC, "wasserstein"), "plan": "jensenshannon"}
    assert report.prediction is not None and not report.prediction.drifted


def test_a_feature_shifted_by_one_std_is_the_one_flagged() -> None:
    report = compare(_reference(2000), _table(1500, seed=2, shift={"x2": 1.0}), _predictions())
    assert report.drifted_columns == ["x2"]
    x2 = next(column for column in report.columns if column.name == "x2")
    assert x2.score == pytest.approx(1.0, abs=0.15) and x2.threshold == 0.1
    assert report.share_drifted == pytest.approx(0.2)
    assert not report.dataset_drift and report.status == "ok"  # 1 of 5 < drift_share


def test_half_the_features_drifting_is_dataset_drift() -> None:
    report = compare(_reference(2000), _table(1500, seed=2, shift=dict.fromkeys(NUMERIC[:3], 1.0)))
    assert report.drifted_columns == NUMERIC[:3]
    assert report.dataset_drift and report.status == "drift"


def test_a_categorical_shift_is_flagged_by_jensen_shannon() -> None:
    report = compare(_reference(2000), _table(1500, seed=2, plans=(0.2, 0.3, 0.5)))
    assert report.drifted_columns == ["plan"]
    plan = report.columns[-1]
    assert plan.method == "jensenshannon" and plan.p_value is None and plan.score >= 0.1
    assert set(plan.reference["frequencies"]) == set(PLANS)
    assert sum(plan.window["frequencies"].values()) == 1500


def test_a_small_reference_uses_ks_and_chi_squared() -> None:
    reference = _reference(500)
    report = compare(reference, _table(1500, seed=2, shift={"x1": 1.0}, plans=(0.2, 0.3, 0.5)))
    methods = {column.name: column.method for column in report.columns}
    assert methods == {**dict.fromkeys(NUMERIC, "ks"), "plan": "chisquare"}
    assert report.drifted_columns == ["x1", "plan"]
    assert all(column.p_value is not None and 0.0 <= column.p_value <= 1.0
               for column in report.columns)
    assert all((column.p_value < 0.05 / 5) == column.drifted for column in report.columns)


def test_the_prediction_drifts_on_its_own() -> None:
    report = compare(_reference(2000), _table(1500, seed=2), _predictions(shift=1.0))
    assert report.drifted_columns == [] and report.status == "drift"
    assert report.prediction is not None and report.prediction.drifted


def test_few_valued_integers_and_unseen_categories_are_tested_as_categories() -> None:
    rng = np.random.default_rng(3)
    reference = profile_of({"children": rng.integers(0, 3, size=800),
                            "plan": rng.choice(PLANS[:2], size=800)})
    window = {"children": rng.integers(0, 3, size=200),
              "plan": np.concatenate([rng.choice(PLANS[:2], size=180), PLANS[[2] * 20]])}
    report = compare(reference, window)
    assert [(c.name, c.method, c.drifted) for c in report.columns] == [
        ("children", "chisquare", False), ("plan", "chisquare", True)]
    assert report.columns[1].window["frequencies"]["team"] == 20  # the new value, by name


def test_a_window_below_min_rows_is_insufficient() -> None:
    report = compare(_reference(2000), _table(99, seed=2, shift={"x0": 5.0}))
    assert report.status == "insufficient" and report.columns == [] and report.rows == 99
    assert compare(_reference(2000), _table(99, seed=2),
                   thresholds=DriftThresholds(min_rows=50)).status == "ok"


def test_psi_and_thresholds_per_column() -> None:
    limits = DriftThresholds(per_column_method={"x0": "psi", "plan": "psi"},
                             per_column_threshold={"x1": 5.0})
    same = compare(_reference(2000), _table(1500, seed=2), thresholds=limits)
    moved = compare(_reference(2000), _table(1500, seed=2, shift={"x0": 1.0, "x1": 1.0},
                                             plans=(0.2, 0.3, 0.5)), thresholds=limits)
    assert [c.method for c in same.columns] == ["psi", "wasserstein", "wasserstein",
                                                "wasserstein", "psi"]
    assert same.drifted_columns == [] and moved.drifted_columns == ["x0", "plan"]
    assert moved.columns[0].score > 0.5 and moved.columns[1].threshold == 5.0


def test_methods_that_do_not_fit_are_refused_with_the_fix() -> None:
    with pytest.raises(ValueError, match="unknown drift method 'kl'"):
        DriftThresholds(per_column_method={"x0": "kl"})
    with pytest.raises(ValueError, match="'plan' is categorical .* use chisquare"):
        compare(_reference(2000), _table(1500, seed=2),
                thresholds=DriftThresholds(per_column_method={"plan": "ks"}))
    window = {**_table(1500, seed=2), "x0": np.array(["a"] * 1500, dtype=object)}
    with pytest.raises(ValueError, match="'x0' is numeric in the reference but the window"):
        compare(_reference(2000), window)


def test_numbers_in_an_object_column_are_numbers() -> None:
    table = _table(1500, seed=2)
    values = table["x1"].astype(object)
    values[:10] = None
    report = compare(_reference(2000), {**table, "x1": values})
    x1 = report.columns[1]
    assert (x1.window["count"], x1.window["missing"], x1.drifted) == (1490, 10, False)


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_ks_on_the_stored_quantiles_matches_scipy_on_the_rows(seed: int) -> None:
    rng = np.random.default_rng(seed)
    rows, window = rng.gamma(2.0, size=800), rng.gamma(2.0, 1.1, size=300)
    column = compare(profile_of({"a": rows}), {"a": window}).columns[0]
    exact = stats.ks_2samp(rows, window)
    assert column.method == "ks"
    assert column.score == pytest.approx(exact.statistic, abs=0.015)
    assert column.p_value == pytest.approx(exact.pvalue, rel=0.5, abs=0.02)


@pytest.mark.parametrize("seed", [21, 22, 23])
def test_wasserstein_on_the_stored_quantiles_matches_scipy_on_the_rows(seed: int) -> None:
    rng = np.random.default_rng(seed)
    rows, window = rng.lognormal(size=5000), rng.lognormal(0.1, size=1500)
    column = compare(profile_of({"a": rows}), {"a": window}).columns[0]
    exact = stats.wasserstein_distance(rows, window) / rows.std()
    assert column.method == "wasserstein"
    assert column.score == pytest.approx(exact, rel=0.08, abs=0.005)


def test_the_report_is_plain_json() -> None:
    report = compare(_reference(2000), _table(1500, seed=2, shift={"x0": 1.0}), _predictions())
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert set(data) == {"status", "rows", "reference_rows", "dataset_drift", "drift_share",
                         "share_drifted", "drifted_columns", "columns", "prediction",
                         "not_compared"}
    x0 = data["columns"][0]
    assert set(x0) == {"name", "kind", "method", "score", "p_value", "threshold", "drifted",
                       "reference", "window", "note"}
    assert len(x0["reference"]["edges"]) == 31 and len(x0["window"]["counts"]) == 30
    assert sum(x0["window"]["counts"]) == 1500 and x0["window"]["above"] > 0
    assert data["prediction"]["name"] == "prediction"


def test_the_html_page_escapes_what_comes_from_the_data() -> None:
    rng = np.random.default_rng(4)
    hostile = "<script>alert(1)</script>"
    reference = profile_of({hostile: rng.normal(size=2000),
                            "plan": rng.choice(np.array([hostile, "b"], dtype=object), 2000)})
    report = compare(reference, {hostile: rng.normal(1.0, size=1500),
                                 "plan": rng.choice(np.array([hostile, "b"], dtype=object), 1500)})
    page = render_html(report.to_dict(), title="churn <v3>")
    assert "<script" not in page and page.count("&lt;script&gt;") >= 2
    assert "churn &lt;v3&gt;" in page and page.count("<svg") == 2
    assert "drifted" in page and "wasserstein" in page


def test_a_small_window_gets_small_sample_tests_and_rarely_a_false_alarm() -> None:
    """300 rows against 2,000: KS and chi-squared at 0.05 shared by the window's 6 columns;
    in-distribution windows over 40 seeds raise at most a few alarms, a shift of one
    standard deviation is flagged at every seed."""
    reference, alarms = _reference(2000), 0
    for seed in range(100, 140):
        rng = np.random.default_rng(seed)
        same = compare(reference, _table(300, seed=seed), rng.normal(size=300))
        assert {c.method for c in same.columns} == {"ks", "chisquare"}
        assert same.columns[0].threshold == pytest.approx(0.05 / 6)
        alarms += bool(same.drifted_columns or same.prediction.drifted)
        moved = compare(reference, _table(300, seed=seed, shift={"x2": 1.0}))
        assert "x2" in moved.drifted_columns
    assert alarms <= 4, f"{alarms} of 40 in-distribution windows flagged"
