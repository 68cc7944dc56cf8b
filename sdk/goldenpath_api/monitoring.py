"""The typed shapes of monitoring: a live model's drift against the reference profile
gp.deploy captured, window by window. Re-exported by goldenpath_api.models, where every
client reads them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

DriftState = Literal["ok", "drift", "insufficient", "no_reference", "waiting", "off"]


class _Wire(BaseModel):
    model_config = ConfigDict(protected_namespaces=(), populate_by_name=True)


class DriftColumn(_Wire):
    """One column's verdict in a window: the test chosen for its type and the reference's
    size (KS or chi-squared up to 1,000 reference rows, Wasserstein or Jensen-Shannon above)."""

    name: str
    kind: str = Field(description="numeric or categorical, as in the reference")
    method: str = Field(description="ks, chisquare, wasserstein, jensenshannon or psi")
    score: float | None = Field(None, description="the test's statistic or the distance")
    p_value: float | None = None
    threshold: float | None = None
    drifted: bool = False


class DriftWindowSummary(_Wire):
    id: int
    at: str
    release_id: str
    rows: int
    status: DriftState
    drifted: list[str] = Field(description="the features (and `prediction`) that drifted")
    scores: dict[str, float | None]


class DriftWindow(DriftWindowSummary):
    dataset_drift: bool = Field(description="at least drift_share of the features drifted")
    columns: list[DriftColumn]
    message: str = ""


class DriftStatus(_Wire):
    """Where a live model's drift stands: the newest window judged, and the ones before."""

    service: str
    environment: str
    status: DriftState = Field(description="the newest window's; waiting: no full window "
                                           "yet; off: the environment logs nothing")
    window_rows: int = Field(description="rows per window (monitoring.window_rows)")
    sample: float = Field(description="share of requests logged")
    logged_requests: int = Field(description="requests in the inference log now")
    latest: DriftWindow | None
    windows: list[DriftWindowSummary] = Field(description="newest first")
