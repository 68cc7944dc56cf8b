"""Drift monitoring: each window of live requests against the reference profile stored at deploy.

    compare(reference, window_columns, window_predictions, thresholds) -> DriftReport
    DriftThresholds      p-value 0.05, distance 0.1, dataset drift at 50% of the features
    DriftReport          per column: method, score, threshold, drifted; to_dict() is JSON
    render_html(report, title=...)   a self-contained page with a plot per column

The reference is a profile (goldenpath_serving._profile): statistics only, so a window is
judged without re-reading training rows. Tests follow Evidently's defaults: KS or chi-squared
for a reference of at most 1,000 rows, normed Wasserstein or Jensen-Shannon above.
"""

from goldenpath_server.monitoring._drift import (
    ColumnDrift,
    DriftReport,
    DriftThresholds,
    compare,
)
from goldenpath_server.monitoring._report import render_html

__all__ = ["ColumnDrift", "DriftReport", "DriftThresholds", "compare", "render_html"]
