"""Progressive delivery on the local target, with real traffic: a real promotion server, real
serving processes, requests over fresh connections to the stable URL while the progression
runs. Each strategy's split or mirror is measured from the answers' X-Goldenpath-Variant
header, and a bad candidate (errors, slower, answers differently) is rolled back by the
analysis alone."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests

from tests._servers import ServerProcess, sdk_pointed_at, start_server, stop_model_processes

# prod: short steps, so a test sees a whole progression; a loose absolute p99 so only the
# comparison with the champion can catch the slower candidate. qa: steps that last until a
# person acts. quiet: a canary nobody sends traffic to.
CONFIG = """
policy_files: [builtin, delivery-policies.yaml]
environments:
  dev: {}
  prod:
    delivery:
      canary: {steps: [20, 50, 100], hold_s: 2, min_requests: 15}
      shadow: {hold_s: 2, min_requests: 30}
      blue_green: {preview_s: 1, keep_warm_s: 120}
      champion_challenger: {weight: 50, hold_s: 2, min_requests: 20}
      analysis: {min_paired: 10, max_p99_ms: 5000, latency_slack_ms: 100}
  qa:
    delivery:
      default: canary
      allowed: [rolling, canary]
      canary: {steps: [30, 100], hold_s: 600, min_requests: 5}
  lab:
    delivery:
      champion_challenger: {weight: 50, hold_s: 4, min_requests: 20, decide_on: accuracy,
                            min_outcomes: 20}
  guarded:
    policies:
      actions: {shadowed-enough: enforce}
    delivery:
      allowed: [rolling, shadow]
      shadow: {hold_s: 2, min_requests: 30}
      analysis: {min_paired: 10, min_agreement: 0.8, latency_slack_ms: 200}
  quiet:
    delivery:
      canary: {steps: [50, 100], hold_s: 1, min_requests: 50}
      analysis: {max_wait_factor: 2}
"""
# prod-like rule over the server's own measurements: a model shadows first, and agrees
SWITCH_POLICY = """
policies:
  - name: shadowed-enough
    track: model
    at: switch
    expression: rollout.shadow.requests >= 30.0 && rollout.shadow.agreement >= 0.99
    message: the model did not shadow enough live requests in agreement with the champion
    detail: >-
      "shadowed " + string(rollout.shadow.requests) + " requests, agreement "
      + string(rollout.shadow.agreement)
    hint: promote it with --strategy shadow
"""
SAMPLE = np.array([[0.1, 0.1], [0.9, 0.2], [0.6, 0.3]])
VARIANT = "X-Goldenpath-Variant"


class Threshold:
    """Predicts x0 > cut; optionally slow, optionally failing on rows with x1 > fail_above."""

    def __init__(self, cut: float, delay: float = 0.0, fail_above: float | None = None) -> None:
        self.cut, self.delay, self.fail_above = cut, delay, fail_above

    def predict(self, X: Any) -> Any:
        X = np.asarray(X, dtype=float)
        if self.delay:
            time.sleep(self.delay)
        if self.fail_above is not None and (X[:, 1] > self.fail_above).any():
            raise ValueError("this release fails on large x1")
        return (X[:, 0] > self.cut).astype(int)


class Traffic:
    """Clients of the stable URL: one request per fresh connection, every answer kept."""

    def __init__(self, url: str, clients: int = 2, pause_s: float = 0.01) -> None:
        self.url, self.pause_s = url, pause_s
        self.answers: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._send, args=(n,), daemon=True)
                         for n in range(clients)]

    def __enter__(self) -> Traffic:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def _send(self, seed: int) -> None:
        rng = random.Random(seed)
        while not self._stop.is_set():
            row = [rng.random(), rng.random()]
            try:
                response = requests.post(f"{self.url}/predict", json={"inputs": [row]},
                                         timeout=30)
                answer = {"row": row, "status": response.status_code,
                          "variant": response.headers.get(VARIANT, ""), "at": time.time(),
                          "request_id": response.headers.get("X-Request-Id", ""),
                          "predictions": (response.json().get("predictions")
                                          if response.ok else None)}
            except requests.RequestException as exc:
                answer = {"row": row, "status": 0, "variant": "", "at": time.time(),
                          "error": repr(exc)}
            self.answers.append(answer)
            time.sleep(self.pause_s)

    def since(self, t: float) -> list[dict[str, Any]]:
        return [a for a in list(self.answers) if a["at"] >= t]


@pytest.fixture(scope="module")
def delivery_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("progressive")
    config = tmp / "goldenpath.yaml"
    config.write_text(CONFIG)
    (tmp / "delivery-policies.yaml").write_text(SWITCH_POLICY)
    server = start_server(tmp, {"GOLDENPATH_CONFIG": str(config)})
    yield server
    server.stop()
    stop_model_processes(server.home)


@pytest.fixture()
def gp(delivery_server: ServerProcess) -> Iterator[Any]:
    with sdk_pointed_at(delivery_server) as goldenpath:
        yield goldenpath


def wait_for(check: Callable[[], Any], timeout: float = 120, every: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"not within {timeout} s")


def live_in(gp: Any, name: str, env: str, model: Any) -> Any:
    """v1 of `name` live in `env` (its first release there rolls out at once)."""
    first = gp.deploy(model, name=name, sample=SAMPLE, quiet=True)
    return first.promote(env) if env != "dev" else first


def settled(rollout: Any) -> Any:
    rollout.refresh()
    return rollout if rollout.status in ("succeeded", "aborted") else None


def events(server: ServerProcess, name: str) -> list[dict[str, Any]]:
    answer = requests.get(f"{server.url}/api/v1/events", params={"service": name,
                                                                 "limit": 1000}, timeout=10)
    answer.raise_for_status()
    return list(answer.json()["events"])


def audit_intact(server: ServerProcess) -> bool:
    return bool(requests.get(f"{server.url}/api/v1/audit/verify", timeout=30).json()["ok"])


def test_a_good_canary_steps_through_its_weights_and_goes_live(
        gp: Any, delivery_server: ServerProcess) -> None:
    v1 = live_in(gp, "pd-good", "prod", Threshold(0.5))
    v2 = gp.deploy(Threshold(0.5), name="pd-good", sample=SAMPLE, quiet=True)
    with Traffic(v1.url) as traffic:
        started = time.time()
        rolling = v2.promote("prod", strategy="canary", wait=False)
        assert rolling.state.strategy == "canary"
        rollout = wait_for(lambda: settled(rolling.rollout()), timeout=180)
    assert rollout.status == "succeeded", rollout.message
    now = gp.get("pd-good", "prod")
    assert now.release_id == v2.release_id and now.state.status == "live"
    # each step's window was measured and passed, at the weight it was planned for
    windows = rollout.windows
    assert [w.weight for w in windows] == [0.2, 0.5]
    assert all(w.verdict == "pass" for w in windows)
    assert all(w.candidate.requests >= 15 for w in windows)
    # the split as clients saw it: the canary answered a share near each step's weight
    answers = traffic.since(started)
    assert all(a["status"] == 200 for a in answers), Counter(a["status"] for a in answers)
    routed = Counter(a["variant"] for a in answers if a["variant"])
    share = routed["candidate"] / (routed["candidate"] + routed["stable"])
    assert 0.12 < share < 0.6, routed  # between the steps' 20% and 50%
    kinds = [e["type"] for e in events(delivery_server, "pd-good")]
    for kind in ("progression_started", "analysis_measured", "progression_step",
                 "progression_switched", "rollout_succeeded"):
        assert kind in kinds
    assert audit_intact(delivery_server)


def test_a_canary_that_errors_on_some_requests_is_rolled_back_without_a_human(
        gp: Any, delivery_server: ServerProcess) -> None:
    v1 = live_in(gp, "pd-errors", "prod", Threshold(0.5))
    v2 = gp.deploy(Threshold(0.5, fail_above=0.7), name="pd-errors", sample=SAMPLE,
                   quiet=True)
    with Traffic(v1.url):
        canary = v2.promote("prod", strategy="canary", wait=False)
        rollout = wait_for(lambda: settled(canary.rollout()), timeout=180)
    assert rollout.status == "aborted"
    assert "success rate" in rollout.message and "below 99.0%" in rollout.message
    last = rollout.windows[-1]
    assert last.verdict == "fail" and last.candidate.errors > 0 and last.stable.errors == 0
    now = gp.get("pd-errors", "prod")
    assert now.release_id == v1.release_id and now.state.status == "live"
    failed = [e for e in events(delivery_server, "pd-errors") if e["type"] == "rollout_failed"]
    assert failed[-1]["data"]["code"] == "analysis_failed"
    # every request after the abort is answered by the stable release again
    assert requests.post(f"{v1.url}/predict", json={"inputs": [[0.9, 0.9]]},
                         timeout=10).json()["predictions"] == [1]
    assert audit_intact(delivery_server)


def test_a_slower_canary_is_rolled_back_by_its_latency_against_the_champion(
        gp: Any, delivery_server: ServerProcess) -> None:
    v1 = live_in(gp, "pd-slow", "prod", Threshold(0.5))
    v2 = gp.deploy(Threshold(0.5, delay=0.5), name="pd-slow", sample=SAMPLE, quiet=True)
    with Traffic(v1.url, clients=3):
        there = v2.promote("prod", strategy="canary", wait=False)
        rollout = wait_for(lambda: settled(there.rollout()), timeout=240)
    assert rollout.status == "aborted"
    # prod's absolute p99 limit is 5 s: only the comparison over the same window caught it
    assert "p99 latency" in rollout.message and "the champion's" in rollout.message
    last = rollout.windows[-1]
    assert last.candidate.latency_ms.p99 > 1.5 * last.stable.latency_ms.p99
    assert gp.get("pd-slow", "prod").release_id == v1.release_id


def test_a_shadow_that_answers_differently_is_rolled_back_and_users_only_saw_the_champion(
        gp: Any, delivery_server: ServerProcess) -> None:
    v1 = live_in(gp, "pd-shadow", "prod", Threshold(0.5))
    v2 = gp.deploy(Threshold(0.2), name="pd-shadow", sample=SAMPLE, quiet=True)
    with Traffic(v1.url) as traffic:
        started = time.time()
        there = v2.promote("prod", strategy="shadow", wait=False)
        rollout = wait_for(lambda: settled(there.rollout()), timeout=180)
    assert rollout.strategy == "shadow" and rollout.status == "aborted"
    assert "agrees with the champion on" in rollout.message
    paired = rollout.windows[-1].paired
    # the candidate says 1 where 0.2 < x0 <= 0.5: about 30% of uniform rows disagree
    assert paired.requests >= 10 and 0.5 < paired.agreement < 0.9
    answers = [a for a in traffic.since(started) if a["status"] == 200]
    assert answers
    # mirrored, never answered by the candidate: every answer is the champion's
    assert {a["variant"] for a in answers} <= {"stable", ""}
    assert all(a["predictions"] == [int(a["row"][0] > 0.5)] for a in answers)
    assert gp.get("pd-shadow", "prod").release_id == v1.release_id


def test_champion_challenger_splits_measures_each_variant_and_ends_in_a_decision(
        gp: Any, delivery_server: ServerProcess) -> None:
    v1 = live_in(gp, "pd-ab", "prod", Threshold(0.5))
    v2 = gp.deploy(Threshold(0.5), name="pd-ab", sample=SAMPLE, quiet=True)
    with Traffic(v1.url) as traffic:
        started = time.time()
        there = v2.promote("prod", strategy="champion-challenger", wait=False)
        rollout = wait_for(lambda: (r := there.rollout()).status == "paused" and r, timeout=180)
        answers = traffic.since(started)
    # the experiment ended: per-variant measurements, and a person decides
    assert "experiment ended" in rollout.message
    window = rollout.windows[-1]
    assert window.verdict == "pass" and window.candidate.requests >= 20
    assert window.stable.requests > 0 and window.candidate.predictions["labels"]
    routed = Counter(a["variant"] for a in answers if a["variant"])
    assert 0.3 < routed["candidate"] / (routed["candidate"] + routed["stable"]) < 0.7, routed
    rollout.promote("the challenger is as good; it takes over")
    assert gp.get("pd-ab", "prod").release_id == v2.release_id


def test_an_experiment_set_to_decide_on_accuracy_ends_on_the_outcomes_sent_later(
        gp: Any, delivery_server: ServerProcess) -> None:
    v1 = live_in(gp, "pd-truth", "lab", Threshold(0.5))
    v2 = gp.deploy(Threshold(0.3), name="pd-truth", sample=SAMPLE, quiet=True)

    def truth(row: list[float]) -> int:  # the world's boundary is 0.3: v2 is right
        return int(row[0] > 0.3)

    sent: set[str] = set()
    with Traffic(v1.url) as traffic:
        there = v2.promote("lab", strategy="champion-challenger", wait=False)
        rollout = wait_for(lambda: (r := there.rollout()).status == "progressing" and r)
        while rollout.status == "progressing":  # a labelling job, a little behind the traffic
            fresh = [a for a in list(traffic.answers)
                     if a["request_id"] and a["request_id"] not in sent and a["status"] == 200]
            if fresh:
                receipt = rollout.send_outcomes({a["request_id"]: truth(a["row"])
                                                 for a in fresh})
                assert receipt.matched > 0  # those before the split began are not known
                sent.update(a["request_id"] for a in fresh)
            time.sleep(0.5)
            rollout.refresh()
        wait_for(lambda: settled(rollout))
    assert rollout.status == "succeeded", rollout.message
    assert "the challenger won the experiment: accuracy" in rollout.message
    scored = rollout.state.ground_truth
    assert scored["candidate"].accuracy == 1.0
    assert 0.6 < scored["stable"].accuracy < 0.95  # wrong where 0.3 < x0 <= 0.5
    assert gp.get("pd-truth", "lab").release_id == v2.release_id
    recorded = [e for e in events(delivery_server, "pd-truth")
                if e["type"] == "outcomes_recorded"]
    assert recorded and all("declared by" in e["message"] for e in recorded)
    with pytest.raises(gp.errors.Conflict, match="no progressive rollout running"):
        rollout.send_outcomes({"not-routed": 1})


def test_a_switch_policy_requires_a_shadow_and_reads_what_the_server_measured(
        gp: Any, delivery_server: ServerProcess) -> None:
    v1 = live_in(gp, "pd-policy", "guarded", Threshold(0.5))  # a first release: no champion
    v2 = gp.deploy(Threshold(0.5), name="pd-policy", sample=SAMPLE, quiet=True)
    # rolling switches at once, with nothing measured: the switch rule refuses it up front
    with pytest.raises(gp.errors.PolicyDenied, match="shadowed-enough.*shadowed 0"):
        v2.promote("guarded", strategy="rolling")
    with Traffic(v1.url):
        there = v2.promote("guarded", strategy="shadow", wait=False)
        rollout = wait_for(lambda: settled(there.rollout()), timeout=180)
    assert rollout.status == "succeeded", rollout.message
    evidence = requests.get(f"{delivery_server.url}/api/v1/releases/{v2.release_id}/evidence",
                            timeout=10).json()
    shadow = evidence["delivery"]["environments"]["guarded"]["shadow"]
    assert shadow["requests"] >= 30 and shadow["agreement"] == 1.0
    assert evidence["sources"]["delivery"]["source"] == "server"
    # v3 answers differently on 10% of rows: within the analysis (80%), not the policy (99%)
    v3 = gp.deploy(Threshold(0.4), name="pd-policy", sample=SAMPLE, quiet=True)
    with Traffic(v1.url):
        there = v3.promote("guarded", strategy="shadow", wait=False)
        rollout = wait_for(lambda: settled(there.rollout()), timeout=180)
    assert rollout.status == "aborted" and "shadowed-enough" in rollout.message
    assert gp.get("pd-policy", "guarded").release_id == v2.release_id
    failed = [e for e in events(delivery_server, "pd-policy") if e["type"] == "rollout_failed"]
    assert failed[-1]["data"]["code"] == "policy_denied"
    switch = [e for e in events(delivery_server, "pd-policy")
              if e["type"] == "policy_evaluated" and e["data"].get("at") == "switch"]
    assert [e["data"]["outcome"] for e in switch] == ["pass", "fail"]
    assert audit_intact(delivery_server)


def test_blue_green_serves_a_preview_then_switches_and_switches_back_to_the_warm_release(
        gp: Any, delivery_server: ServerProcess) -> None:
    v1 = live_in(gp, "pd-bg", "prod", Threshold(0.5))
    v2 = gp.deploy(Threshold(0.2), name="pd-bg", sample=SAMPLE, quiet=True)
    probe = {"inputs": [[0.3, 0.1]]}  # v1 says 0, v2 says 1
    there = v2.promote("prod", strategy="blue-green", wait=False)
    rollout = wait_for(lambda: (r := there.rollout()).state.preview_url and r, timeout=120)
    preview = rollout.state.preview_url
    assert preview != v1.url
    # before the switch, the preview answers with v2 and the stable URL still with v1
    assert requests.post(f"{preview}/predict", json=probe, timeout=10).json()[
        "predictions"] == [1]
    assert requests.post(f"{v1.url}/predict", json=probe, timeout=10).json()[
        "predictions"] in ([0], [1])  # the switch may already have happened
    wait_for(lambda: settled(rollout), timeout=120)
    assert rollout.status == "succeeded"
    assert requests.post(f"{v1.url}/predict", json=probe, timeout=10).json()[
        "predictions"] == [1]
    back = gp.rollback("pd-bg", "prod")
    assert back.release_id == v1.release_id
    assert requests.post(f"{v1.url}/predict", json=probe, timeout=10).json()[
        "predictions"] == [0]
    notes = [e["message"] for e in events(delivery_server, "pd-bg")
             if e["type"] == "rollout_progress"]
    assert any("kept warm" in n for n in notes), notes  # no new process was started


def test_people_pause_resume_promote_and_abort_a_canary(
        gp: Any, delivery_server: ServerProcess) -> None:
    v1 = live_in(gp, "pd-people", "qa", Threshold(0.5))
    v2 = gp.deploy(Threshold(0.5), name="pd-people", sample=SAMPLE, quiet=True)
    there = v2.promote("qa", wait=False)  # qa's default strategy: canary, steps of 10 minutes
    rollout = wait_for(lambda: (r := there.rollout()).status == "progressing" and r)
    assert rollout.strategy == "canary" and rollout.weight == pytest.approx(0.3)
    service = requests.get(f"{delivery_server.url}/api/v1/services/pd-people", timeout=10)
    (qa,) = [d for d in service.json()["deployments"] if d["environment"] == "qa"]
    assert (qa["strategy"], qa["progression"]) == ("canary", "progressing")
    assert rollout.pause("looking at the dashboards").status == "paused"
    with pytest.raises(gp.errors.Conflict, match="already paused"):
        rollout.pause()
    assert rollout.resume().status == "progressing"
    rollout = rollout.promote("looks fine, skip the rest")
    assert rollout.status == "succeeded"
    assert gp.get("pd-people", "qa").release_id == v2.release_id
    # a third release: aborted by a person, v2 stays
    v3 = gp.deploy(Threshold(0.4), name="pd-people", sample=SAMPLE, quiet=True)
    there = v3.promote("qa", wait=False)
    rollout = wait_for(lambda: (r := there.rollout()).status == "progressing"
                       and r.state.candidate_release_id == v3.release_id and r)
    assert rollout.abort("not today").status == "aborted"
    assert gp.get("pd-people", "qa").release_id == v2.release_id
    kinds = [(e["type"], e["actor"]) for e in events(delivery_server, "pd-people")]
    for kind in ("progression_paused", "progression_resumed", "progression_switched"):
        assert any(k == kind and actor != "system" for k, actor in kinds), kind
    with pytest.raises(gp.errors.Conflict, match="does not allow the shadow strategy"):
        v3.promote("qa", strategy="shadow")
    assert v1.release_id != v2.release_id


def test_a_canary_without_traffic_is_inconclusive_and_pauses_for_a_person(
        gp: Any, delivery_server: ServerProcess) -> None:
    live_in(gp, "pd-quiet", "quiet", Threshold(0.5))
    v2 = gp.deploy(Threshold(0.5), name="pd-quiet", sample=SAMPLE, quiet=True)
    there = v2.promote("quiet", strategy="canary", wait=False)
    rollout = wait_for(lambda: (r := there.rollout()).status == "paused" and r, timeout=120)
    assert "too little traffic to judge" in rollout.message
    assert rollout.windows[-1].verdict == "inconclusive"
    paused = [e for e in events(delivery_server, "pd-quiet")
              if e["type"] == "progression_paused"]
    assert paused and paused[-1]["actor"] == "system"
    assert gp.get("pd-quiet", "quiet").state.status == "rolling_out"  # still: nobody decided
    assert rollout.abort().status == "aborted"


def test_a_canary_keeps_its_step_and_its_split_across_a_server_restart(tmp_path: Path) -> None:
    config = tmp_path / "goldenpath.yaml"
    config.write_text(CONFIG)
    (tmp_path / "delivery-policies.yaml").write_text(SWITCH_POLICY)
    server = start_server(tmp_path, {"GOLDENPATH_CONFIG": str(config)})
    try:
        with sdk_pointed_at(server) as goldenpath:
            v1 = live_in(goldenpath, "pd-restart", "qa", Threshold(0.5))
            v2 = goldenpath.deploy(Threshold(0.5), name="pd-restart", sample=SAMPLE, quiet=True)
            there = v2.promote("qa", wait=False)
            wait_for(lambda: there.rollout().status == "progressing")
            server.kill()
            server.start()
            rollout = wait_for(lambda: (r := there.rollout()).status == "progressing" and r)
            assert rollout.state.step == 0 and rollout.weight == pytest.approx(0.3)
            with Traffic(v1.url) as traffic:
                wait_for(lambda: len(traffic.answers) >= 60, timeout=60)
            routed = Counter(a["variant"] for a in traffic.answers if a["status"] == 200)
            assert routed["candidate"] and routed["stable"], routed  # split again after restart
            assert rollout.promote().status == "succeeded"
            assert goldenpath.get("pd-restart", "qa").release_id == v2.release_id
    finally:
        server.stop()
        stop_model_processes(server.home)
