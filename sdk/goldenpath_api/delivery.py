"""The typed shapes of progressive delivery (canary, shadow, blue-green, champion/challenger):
a rollout's progression, its steps and the analysis of each window. Re-exported by
goldenpath_api.models, where every client reads them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Strategy = Literal["rolling", "blue-green", "canary", "shadow", "champion-challenger"]
ProgressionState = Literal["starting", "progressing", "paused", "succeeded", "aborted"]
StepKind = Literal["canary", "shadow", "preview", "experiment"]
Timestamp = str


class _Wire(BaseModel):
    model_config = ConfigDict(protected_namespaces=(), populate_by_name=True)


class LatencyPercentiles(_Wire):
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None


class VariantMetrics(_Wire):
    """One variant (the stable release, the champion; or the candidate) over a window."""

    requests: int = 0
    errors: int = Field(0, description="answers >= 500 and failed connections")
    error_rate: float | None = None
    latency_ms: LatencyPercentiles = Field(default_factory=LatencyPercentiles)
    predictions: dict[str, Any] = Field(default_factory=dict, description="{labels: {value: "
                                        "count}} or {mean, p50, count} for scores")


class Pairing(_Wire):
    """The same requests answered by both variants, compared."""

    requests: int = 0
    agreement: float | None = Field(None, description="share of equal labels")
    mad: float | None = Field(None, description="mean absolute difference of scores")
    dropped: int = Field(0, description="copies not sent (too many in flight)")


class AnalysisWindow(_Wire):
    step: int
    at: Timestamp
    seconds: float
    weight: float
    stable: VariantMetrics
    candidate: VariantMetrics
    paired: Pairing
    verdict: Literal["pass", "fail", "inconclusive", "measuring"]
    reasons: list[str] = Field(default_factory=list)


class ProgressStep(_Wire):
    kind: StepKind
    weight: float = Field(ge=0, le=1, description="share of requests the candidate answers")
    mirror: bool = Field(description="every request also copied to the candidate (shadow)")
    hold_s: float
    min_requests: int


class VariantOutcomes(_Wire):
    """One variant scored on the outcomes sent for the requests it answered."""

    outcomes: int = 0
    accuracy: float | None = Field(None, description="share of labels equal to the outcome")
    rmse: float | None = Field(None, description="root mean squared error of scores")
    mae: float | None = Field(None, description="mean absolute error of scores")
    auc: float | None = Field(None, description="ROC AUC of scores in [0, 1] for a 0/1 "
                              "outcome (to within 0.01)")


class ObservedOutcome(_Wire):
    request_id: str = Field(min_length=1, max_length=200,
                            description="the X-Request-Id of the answer it is the outcome of")
    value: Any = Field(description="the true label or value; a list, one per input row")


class OutcomeBatch(_Wire):
    outcomes: list[ObservedOutcome] = Field(min_length=1, max_length=10_000)


class OutcomeReceipt(_Wire):
    sent: int
    matched: int = Field(description="outcomes whose request a variant answered")
    unknown: int = Field(description="request ids not remembered (not routed, or too old)")
    ground_truth: dict[str, VariantOutcomes] = Field(description="stable and candidate, "
                                                     "over every outcome so far")


class Progression(_Wire):
    """Where a progressive rollout stands: its step, weights, measurements and verdicts."""

    rollout_id: str
    service: str
    environment: str
    strategy: Strategy
    state: ProgressionState
    step: int = Field(description="index into steps; len(steps) once it switched")
    steps: list[ProgressStep]
    weight: float = Field(description="share of requests the candidate answers now")
    effective_weight: float | None = Field(None, description="the share the target put in "
                                           "effect, where it rounds (Kubernetes: a replica "
                                           "ratio, of connections)")
    mirror: bool
    message: str
    failures: int
    stable_release_id: str | None
    stable_version: int | None
    candidate_release_id: str
    candidate_version: int
    preview_url: str = Field("", description="the candidate's own URL (blue-green preview)")
    windows: list[AnalysisWindow] = Field(description="the latest analyses, oldest first")
    totals: dict[str, Any] = Field(description="stable, candidate and paired over the rollout")
    ground_truth: dict[str, VariantOutcomes] = Field(
        default_factory=dict, description="stable and candidate scored on the outcomes sent "
        "for their answers (POST .../outcomes)")
    started_at: Timestamp
    updated_at: Timestamp


class ProgressionAction(_Wire):
    comment: str = Field("", max_length=4000)
