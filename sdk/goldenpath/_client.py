"""The HTTP client for the promotion server (requests); errors come back as goldenpath errors."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import requests

from goldenpath._config import Config, current
from goldenpath.errors import DeploymentFailed, ParityError, ServerUnreachable, from_response


class Client:
    def __init__(self, config: Config | None = None) -> None:
        self.config = config or current()
        self.http = requests.Session()
        if self.config.token:
            self.http.headers["Authorization"] = f"Bearer {self.config.token}"
        if self.config.user:
            self.http.headers["X-Goldenpath-User"] = self.config.user

    @property
    def base(self) -> str:
        return self.config.server.rstrip("/")

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", self.config.timeout)
        url = f"{self.base}{path}"
        try:
            response = self.http.request(method, url, **kwargs)
        except requests.ConnectionError:
            raise ServerUnreachable(
                f"could not reach the goldenpath server at {self.base}",
                "start one with `goldenpath server`, or point the SDK at yours with "
                "gp.configure(server='http://...') / GOLDENPATH_SERVER") from None
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = {"message": response.text[:500] or response.reason}
            raise from_response(response.status_code, body if isinstance(body, dict) else {})
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def pages(self, path: str, key: str, params: dict[str, Any] | None = None,
              limit: int = 1000) -> list[dict[str, Any]]:
        """Every item of a paged listing (`key` holds a page's items): follows the `next`
        cursor until the last page."""
        query: dict[str, Any] = {**(params or {}), "limit": limit}
        items: list[dict[str, Any]] = []
        while True:
            page = self.request("GET", path, params=query)
            items.extend(page[key])
            if not page.get("next"):  # the last page (or a server that does not page)
                return items
            query["after"] = page["next"]

    def healthy(self) -> bool:
        try:
            return self.http.get(f"{self.base}/healthz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    # -- resources ---------------------------------------------------------------------
    def upload(self, service: str, archive: Path, team: str = "",
               resources: dict[str, float] | None = None) -> dict[str, Any]:
        params: dict[str, Any] = {"team": team, **(resources or {})}
        with open(archive, "rb") as fh:  # streamed by requests, never read whole
            return self.request("POST", f"/api/v1/services/{service}/releases",
                                params=params, data=fh,
                                headers={"Content-Type": "application/octet-stream"})

    def deploy(self, release_id: str, environment: str) -> dict[str, Any]:
        """Promote: a deployment rolling out, or a promotion waiting for approval."""
        return self.request("POST", f"/api/v1/releases/{release_id}/promotions",
                            json={"environment": environment})

    def attach_evidence(self, release_id: str, evidence: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", f"/api/v1/releases/{release_id}/evidence", json=evidence)

    def decide(self, release_id: str, environment: str, decision: str, comment: str = ""
               ) -> dict[str, Any]:
        return self.request("POST", f"/api/v1/releases/{release_id}/approvals",
                            json={"environment": environment, "decision": decision,
                                  "comment": comment})

    def status(self, service: str, environment: str) -> dict[str, Any]:
        return self.request("GET", f"/api/v1/services/{service}/environments/{environment}")

    def events(self, service: str, after: int = 0) -> list[dict[str, Any]]:
        return self.request("GET", "/api/v1/events",
                            params={"service": service, "after": after})["events"]

    def wait(self, service: str, environment: str, after: int = 0, on_event: Any = None,
             timeout: float = 600.0) -> dict[str, Any]:
        """Follow a rollout until it is live (returns its status) or failed (raises)."""
        start = time.monotonic()
        deadline = start + timeout
        failure: dict[str, Any] = {}
        while True:
            for event in self.events(service, after):
                after = max(after, int(event["id"]))
                if event["environment"] != environment:
                    continue
                if event["type"] == "rollout_failed":
                    failure = event.get("data") or {}
                if on_event:
                    on_event(event)
            state = self.status(service, environment)
            if state["status"] == "live":
                return state
            if state["status"] == "failed":
                if not failure:  # it failed after the events were read: its event is there now
                    failure = next((e.get("data") or {} for e in self.events(service, after)
                                    if e["type"] == "rollout_failed"
                                    and e["environment"] == environment), {})
                raise rollout_error(service, environment, state["message"], failure)
            if time.monotonic() > deadline:
                raise DeploymentFailed(f"{service} was not live in {environment} after "
                                       f"{timeout:.0f}s", "check `goldenpath status`")
            # a local rollout takes well under a second: poll fast at first, then calmly
            time.sleep(0.05 if time.monotonic() - start < 5 else 0.2)

    def last_event_id(self, service: str) -> int:
        events = self.request("GET", "/api/v1/events", params={"service": service,
                                                               "limit": 1})["events"]
        return int(events[-1]["id"]) if events else 0


def rollout_error(service: str, environment: str, message: str, failure: dict[str, Any]
                  ) -> DeploymentFailed | ParityError:
    """The error a failed rollout becomes: ParityError when the release answered the
    notebook's sample differently; else DeploymentFailed, pointing at the model's own code
    when it raised (`where`)."""
    code = str(failure.get("code") or "")
    details = failure.get("details") or {}
    if code == "parity_failed":
        return ParityError(f"{service} did not go live in {environment}: {message}",
                           "the model predicts differently outside this notebook: it may "
                           "depend on notebook state, randomness or a library version; see "
                           "the differing rows in .details", details=details)
    where = details.get("where") if isinstance(details, dict) else ""
    if code in ("load_failed", "predict_failed"):
        hint = str(details.get("hint") or "") if isinstance(details, dict) else ""
        return DeploymentFailed(f"{service} did not go live in {environment}: {message}",
                                hint or ((f"the error is in your code at {where}; "
                                          if where else "") + "fix it and deploy again"),
                                details=details)
    return DeploymentFailed(f"{service} did not go live in {environment}: {message}",
                            f"see the logs: goldenpath logs {service} --env {environment}",
                            details=details or None)
