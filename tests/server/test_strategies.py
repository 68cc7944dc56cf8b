"""The delivery strategies' pure parts (server/goldenpath_server/_strategies.py): which one a
promotion gets, the plan it follows, and the verdict on a window of measurements."""

from __future__ import annotations

from typing import Any

import pytest

from goldenpath_api.errors import Conflict, InvalidInput
from goldenpath_server._strategies import AnalysisConfig, DeliveryConfig, choose, judge, plan

ALL = ("rolling", "blue-green", "canary", "shadow", "champion-challenger")


def window(candidate: tuple[int, int, float] = (100, 0, 20.0),
           stable: tuple[int, int, float] = (100, 0, 20.0),
           paired: tuple[int, float | None, float | None] = (0, None, None)) -> dict[str, Any]:
    def variant(v: tuple[int, int, float]) -> dict[str, Any]:
        return {"requests": v[0], "errors": v[1], "latency_ms": {"p99": v[2]}}
    return {"candidate": variant(candidate), "stable": variant(stable),
            "paired": {"requests": paired[0], "agreement": paired[1], "mad": paired[2]}}


CANARY = {"kind": "canary", "weight": 0.1, "mirror": False, "hold_s": 1, "min_requests": 50}
SHADOW = {**CANARY, "kind": "shadow", "weight": 0.0, "mirror": True}
EXPERIMENT = {**CANARY, "kind": "experiment", "weight": 0.5}


def test_the_verdict_compares_the_candidate_with_the_champion_over_the_same_window() -> None:
    config = AnalysisConfig()
    assert judge(window(), CANARY, config, True) == ("pass", [])
    verdict, why = judge(window(candidate=(100, 5, 20.0)), CANARY, config, True)
    assert verdict == "fail" and why == ["success rate 95.0% is below 99.0%"]
    loose = AnalysisConfig(min_success_rate=0.9)
    # 5% errors against a champion's 1%: above it by more than the allowed 1%
    assert "above the champion's 1.0%" in judge(window((100, 5, 20.0), (100, 1, 20.0)),
                                                CANARY, loose, True)[1][0]
    assert judge(window((100, 5, 20.0), (100, 5, 20.0)), CANARY, loose, True)[0] == "pass"
    assert "above 500 ms" in judge(window(candidate=(100, 0, 900.0)), CANARY, config, True)[1][0]
    slower = judge(window(candidate=(100, 0, 60.0)), CANARY, config, True)
    assert slower[0] == "fail" and "over 1.5x the champion's 20 ms" in slower[1][0]
    # a difference under the slack is never "slower", whatever the ratio
    assert judge(window((100, 0, 4.0), (100, 0, 1.0)), CANARY, config, True)[0] == "pass"


def test_answers_must_agree_except_in_an_experiment() -> None:
    config = AnalysisConfig(min_paired=20)
    disagreeing = window(paired=(50, 0.8, None))
    assert "agrees with the champion on 80.0%" in judge(disagreeing, SHADOW, config, True)[1][0]
    assert judge(disagreeing, EXPERIMENT, config, True)[0] == "pass"
    assert "differ from the champion's by 0.200" in judge(window(paired=(50, None, 0.2)),
                                                          CANARY, config, True)[1][0]
    assert judge(window(paired=(10, 0.5, None)), SHADOW, config, True)[0] == "pass"  # too few


def test_too_little_traffic_is_inconclusive_and_says_what_was_counted() -> None:
    config = AnalysisConfig()
    verdict, why = judge(window(candidate=(3, 0, 20.0)), CANARY, config, False)
    assert verdict == "inconclusive" and why == [
        "too little traffic to judge: 3 requests reached the candidate, 50 needed"]
    _, why = judge(window(paired=(7, 1.0, None)), SHADOW, config, False)
    assert why == ["too little traffic to judge: 7 requests were mirrored and compared, "
                   "50 needed"]
    # a failure found in little traffic is still a failure
    assert judge(window(candidate=(3, 3, 20.0)), CANARY, config, False)[0] == "fail"


def test_the_environment_chooses_and_the_promotion_picks_among_what_it_allows() -> None:
    delivery = DeliveryConfig(default="shadow", allowed=["shadow", "canary"])
    assert choose(delivery, "prod", None, ALL) == "shadow"
    assert choose(delivery, "prod", "canary", ALL) == "canary"
    with pytest.raises(Conflict, match="prod does not allow the rolling strategy"):
        choose(delivery, "prod", "rolling", ALL)
    with pytest.raises(Conflict, match="cannot run a shadow rollout"):
        choose(delivery, "prod", "shadow", ("rolling", "canary"))
    with pytest.raises(InvalidInput, match="unknown delivery strategy"):
        choose(delivery, "prod", "big-bang", ALL)


def test_plans() -> None:
    delivery = DeliveryConfig()
    assert [s["weight"] for s in plan(delivery, "canary", [10, 50])] == [0.1, 0.5]  # then 100
    assert plan(delivery, "rolling") == []
    assert [s["kind"] for s in plan(delivery, "shadow")] == ["shadow"]
    then = DeliveryConfig(shadow={"then": "canary"})
    assert [s["kind"] for s in plan(then, "shadow")] == ["shadow"] + ["canary"] * 3
    assert plan(delivery, "blue-green")[0]["kind"] == "preview"
    assert plan(delivery, "champion-challenger")[0]["weight"] == 0.5
    with pytest.raises(ValueError, match="must rise"):
        plan(delivery, "canary", [50, 10])
    with pytest.raises(InvalidInput, match="steps are for canary rollouts"):
        plan(delivery, "blue-green", [10])
