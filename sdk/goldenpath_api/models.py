"""The typed requests and responses of the promotion server's API (`/api/v1`).

The server declares these as its routes' request bodies and response models, so the OpenAPI
document (docs/openapi.json) is generated from them; the SDK and the panel read responses
with the same shapes. Field names are the wire's. Open shapes (evidence payloads, a
release's spec and schema, policy details) stay `dict[str, Any]`.

Responses leave out a key the server did not send (a passed policy result has no `message`):
such fields have a default here and are not `required` in the document.
"""

from __future__ import annotations

from typing import Annotated, Any, Generic, Literal, TypeVar, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from typing_extensions import TypeAliasType  # pydantic's own dependency (3.11 lacks it)

from goldenpath_api import rules
from goldenpath_api.delivery import (  # noqa: F401  (re-exported: clients read models.*)
    AnalysisWindow,
    ObservedOutcome,
    OutcomeBatch,
    OutcomeReceipt,
    Pairing,
    Progression,
    ProgressionAction,
    ProgressStep,
    Strategy,
    VariantMetrics,
    VariantOutcomes,
)
from goldenpath_api.figures import (  # noqa: F401  (re-exported: clients read models.*)
    ChangeFailure,
    Durations,
    GovernanceCompliance,
    ModelAutonomy,
    PlatformFigures,
    ProductionReleases,
)
from goldenpath_api.monitoring import (  # noqa: F401  (re-exported: clients read models.*)
    DriftColumn,
    DriftState,
    DriftStatus,
    DriftWindow,
    DriftWindowSummary,
)

T = TypeVar("T")

Role = Literal["viewer", "submitter", "approver", "admin"]
Kind = Literal["model", "app"]
PromotionStatus = Literal["waiting_for_approval", "approved", "rejected", "denied", "deployed"]
DeploymentStatus = Literal["rolling_out", "live", "failed"]
Outcome = Literal["pass", "warn", "fail"]
PolicyAction = Literal["enforce", "warn", "off"]
TokenKind = Literal["user", "delegation"]
Decision = Literal["approve", "reject"]
# times are ISO 8601 as the database holds them (SQLite hands back naive UTC): plain strings
Timestamp = str


class WireModel(BaseModel):
    """A shape of the wire: extra keys are ignored when reading, names may start `model_`."""

    model_config = ConfigDict(protected_namespaces=(), populate_by_name=True)


# -- errors and pages -------------------------------------------------------------------
class Error(WireModel):
    """Every error answer: a stable `code`, what went wrong and what to do about it."""

    code: str = Field(description="stable, e.g. not_found, invalid_input, permission_denied")
    message: str = Field(description="what went wrong")
    hint: str = Field("", description="what to do about it")
    details: Any = Field(None, description="structured context (e.g. the policy results "
                                           "that denied a promotion)")


class Page(WireModel, Generic[T]):
    """One page of a listing: its items under the listing's name, and `next`, the cursor
    to pass back as `after` for the page after it (null on the last page)."""

    next: str | None = Field(description="the cursor of the next page; null on the last")

    @property
    def items(self) -> list[T]:
        raise NotImplementedError  # each listing names its items


class Health(WireModel):
    status: Literal["ok"]
    version: str


# -- services, releases, deployments, rollouts -----------------------------------------
class Service(WireModel):
    name: str
    kind: Kind
    team: str = Field(description="the owning team; empty for none")
    created_at: Timestamp


class Deployment(WireModel):
    """A service's release in one environment, and how its rollout stands."""

    service: str
    environment: str
    status: DeploymentStatus
    url: str = Field(description="where the release answers; empty until it is live")
    message: str = Field(description="why it failed, or what is going on")
    release_id: str
    release_version: int
    digest: str
    previous_release_id: str | None
    target: str = Field(description="the kind of target it runs on (local, kubernetes)")
    promotion_id: str | None
    live_since: Timestamp | None
    updated_at: Timestamp
    strategy: Strategy = Field("rolling", description="of the rollout now or last")
    progression: str = Field("", description="a progressive rollout's state (progressing, "
                             "paused, ...): GET .../rollout has the whole of it")
    noop: bool = Field(False, description="only on a promotion of what is already live "
                                          "there: true, nothing was done")
    drift: DriftState | None = Field(None, description="a monitored model's newest drift "
                                     "window: ok or drift (GET .../drift has the whole of it)")
    drifted: list[str] = Field(default_factory=list,
                               description="the features (and prediction) that drifted")


class ServiceSummary(Service):
    deployments: list[Deployment]


class ServicePage(Page[ServiceSummary]):
    services: list[ServiceSummary]

    @property
    def items(self) -> list[ServiceSummary]:
        return self.services


class Release(WireModel):
    """An immutable, versioned artifact of a service: a model bundle or a pinned image."""

    id: str
    service: str
    version: int = Field(ge=1)
    kind: Kind
    digest: str = Field(description="sha256:<hex> of the bundle or of the image")
    size: int = Field(ge=0, description="bytes of the bundle (0 for an image)")
    image: str = Field(description="the image pinned by digest (apps); empty for models")
    bento_tag: str
    schema_: dict[str, Any] | None = Field(alias="schema", description="the model's input "
                                                                       "schema (models)")
    spec: dict[str, Any]
    created_by: str
    created_at: Timestamp
    evidence: dict[str, Any]
    evidence_sources: dict[str, Any]


class ServiceDetail(Service):
    releases: list[Release] = Field(description="newest first")
    deployments: list[Deployment]


class Rollout(WireModel):
    """One attempt to put a release live in an environment, and how it ended."""

    id: str
    environment: str
    release_id: str
    release_version: int
    reason: Literal["deploy", "promotion", "rollback"]
    status: Literal["running", "succeeded", "failed"]
    message: str
    started_by: str
    started_at: Timestamp
    finished_at: Timestamp | None


class RolloutList(WireModel):
    rollouts: list[Rollout] = Field(description="newest first")


class LogLines(WireModel):
    lines: list[str]


# -- governance ------------------------------------------------------------------------
class PolicyResult(WireModel):
    name: str
    track: str = Field(description="model, app or common")
    action: PolicyAction
    passed: bool
    at: Literal["promote", "switch"] = Field("promote", description="when the rule applies: "
                                             "at the promotion, or before a progressive "
                                             "rollout's switch, over its measurements")
    message: str = Field("", description="why it failed (failed results only)")
    hint: str = Field("", description="what to do about it (failed results only)")


class PolicyEvaluation(WireModel):
    """What an environment's policies say about a release."""

    environment: str
    outcome: Outcome
    results: list[PolicyResult]


class Approval(WireModel):
    user: str
    decision: Decision
    comment: str
    at: Timestamp


class Promotion(WireModel):
    """A request for a release to enter an environment: policies, approvals, rollout."""

    id: str
    service: str
    release_id: str
    release_version: int
    environment: str
    status: PromotionStatus
    requested_by: str
    required_approvals: int = Field(ge=0)
    approvals: list[Approval]
    policy_outcome: Outcome
    policy_results: list[PolicyResult]
    created_at: Timestamp
    decided_at: Timestamp | None


class PromotionList(WireModel):
    promotions: list[Promotion] = Field(description="newest first")


class PromotionSummary(WireModel):
    id: str
    environment: str
    status: PromotionStatus
    requested_by: str
    policy_outcome: Outcome


class EnvironmentPolicyResult(PolicyResult):
    environment: str


class EnvironmentApproval(Approval):
    environment: str


class ReleaseDetail(Release):
    """A release with the governance of each of its promotions."""

    promotions: list[PromotionSummary]
    policy_results: list[EnvironmentPolicyResult]
    approvals: list[EnvironmentApproval]


class Evidence(WireModel):
    """A release's evidence: what the server verified (scan, pinned, unpinned, parity,
    mlflow) and what callers declared; `sources` says, per item, which and by whom."""

    model_config = ConfigDict(extra="allow")  # parity per environment, mlflow, and the like

    sources: dict[str, Any]
    lineage: dict[str, Any] = Field(default_factory=dict)
    card: str = ""
    card_draft: str = ""
    metrics: dict[str, float] = Field(default_factory=dict)
    data: list[dict[str, Any]] = Field(default_factory=list)
    test_report: str = ""
    review: str = ""
    scan: dict[str, Any] = Field(default_factory=dict)
    pinned: bool = False
    unpinned: list[str] = Field(default_factory=list)


class EnvironmentPolicies(WireModel):
    default_action: PolicyAction
    actions: dict[str, PolicyAction]
    budget_usd: float = Field(description="monthly; 0 = no budget")
    metric: dict[str, Any] = Field(description="{name, min}: the evaluation metric required")


class EnvironmentDelivery(WireModel):
    default: Strategy
    allowed: list[Strategy] = Field(description="the strategies a promotion may choose")


class Environment(WireModel):
    """A step of the promotion path, with the controls it enforces."""

    name: str
    target: str = Field(description="local or kubernetes")
    approvals: int = Field(ge=0, description="approvals needed before a release goes live")
    policies: EnvironmentPolicies
    cannot_run: dict[str, str] = Field(description="release kinds it cannot run, and why")
    delivery: EnvironmentDelivery


class EnvironmentList(WireModel):
    environments: list[Environment] = Field(description="in promotion order")


class InventoryLinks(WireModel):
    release: str
    evidence: str
    policies: str
    card: str


class InventoryItem(WireModel):
    """What runs in one environment for one service, since when, approved by whom."""

    environment: str
    service: str
    kind: Kind
    team: str
    version: int
    release_id: str
    digest: str
    status: DeploymentStatus
    url: str
    since: Timestamp
    approved_by: list[str]
    approved_at: Timestamp | None
    requested_by: str
    policy_outcome: Outcome | None
    model_registry: str | None = Field(description="the MLflow model version's URI")
    evidence: InventoryLinks


class InventoryPage(Page[InventoryItem]):
    inventory: list[InventoryItem]

    @property
    def items(self) -> list[InventoryItem]:
        return self.inventory


class Event(WireModel):
    """An audit event: one state change, chained to the one before by its hash."""

    id: int
    seq: int | None = Field(description="its position in the audit chain")
    at: Timestamp
    actor: str
    service: str
    environment: str
    release_id: str
    type: str = Field(description="e.g. release_created, promotion_approved, "
                                  "rollout_succeeded")
    message: str
    data: dict[str, Any] | None
    hash: str


class EventList(WireModel):
    events: list[Event] = Field(description="oldest first")


class AuditHead(WireModel):
    seq: int
    hash: str


class AuditVerification(WireModel):
    ok: bool
    events: int = Field(description="events checked")
    rows: int = Field(description="covered rows re-hashed")
    head: AuditHead
    problems: list[dict[str, Any]] = Field(description="at most 100")


# -- who may do what -------------------------------------------------------------------
class Me(WireModel):
    user: str
    roles: dict[str, Role] = Field(description="role per team (`*`: every team)")
    token_id: str | None
    token_kind: TokenKind | None
    delegated_by: str | None


class TokenInfo(WireModel):
    id: str
    name: str
    kind: TokenKind
    created_at: Timestamp
    last_used_at: Timestamp | None
    revoked: bool


class User(WireModel):
    name: str
    roles: dict[str, Role] = Field(description="role per team (`*`: every team)")
    tokens: list[TokenInfo]


class UserList(WireModel):
    users: list[User]


class CreatedToken(WireModel):
    id: str
    user: str
    name: str
    kind: TokenKind
    token: str = Field(description="the secret: in this response only")


class RevokedToken(WireModel):
    id: str
    user: str
    revoked: Literal[True]


# -- request bodies --------------------------------------------------------------------
def _no_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("a number is needed, not true or false")
    return value


# numbers of a request body: 2 and 2.0 are both the integer 2 (as in JSON Schema), `false`
# is no number (pydantic would read it as 0)
Integer = Annotated[int, BeforeValidator(_no_bool)]
Number = Annotated[float, BeforeValidator(_no_bool)]


# JSON a caller declares (lineage, data): integers are 64-bit, as the policies' CEL holds
# them; a larger number is read as a floating-point number, as JSON clients read it anyway
# (a 2**70 in lineage made every later policy evaluation of the release fail with a 500)
_Int64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]
# (mypy cannot follow the recursion: its two lines carry an ignore)
JsonValue = TypeAliasType("JsonValue", Union[  # type: ignore[misc] # noqa: UP007
    None, bool, _Int64, float, str, list["JsonValue"], dict[str, "JsonValue"]])  # type: ignore[misc]


class RequestModel(WireModel):
    """A request body."""


ENV_NAME_PATTERN = rules.ENVIRONMENT_NAME_PATTERN
OPTIONAL_TEAM_PATTERN = rf"^$|{rules.TEAM_PATTERN}"


class DeployRequest(RequestModel):
    environment: str = Field("dev", max_length=63, pattern=ENV_NAME_PATTERN)
    strategy: Strategy | None = Field(None, description="how it goes live (default: the "
                                                        "environment's)")
    steps: list[Annotated[int, Field(ge=1, le=100)]] | None = Field(
        None, min_length=1, max_length=20, description="canary traffic steps in percent, "
                                                       "rising, e.g. [10, 50, 100]; without "
                                                       "a strategy they ask for a canary")


class Resources(RequestModel):
    cpu: Number = Field(0.0, ge=0, le=1024)
    memory_gb: Number = Field(0.0, ge=0, le=4096)
    replicas: Integer = Field(1, ge=1, le=100)
    gpu: Integer = Field(0, ge=0, le=16)


class AppReleaseRequest(RequestModel):
    image: str = Field(description="registry/name@sha256:<digest>", max_length=512,
                       pattern=rules.DIGEST_IMAGE_PATTERN)
    port: Integer = Field(8080, ge=1, le=65535)
    team: str = Field("", max_length=63, pattern=OPTIONAL_TEAM_PATTERN)
    resources: Resources | None = None


class RollbackRequest(RequestModel):
    # the bounds before the validator: after it, pydantic would write them as ge/le
    to: Annotated[int, Field(ge=1, le=rules.MAX_INT), BeforeValidator(_no_bool)] | None = Field(
        None,
                           description="the version to restore (default: the one live "
                                       "before the current one)")


class TeamChange(RequestModel):
    team: str = Field(max_length=63, pattern=OPTIONAL_TEAM_PATTERN)


class DecisionRequest(RequestModel):
    environment: str = Field(max_length=63)
    decision: Decision = "approve"
    comment: str = Field("", max_length=4000)


class EvidenceDeclaration(RequestModel):
    """What a caller may declare about a release (recorded as declared by the caller).

    The server's own checks (scan, pinned, unpinned, parity) are not accepted: 403. Extra
    keys are let through to the core so that those get their own clear refusal; the
    document still says no other key is allowed."""

    model_config = ConfigDict(extra="allow",
                              json_schema_extra={"additionalProperties": False})

    lineage: dict[str, JsonValue] | None = None
    card: str | None = Field(None, max_length=256_000)
    card_draft: str | None = Field(None, max_length=256_000)
    metrics: dict[str, Number] | None = Field(None, max_length=200)
    data: list[dict[str, JsonValue]] | None = Field(None, max_length=100)
    test_report: str | None = Field(None, max_length=2048)
    review: str | None = Field(None, max_length=2048)


class Grant(RequestModel):
    team: str = Field(max_length=63, pattern=rf"^\*$|{rules.TEAM_PATTERN}",
                      description="a team, or * for every team")
    role: Role


class NewToken(RequestModel):
    name: str = Field("", max_length=200)
    kind: TokenKind = "user"


__all__ = [
    "AppReleaseRequest", "Approval", "AuditHead", "AuditVerification", "CreatedToken",
    "DecisionRequest", "DeployRequest", "Deployment", "Environment", "EnvironmentApproval",
    "EnvironmentList", "EnvironmentPolicies", "EnvironmentPolicyResult", "Error", "Event",
    "EventList", "Evidence", "EvidenceDeclaration", "Grant", "Health", "InventoryItem",
    "InventoryLinks", "InventoryPage", "LogLines", "Me", "NewToken", "Page", "PolicyEvaluation",
    "PolicyResult", "Promotion", "PromotionList", "PromotionSummary", "Release",
    "ReleaseDetail", "RequestModel", "Resources", "RevokedToken", "RollbackRequest", "Rollout",
    "RolloutList",
    "Service", "ServiceDetail", "ServicePage", "ServiceSummary", "TeamChange", "TokenInfo",
    "User", "UserList",
]
