"""Every /goldenpath/ handler against a real promotion server, through Jupyter's auth."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import requests
from _platform import Platform


def _json(response: Any) -> Any:
    return json.loads(response.body or b"null")


async def _wait_status(jp_fetch: Any, service: str, env: str, want: str,
                       timeout: float = 120) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    state: dict[str, Any] = {}
    while asyncio.get_running_loop().time() < deadline:
        r = await jp_fetch("goldenpath", "api", "services", service, "environments", env,
                           raise_error=False)
        state = _json(r)
        if r.code == 200 and state["status"] == want:
            return state
        await asyncio.sleep(0.5)
    raise AssertionError(f"{service} in {env} never became {want}: {state}")


async def test_config_reports_the_server_but_never_the_token(jp_fetch: Any,
                                                             platform: Platform) -> None:
    r = await jp_fetch("goldenpath", "config")
    body = _json(r)
    assert body["server"] == platform.url
    assert body["reachable"] is True
    assert body["token"] is True
    assert platform.delegation not in r.body.decode()


async def test_lists_services_grouped_data(jp_fetch: Any) -> None:
    body = _json(await jp_fetch("goldenpath", "api", "services"))
    iris = next(s for s in body["services"] if s["name"] == "iris")
    dev = next(d for d in iris["deployments"] if d["environment"] == "dev")
    assert dev["status"] == "live"
    assert dev["url"].startswith("http://127.0.0.1:")


async def test_service_detail_events_and_logs(jp_fetch: Any) -> None:
    service = _json(await jp_fetch("goldenpath", "api", "services", "iris"))
    assert service["releases"][0]["schema"]["kind"] == "dataframe"
    events = _json(await jp_fetch("goldenpath", "api", "events",
                                  params={"service": "iris", "after": "0", "limit": "5"}))
    assert 0 < len(events["events"]) <= 5
    assert {e["service"] for e in events["events"]} == {"iris"}
    logs = _json(await jp_fetch("goldenpath", "api", "services", "iris", "environments", "dev",
                                "logs", params={"tail": "20"}))
    assert isinstance(logs["lines"], list)


async def test_predict_through_the_proxy(jp_fetch: Any) -> None:
    row = {"sepal length (cm)": 5.1, "sepal width (cm)": 3.5, "petal length (cm)": 1.4,
           "petal width (cm)": 0.2}
    r = await jp_fetch("goldenpath", "predict", "iris", "dev", method="POST",
                       body=json.dumps({"inputs": [row]}))
    assert _json(r)["predictions"] == [0]


async def test_predict_with_wrong_inputs_explains_the_schema(jp_fetch: Any) -> None:
    r = await jp_fetch("goldenpath", "predict", "iris", "dev", method="POST",
                       body=json.dumps({"inputs": [[1.0, 2.0]]}), raise_error=False)
    assert r.code == 400
    assert "4" in r.body.decode() or "column" in r.body.decode()


async def test_predict_needs_a_deployment(jp_fetch: Any) -> None:
    r = await jp_fetch("goldenpath", "predict", "iris", "prod", method="POST",
                       body=json.dumps({"inputs": [[1, 2, 3, 4]]}), raise_error=False)
    assert r.code == 404
    assert _json(r)["code"]


async def test_promote_adds_the_token_the_server_requires(jp_fetch: Any,
                                                          platform: Platform) -> None:
    service = _json(await jp_fetch("goldenpath", "api", "services", "iris"))
    release = next(d for d in service["deployments"] if d["environment"] == "dev")["release_id"]
    # the server itself refuses the same request without the token ...
    direct = requests.post(f"{platform.url}/api/v1/releases/{release}/deployments",
                           json={"environment": "staging"}, timeout=10)
    assert direct.status_code == 401
    # ... and accepts it through the proxy, which adds the token and the user name
    r = await jp_fetch("goldenpath", "api", "releases", release, "deployments", method="POST",
                       body=json.dumps({"environment": "staging"}))
    assert r.code == 202
    assert _json(r)["environment"] == "staging"
    live = await _wait_status(jp_fetch, "iris", "staging", "live")
    assert live["release_id"] == release
    events = _json(await jp_fetch("goldenpath", "api", "events", params={"service": "iris"}))
    assert any("ada" in e["message"] and e["environment"] == "staging"
               for e in events["events"])
    # DELETE is proxied too: take it out of staging again
    r = await jp_fetch("goldenpath", "api", "services", "iris", "environments", "staging",
                       method="DELETE")
    assert r.code == 204


async def test_server_errors_pass_through_as_json(jp_fetch: Any) -> None:
    r = await jp_fetch("goldenpath", "api", "services", "iris", "environments", "dev",
                       "rollback", method="POST", body="{}", raise_error=False)
    assert r.code in (404, 409)
    body = _json(r)
    assert body["code"] and body["message"] and "hint" in body
    missing = await jp_fetch("goldenpath", "api", "services", "nope", raise_error=False)
    assert missing.code == 404
    assert _json(missing)["code"] == "not_found"


async def test_me_and_environments_pass_through(jp_fetch: Any) -> None:
    me = _json(await jp_fetch("goldenpath", "api", "me"))
    assert me["user"] == "ada"  # the signed-in user, named under the delegation token
    assert me["delegated_by"] == "jupyter" and me["roles"] == {"*": "approver"}
    envs = _json(await jp_fetch("goldenpath", "api", "environments"))
    assert [e["name"] for e in envs["environments"]] == ["dev", "staging", "prod"]


async def test_approve_a_waiting_promotion_through_the_proxy(jp_fetch: Any,
                                                             platform: Platform) -> None:
    waiting = platform.request_promotion("iris", "dev", "prod", user="bob")
    assert waiting["status"] == "waiting_for_approval"
    listed = _json(await jp_fetch("goldenpath", "api", "promotions",
                                  params={"status": "waiting_for_approval", "service": "iris"}))
    assert [p["id"] for p in listed["promotions"]] == [waiting["id"]]
    r = await jp_fetch("goldenpath", "api", "releases", waiting["release_id"], "approvals",
                       method="POST", body=json.dumps({"environment": "prod",
                                                       "decision": "approve",
                                                       "comment": "metrics look fine"}))
    assert r.code in (200, 202)
    await _wait_status(jp_fetch, "iris", "prod", "live")
    events = _json(await jp_fetch("goldenpath", "api", "events", params={"service": "iris"}))
    assert any(e["type"] == "approval_granted" and "ada" in e["message"]
               for e in events["events"])
    r = await jp_fetch("goldenpath", "api", "services", "iris", "environments", "prod",
                       method="DELETE")
    assert r.code == 204


async def test_four_eyes_refusal_comes_back_with_its_hint(jp_fetch: Any,
                                                          platform: Platform) -> None:
    service = _json(await jp_fetch("goldenpath", "api", "services", "iris"))
    release = next(d for d in service["deployments"] if d["environment"] == "dev")["release_id"]
    r = await jp_fetch("goldenpath", "api", "releases", release, "promotions", method="POST",
                       body=json.dumps({"environment": "prod"}))
    assert _json(r)["status"] == "waiting_for_approval"  # ada asked ...
    r = await jp_fetch("goldenpath", "api", "releases", release, "approvals", method="POST",
                       body=json.dumps({"environment": "prod", "decision": "approve"}),
                       raise_error=False)
    assert r.code == 403  # ... so ada may not approve it
    body = _json(r)
    assert "four eyes" in body["message"] and body["hint"]
    reject = platform.api("POST", f"releases/{release}/approvals",
                          {"environment": "prod", "decision": "reject"}, user="bob")
    assert reject["status"] == "rejected"


@pytest.mark.parametrize("parts", [["api", "..", "healthz"], ["api", "services", ".", "x"]])
async def test_refuses_paths_outside_the_api(jp_fetch: Any, parts: list[str]) -> None:
    r = await jp_fetch("goldenpath", *parts, raise_error=False)
    assert r.code in (400, 404)


async def test_refuses_a_body_that_is_not_json(jp_fetch: Any) -> None:
    r = await jp_fetch("goldenpath", "api", "releases", "x", "deployments", method="POST",
                       body="not json", raise_error=False)
    assert r.code == 400
    assert _json(r)["code"] == "invalid_json"


@pytest.mark.parametrize(("method", "parts", "body"), [
    ("GET", ["config"], None),
    ("GET", ["api", "services"], None),
    ("POST", ["api", "releases", "x", "deployments"], "{}"),
    ("DELETE", ["api", "services", "iris", "environments", "staging"], None),
    ("POST", ["predict", "iris", "dev"], "{}"),
])
async def test_every_handler_requires_jupyter_auth(jp_fetch: Any, method: str,
                                                   parts: list[str], body: str | None) -> None:
    r = await jp_fetch("goldenpath", *parts, method=method, body=body, raise_error=False,
                       headers={"Authorization": "token not-the-jupyter-token"},
                       follow_redirects=False)
    assert r.code in (302, 403), r.code
    assert r.code == 403 or "/login" in r.headers.get("Location", "")
