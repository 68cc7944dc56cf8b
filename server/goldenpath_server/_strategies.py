"""Delivery strategies: which ones an environment allows, the plan of steps a rollout follows,
and the analysis that judges each step. Pure functions over config and measurements; the
progression that runs a plan lives in _progression.py.

    environments:
      prod:
        delivery:
          default: canary
          allowed: [shadow, canary]
          canary: {steps: [5, 25, 50, 100], hold_s: 60, min_requests: 50}
          shadow: {hold_s: 300, min_requests: 200, then: canary}
          analysis: {min_success_rate: 0.99, max_p99_ms: 500, min_agreement: 0.95}

Defaults follow the field: Flagger's built-in checks (success rate >= 99%, p99 <= 500 ms,
one minute per step), Argo Rollouts' failureLimit (0: the first failed analysis aborts) and
its rule that an inconclusive analysis pauses for a person.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from goldenpath_api.errors import Conflict, InvalidInput

Strategy = Literal["rolling", "blue-green", "canary", "shadow", "champion-challenger"]
STRATEGIES: tuple[str, ...] = ("rolling", "blue-green", "canary", "shadow",
                               "champion-challenger")
Verdict = Literal["pass", "fail", "inconclusive"]


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CanaryConfig(_Config):
    steps: list[int] = Field(default_factory=lambda: [5, 25, 50, 100])
    hold_s: float = Field(default=60.0, ge=0.1, le=86400)  # each step, at least
    min_requests: int = Field(default=50, ge=0)  # answered by the candidate per step, at least

    @field_validator("steps")
    @classmethod
    def _ascending(cls, steps: list[int]) -> list[int]:
        return check_steps(steps)


class ShadowConfig(_Config):
    hold_s: float = Field(default=300.0, ge=0.1, le=86400)
    min_requests: int = Field(default=200, ge=0)  # mirrored and compared, at least
    then: Literal["switch", "canary"] = "switch"  # after a passed shadow


class BlueGreenConfig(_Config):
    # on the preview URL before the switch; then the old release stays warm, for a switch back
    preview_s: float = Field(default=60.0, ge=0.0, le=86400)
    keep_warm_s: float = Field(default=600.0, ge=0.0, le=86400)


class ChallengerConfig(_Config):
    weight: int = Field(default=50, ge=1, le=99)  # percent of requests the challenger answers
    hold_s: float = Field(default=3600.0, ge=0.1, le=30 * 86400)
    min_requests: int = Field(default=1000, ge=0)
    # how the experiment ends: a person decides, or the real metric from outcomes sent for
    # its requests (_outcomes.py): the challenger takes over if it beats the champion
    decide_on: Literal["person", "accuracy", "auc", "rmse"] = "person"
    min_outcomes: int = Field(default=100, ge=1)  # per variant, before the metric counts
    min_improvement: float = Field(default=0.0, ge=0.0)  # by this much, at least


class AnalysisConfig(_Config):
    min_success_rate: float = Field(default=0.99, ge=0.0, le=1.0)  # non-5xx share (Flagger: 99%)
    # the candidate's error rate may exceed the champion's in the same window by this much
    max_error_rate_increase: float = Field(default=0.01, ge=0.0, le=1.0)
    max_p99_ms: float = Field(default=500.0, gt=0)  # Flagger's request-duration example
    # candidate p99 / champion p99 over the same window
    max_latency_ratio: float = Field(default=1.5, ge=1.0)
    latency_slack_ms: float = Field(default=10.0, ge=0.0)  # below this difference, never "slower"
    min_agreement: float = Field(default=0.95, ge=0.0, le=1.0)  # labels equal to the champion's
    max_mad: float = Field(default=0.05, ge=0.0)  # mean absolute difference of scores
    min_paired: int = Field(default=20, ge=1)  # compared requests before agreement counts
    failure_limit: int = Field(default=0, ge=0)  # failed analyses tolerated (Argo Rollouts: 0)
    max_wait_factor: float = Field(default=10.0, ge=1.0)  # hold_s x this without enough traffic:
    # inconclusive, a person decides


class DeliveryConfig(_Config):
    """An environment's `delivery:` field."""

    default: Strategy = "rolling"
    allowed: list[Strategy] = Field(default_factory=lambda: list(STRATEGIES))  # type: ignore[arg-type]
    canary: CanaryConfig = Field(default_factory=lambda: CanaryConfig())
    shadow: ShadowConfig = Field(default_factory=lambda: ShadowConfig())
    blue_green: BlueGreenConfig = Field(default_factory=lambda: BlueGreenConfig())
    champion_challenger: ChallengerConfig = Field(default_factory=lambda: ChallengerConfig())
    analysis: AnalysisConfig = Field(default_factory=lambda: AnalysisConfig())


def check_steps(steps: list[int]) -> list[int]:
    if not steps or len(steps) > 20:
        raise ValueError("give 1 to 20 canary steps, in percent, e.g. 5,25,50,100")
    if any(not 1 <= s <= 100 for s in steps) or steps != sorted(set(steps)):
        raise ValueError(f"canary steps {steps} must rise, each between 1 and 100 percent")
    return steps if steps[-1] == 100 else [*steps, 100]


def choose(delivery: DeliveryConfig, environment: str, requested: str | None,
           supported: tuple[str, ...]) -> str:
    """The strategy a promotion to `environment` uses: the one asked for (if the
    environment allows it), else the environment's default."""
    strategy = requested or delivery.default
    if strategy not in STRATEGIES:
        raise InvalidInput(f"unknown delivery strategy {strategy!r}",
                           f"use one of: {', '.join(STRATEGIES)}")
    if strategy not in delivery.allowed:
        raise Conflict(f"{environment} does not allow the {strategy} strategy",
                       f"use one it allows: {', '.join(delivery.allowed)}")
    if strategy not in supported:
        raise Conflict(f"the target of {environment} cannot run a {strategy} rollout yet",
                       f"use one of: {', '.join(s for s in supported if s in delivery.allowed)}")
    return strategy


def plan(delivery: DeliveryConfig, strategy: str, steps: list[int] | None = None
         ) -> list[dict[str, Any]]:
    """The steps a rollout of `strategy` goes through before the candidate takes all traffic.
    Each: {kind, weight (share answered by the candidate), mirror, hold_s, min_requests}.
    An empty plan: switch at once (rolling)."""
    if steps is not None and strategy not in ("canary", "shadow"):
        raise InvalidInput(f"steps are for canary rollouts, not {strategy}",
                           "leave --steps out, or use --strategy canary")
    canary = delivery.canary
    weights = check_steps(steps) if steps is not None else canary.steps

    def canary_steps() -> list[dict[str, Any]]:
        return [{"kind": "canary", "weight": w / 100, "mirror": False, "hold_s": canary.hold_s,
                 "min_requests": canary.min_requests} for w in weights if w < 100]

    if strategy == "rolling":
        return []
    if strategy == "canary":
        return canary_steps()
    if strategy == "shadow":
        shadow = delivery.shadow
        mirror = [{"kind": "shadow", "weight": 0.0, "mirror": True, "hold_s": shadow.hold_s,
                   "min_requests": shadow.min_requests}]
        return mirror + (canary_steps() if shadow.then == "canary" or steps else [])
    if strategy == "blue-green":
        return [{"kind": "preview", "weight": 0.0, "mirror": False,
                 "hold_s": delivery.blue_green.preview_s, "min_requests": 0}]
    challenger = delivery.champion_challenger
    return [{"kind": "experiment", "weight": challenger.weight / 100, "mirror": False,
             "hold_s": challenger.hold_s, "min_requests": challenger.min_requests}]


def judge(window: dict[str, Any], step: dict[str, Any], config: AnalysisConfig,
          enough: bool) -> tuple[Verdict, list[str]]:
    """The verdict on one window of measurements of a step: fail (with what failed, the
    candidate compared with the champion over the same window), pass, or inconclusive (too
    little traffic: `enough` is False)."""
    stable, candidate, paired = window["stable"], window["candidate"], window["paired"]
    reasons: list[str] = []
    if candidate["requests"]:
        success = 1.0 - candidate["errors"] / candidate["requests"]
        champion_rate = (stable["errors"] / stable["requests"]) if stable["requests"] else 0.0
        if success < config.min_success_rate:
            reasons.append(f"success rate {success:.1%} is below {config.min_success_rate:.1%}")
        elif (1.0 - success) > champion_rate + config.max_error_rate_increase:
            reasons.append(f"error rate {1.0 - success:.1%} is above the champion's "
                           f"{champion_rate:.1%} (+{config.max_error_rate_increase:.1%})")
        p99 = candidate["latency_ms"].get("p99")
        champion_p99 = stable["latency_ms"].get("p99")
        if p99 is not None and p99 > config.max_p99_ms:
            reasons.append(f"p99 latency {p99:.0f} ms is above {config.max_p99_ms:.0f} ms")
        elif (p99 is not None and champion_p99 is not None
              and p99 > champion_p99 * config.max_latency_ratio
              and p99 - champion_p99 > config.latency_slack_ms):
            reasons.append(f"p99 latency {p99:.0f} ms is over {config.max_latency_ratio:g}x "
                           f"the champion's {champion_p99:.0f} ms")
    # an experiment's challenger is meant to answer differently: agreement is measured and
    # shown, and the experiment ends on the real metric or a person, not on agreement
    if paired["requests"] >= config.min_paired and step["kind"] != "experiment":
        agreement, mad = paired.get("agreement"), paired.get("mad")
        if agreement is not None and agreement < config.min_agreement:
            reasons.append(f"agrees with the champion on {agreement:.1%} of answers, below "
                           f"{config.min_agreement:.1%}")
        if mad is not None and mad > config.max_mad:
            reasons.append(f"scores differ from the champion's by {mad:.3f} on average, "
                           f"above {config.max_mad:g}")
    if reasons:
        return "fail", reasons
    if not enough:
        counted, how = ((paired["requests"], "were mirrored and compared") if step["mirror"]
                        else (candidate["requests"], "reached the candidate"))
        return "inconclusive", [f"too little traffic to judge: {counted} requests {how}, "
                                f"{step['min_requests']} needed"]
    return "pass", []
