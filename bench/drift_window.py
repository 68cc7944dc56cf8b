"""Drift: what one window costs against a stored reference profile, and what a profile costs.

A reference of 100,000 rows x 20 features (16 numeric, 4 categorical) is profiled once
(goldenpath_serving._profile.profile_of, as gp.deploy does), stored as JSON, and read back;
then windows of 300, 1,000 and 10,000 rows are judged against it
(goldenpath_server.monitoring.compare) on both branches of the test choice: the 100k-row
reference (normed Wasserstein, Jensen-Shannon) and a 1,000-row one (KS, chi-squared). For
scale, the same distances with scipy on the raw reference rows — what a tool that keeps the
training rows computes per window — and the HTML report. Medians of --reps runs, in this
process, nothing else running in it.

    .venv/bin/python bench/drift_window.py [--reps 20]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "server"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "serving"))

import numpy as np  # noqa: E402
from _common import median, table, write_result  # noqa: E402
from scipy import stats  # noqa: E402
from scipy.spatial.distance import jensenshannon  # noqa: E402

from goldenpath_server.monitoring import compare, render_html  # noqa: E402
from goldenpath_serving._profile import profile_of  # noqa: E402

FEATURES, CATEGORICAL = 20, 4
PLANS = np.array([f"plan-{i}" for i in range(12)], dtype=object)
WINDOWS = (300, 1_000, 10_000)


def table_of(n: int, seed: int, numeric_only: bool = False) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    numeric = FEATURES if numeric_only else FEATURES - CATEGORICAL
    columns = {f"x{i}": rng.normal(i, 1.0 + i / 10, size=n) for i in range(numeric)}
    for i in range(FEATURES - numeric):
        columns[f"c{i}"] = rng.choice(PLANS, size=n)
    return columns


def timed(fn: Callable[[], Any], reps: int) -> float:
    """The median wall time of `fn` in milliseconds."""
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return median(times)


def raw_distances(rows: dict[str, np.ndarray], window: dict[str, np.ndarray]) -> None:
    """What keeping the reference rows costs per window: scipy on them, column by column."""
    for name, values in rows.items():
        if values.dtype.kind == "O":
            counts, seen = Counter(values.tolist()), Counter(window[name].tolist())
            jensenshannon(list(counts.values()), [seen[k] for k in counts], base=2)
        else:
            stats.wasserstein_distance(values, window[name]) / values.std()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=20, help="runs per measurement")
    args = parser.parse_args()

    rows = table_of(100_000, seed=1)
    numeric_rows = table_of(100_000, seed=1, numeric_only=True)
    profile_ms = timed(lambda: profile_of(numeric_rows, source="train"), max(3, args.reps // 4))
    mixed_ms = timed(lambda: profile_of(rows, source="train"), max(3, args.reps // 4))
    stored = json.dumps(profile_of(rows, source="train"))
    small = profile_of(table_of(1_000, seed=2), source="train")
    load_ms = timed(lambda: json.loads(stored), args.reps)
    reference = json.loads(stored)

    results: list[dict[str, Any]] = [
        {"what": "profile of 100,000 x 20 numeric", "ms": profile_ms},
        {"what": "profile of 100,000 x 20 (16 numeric, 4 categorical)", "ms": mixed_ms},
        {"what": f"read the stored profile back (json.loads, {len(stored) // 1024} KB)",
         "ms": load_ms},
    ]
    for n in WINDOWS:
        window = table_of(n, seed=3)
        report = compare(reference, window).to_dict()
        results += [
            {"what": f"window of {n:,} x 20 vs 100k-row profile (Wasserstein, JS)",
             "ms": timed(lambda w=window: compare(reference, w), args.reps)},
            {"what": f"window of {n:,} x 20 vs 1k-row profile (KS, chi-squared)",
             "ms": timed(lambda w=window: compare(small, w), args.reps)},
            {"what": f"window of {n:,} x 20: scipy on the 100k raw rows",
             "ms": timed(lambda w=window: raw_distances(rows, w), max(3, args.reps // 4))},
            {"what": f"window of {n:,}: the HTML report",
             "ms": timed(lambda r=report: render_html(r, title="bench"), args.reps)},
        ]
    print(table(["what", "median ms"], [[r["what"], r["ms"]] for r in results]))
    path = write_result("drift", {"reps": args.reps, "results": results})
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
