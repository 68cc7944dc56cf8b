"""The typed shapes of the platform's figures (GET /api/v1/figures): the delivery figures
ML platform teams are judged by, by track and environment. Re-exported by
goldenpath_api.models, where every client reads them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Wire(BaseModel):
    model_config = ConfigDict(protected_namespaces=(), populate_by_name=True)


class ChangeFailure(_Wire):
    """Rollouts started in one environment and how many of them failed a change."""

    track: str = Field(description="model or app")
    environment: str
    rollouts_started: int = Field(description="promotions, deploys and rollbacks started")
    rollbacks: int
    failed_rollouts: int
    aborted_rollouts: int = Field(description="progressive rollouts aborted")
    rate: float = Field(description="(rollbacks + failed + aborted) / rollouts started")


class Durations(_Wire):
    """Observations of one duration for a track."""

    track: str
    count: int
    sum_seconds: float
    mean_seconds: float | None = None


class ProductionReleases(_Wire):
    """Releases of one service live in production for the first time (update frequency)."""

    track: str
    service: str
    releases: int


class ModelAutonomy(_Wire):
    """Model releases in production on which only the service's team and approvers acted."""

    releases: int
    autonomous: int
    ratio: float | None = Field(None, description="autonomous / releases; none yet: null")


class GovernanceCompliance(_Wire):
    """Production promotions whose policies all passed (no warn-only failure)."""

    track: str
    production_rollouts: int
    compliant: int
    ratio: float


class PlatformFigures(_Wire):
    """The platform's figures, folded from the audit trail up to `last_event_id`."""

    production: str = Field(description="the last environment on the path")
    last_event_id: int
    change_failure: list[ChangeFailure]
    validation_to_production: list[Durations]
    lead_time: list[Durations]
    time_to_restore: list[Durations]
    production_releases: list[ProductionReleases]
    model_autonomy: ModelAutonomy
    governance_compliance: list[GovernanceCompliance]
