"""What an environment's `monitoring:` block says: how much of the live traffic is logged,
what of it is kept, how long, and how each window is judged for drift.

    environments:
      prod:
        monitoring:
          sample: 0.2            # share of requests logged (0 = no inference log, no drift)
          drop: [email]          # input columns never logged
          hash: [customer_id]    # logged as a salted hash (categorical drift still works)
          window_rows: 500       # rows per drift window
          window_s: 3600         # or a window per hour, once it holds min_window_rows
          retention_hours: 168   # inference records older than this are deleted
          drift: {p_value: 0.05, distance: 0.1, drift_share: 0.5}
          on_drift: retrain      # also a `retrain_requested` event (a webhook) with the report
          slo: {availability: 0.999, latency: {threshold_ms: 500, objective: 0.99}}
          on_breach: rollback    # a paging burn rate rolls the deployment back
          app_metrics: {path: /metrics, requests: http_requests_total, status_label: code,
                        duration: http_request_duration_seconds}   # what apps export
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from goldenpath_server.monitoring._drift import DriftThresholds

_COLUMN = r"^[^,\n]{1,200}$"
_METRIC = r"^[a-zA-Z_:][a-zA-Z0-9_:]{0,199}$"


class DriftSettings(BaseModel):
    """The drift tests' thresholds (Evidently's defaults): p-value tests flag below p_value,
    distances at or above distance; the dataset drifts when drift_share of its features do."""

    model_config = ConfigDict(extra="forbid")

    p_value: float = Field(default=0.05, gt=0, lt=1)
    distance: float = Field(default=0.1, gt=0)
    drift_share: float = Field(default=0.5, gt=0, le=1)
    # per column: {"method": "ks"|"chisquare"|"wasserstein"|"jensenshannon"|"psi", "threshold": x}
    # (monitoring/_drift.py names the methods)
    columns: dict[str, dict[str, str | float]] = Field(default_factory=dict)


class AppMetrics(BaseModel):
    """The Prometheus metrics an environment's apps export, for their SLOs (a model's are
    its runtime's own): a request counter labelled by status, a latency histogram in
    seconds. The defaults are the common convention (prometheus-fastapi-instrumentator,
    Go's promhttp with a `code` label)."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(default="/metrics", pattern=r"^/[^\s?#]*$")
    requests: str = Field(default="http_requests_total", pattern=_METRIC)
    duration: str = Field(default="http_request_duration_seconds", pattern=_METRIC)
    status_label: str = Field(default="code", pattern=_METRIC)


class MonitoringConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sample: float = Field(default=1.0, ge=0, le=1)
    drop: list[str] = Field(default_factory=list, json_schema_extra={"items": {"pattern": _COLUMN}})
    hash: list[str] = Field(default_factory=list, json_schema_extra={"items": {"pattern": _COLUMN}})
    window_rows: int = Field(default=500, ge=20, le=100_000)
    # a window also closes this long after its first record (time windows, as NannyML's
    # chunks by period) once it holds min_window_rows: fewer are not judged (a test of 10
    # rows says little), and the window waits for them
    window_s: float | None = Field(default=None, gt=0)
    min_window_rows: int = Field(default=100, ge=20)
    retention_hours: float = Field(default=168.0, gt=0)
    max_records: int = Field(default=100_000, ge=100)  # per deployment, the newest kept
    buffer: int = Field(default=10_000, ge=100, le=1_000_000)  # records a runtime holds
    drift: DriftSettings = Field(default_factory=DriftSettings)
    on_drift: Literal["none", "retrain"] = "none"
    # objectives (monitoring/_slo.py; null or {}: the defaults), or false: no SLOs here
    slo: dict[str, Any] | Literal[False] | None = None
    on_breach: Literal["none", "rollback"] = "none"
    app_metrics: AppMetrics = Field(default_factory=AppMetrics)
    # every alert window multiplied by this (1/720: the hour lasts 5 s), for demos and tests
    slo_window_scale: float = Field(default=1.0, gt=0, le=1)

    @property
    def enabled(self) -> bool:
        return self.sample > 0

    def serving_env(self, environment: str) -> dict[str, str]:
        """What the serving runtime's inference log reads (goldenpath_serving._inference_log).
        The salt only makes hashed columns unlinkable across environments: not a secret."""
        if not self.enabled:
            return {"GOLDENPATH_LOG_SAMPLE": "0"}
        salt = hashlib.sha256(f"goldenpath-log:{environment}".encode()).hexdigest()[:16]
        return {"GOLDENPATH_LOG_SAMPLE": repr(self.sample),
                "GOLDENPATH_LOG_DROP": ",".join(self.drop),
                "GOLDENPATH_LOG_HASH": ",".join(self.hash), "GOLDENPATH_LOG_SALT": salt,
                "GOLDENPATH_LOG_BUFFER": str(self.buffer)}

    def thresholds(self) -> DriftThresholds:
        """The drift tests' thresholds as monitoring/_drift.py takes them."""
        drift = self.drift
        return DriftThresholds(
            p_value=drift.p_value, distance=drift.distance, drift_share=drift.drift_share,
            min_rows=min(100, self.window_rows, self.min_window_rows),
            per_column_method={c: str(o["method"]) for c, o in drift.columns.items()
                               if "method" in o},
            per_column_threshold={c: float(o["threshold"]) for c, o in drift.columns.items()
                                  if "threshold" in o})

    def reference_as_logged(self, reference: dict[str, Any], environment: str
                            ) -> dict[str, Any]:
        """The reference profile as the log sees it: dropped columns gone, hashed ones'
        categories hashed the way the runtime hashes them (goldenpath_serving._inference_log)."""
        if not self.drop and not self.hash:
            return reference
        salt = self.serving_env(environment).get("GOLDENPATH_LOG_SALT", "")
        features = {}
        for name, stats in (reference.get("features") or {}).items():
            if name in self.drop:
                continue
            if name in self.hash and isinstance(stats.get("frequencies"), dict):
                stats = {**stats, "kind": "categorical", "frequencies": {
                    hashlib.sha256((salt + str(v)).encode()).hexdigest()[:16]: n
                    for v, n in stats["frequencies"].items()}}
            features[name] = stats
        return {**reference, "features": features}
