"""Following the platform: signed webhooks, the server-sent event stream, /metrics."""

from __future__ import annotations

import hashlib
import hmac
import json
import warnings
from pathlib import Path
from typing import Any

import pytest

from goldenpath import errors
from goldenpath_server import Platform, create_app
from goldenpath_server._access import Principal
from tests.server.conftest import GOVERNED_CONFIG, make_platform, wait_until

with warnings.catch_warnings():  # starlette asks for `httpx2`; httpx works the same here
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

IMAGE = "registry.example/events@sha256:" + "e" * 64
ALICE = Principal("alice", {"shop": "submitter"})
BOB = Principal("bob", {"shop": "approver"})
SECRET = "webhook-secret"


def _governed(tmp_path: Path, extra: str = "") -> Platform:
    config = tmp_path / "goldenpath.yaml"
    config.write_text(GOVERNED_CONFIG + extra)
    return make_platform(tmp_path, config=config)


def _ship(platform: Platform, to: str = "prod") -> dict[str, Any]:
    release = platform.releases.create_app_release("events", IMAGE, 80, actor=ALICE, team="shop",
                                          resources={"cpu": 1, "memory_gb": 1})
    platform.promotions.attach_evidence(release["id"], {"test_report": "r", "review": "r"},
                                        actor=ALICE)
    platform.promotions.promote(release["id"], to, actor=ALICE)
    if to == "prod":
        platform.promotions.decide(release["id"], "prod", "approve", actor=BOB)
    wait_until(lambda: platform.rollouts.status("events", to)["release_id"] == release["id"]
               and platform.rollouts.status("events", to)["status"] == "live")
    return release


def test_webhooks_are_signed_and_filtered(tmp_path: Path,
                                          receiver: tuple[str, list[dict[str, Any]]]) -> None:
    url, received = receiver
    platform = _governed(tmp_path, f"""
outbound_allow: [127.0.0.1]
webhooks:
  - {{url: "{url}", secret: {SECRET}, events: [approval_granted, rollout_succeeded]}}
""")
    try:
        release = _ship(platform)
        wait_until(lambda: len(received) >= 2)
        kinds = [r["headers"]["X-Goldenpath-Event"] for r in received]
        assert kinds == ["approval_granted", "rollout_succeeded"]
        for delivery in received:
            expected = "sha256=" + hmac.new(SECRET.encode(), delivery["body"],
                                            hashlib.sha256).hexdigest()
            assert delivery["headers"]["X-Goldenpath-Signature"] == expected
            event = json.loads(delivery["body"])
            assert event["release_id"] == release["id"]
            assert delivery["headers"]["X-Goldenpath-Delivery"] == str(event["seq"])
    finally:
        platform.close()


def test_the_event_stream_sends_every_state_change(tmp_path: Path) -> None:
    platform = _governed(tmp_path)
    with TestClient(create_app(platform.settings, platform=platform)) as client:
        release = _ship(platform, "dev")
        seen: list[dict[str, Any]] = []
        with client.stream("GET", "/api/v1/events/stream?after=0&service=events") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            for line in stream.iter_lines():
                if line.startswith("data: "):
                    seen.append(json.loads(line.removeprefix("data: ")))
                if seen and seen[-1]["type"] == "rollout_succeeded":
                    break
        kinds = [e["type"] for e in seen]
        assert kinds[0] == "release_created" and "policy_evaluated" in kinds
        assert all(e["release_id"] == release["id"] for e in seen)
        assert [e["seq"] for e in seen] == sorted(e["seq"] for e in seen)
        resumed: list[str] = []
        with client.stream("GET", "/api/v1/events/stream",
                           headers={"Last-Event-ID": str(seen[0]["seq"])}) as stream:
            for line in stream.iter_lines():
                if line.startswith("id: "):
                    resumed.append(line.removeprefix("id: "))
                    break
        assert resumed == [str(seen[0]["seq"] + 1)]


def test_metrics_by_track(tmp_path: Path) -> None:
    platform = _governed(tmp_path)
    try:
        _ship(platform)
        _ship(platform)
        platform.rollouts.rollback("events", "prod", actor=BOB)
        wait_until(lambda: platform.rollouts.status("events", "prod")["status"] == "live"
                   and any(e["type"] == "rollout_succeeded" and e["data"].get("url")
                           for e in platform.oversight.events("events")[-2:]))
        with pytest.raises(errors.PolicyDenied):  # no resources, no test report: denied
            platform.promotions.promote(platform.releases.create_app_release(
                "events", IMAGE, 80, actor=ALICE)["id"], "staging", actor=ALICE)
        text = platform.oversight.metrics().decode()
        assert 'goldenpath_deployments_total{environment="prod",track="app"} 3.0' in text
        assert 'goldenpath_rollbacks_total{environment="prod",track="app"} 1.0' in text
        assert 'goldenpath_change_failure_rate{environment="prod",track="app"} 0.333' in text
        assert 'goldenpath_lead_time_seconds_count{track="app"} 2.0' in text
        assert 'goldenpath_time_to_restore_seconds_count{track="app"} 1.0' in text
        assert ('goldenpath_policy_evaluations_total{environment="staging",outcome="fail",'
                'track="app"} 1.0') in text
        assert 'goldenpath_policy_compliance_ratio{track="app"} 0.666' in text
    finally:
        platform.close()
