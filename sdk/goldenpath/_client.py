"""The HTTP client for the promotion server (requests): the one place a requests exception or
an HTTP error becomes a goldenpath error, pages are followed, and the event stream is read."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import requests

from goldenpath._config import Config, current
from goldenpath.errors import (
    DeploymentFailed,
    GoldenpathError,
    ParityError,
    ServerUnreachable,
    from_response,
)
from goldenpath_api import models
from goldenpath_api.rules import FAILED, LIVE, MAX_PAGE

STREAM = "/api/v1/events/stream"
# the server sends a keep-alive every 15 s: silence longer than this is a dead stream
STREAM_SILENCE_S = 20.0
T = TypeVar("T")


@contextmanager
def reaching(what: str, hint: str) -> Iterator[None]:
    """Turn what requests raises while talking to `what` into a goldenpath error that says
    what to do (`hint`): no requests exception leaves the SDK."""
    try:
        yield
    except requests.Timeout:
        raise ServerUnreachable(f"{what} did not answer in time", hint) from None
    except requests.ConnectionError:
        raise ServerUnreachable(f"could not reach {what}", hint) from None
    except requests.exceptions.ChunkedEncodingError:
        raise ServerUnreachable(f"the connection to {what} broke", hint) from None
    except requests.RequestException as exc:
        raise GoldenpathError(f"talking to {what} failed: {exc}", hint) from None


def error_of(response: requests.Response) -> GoldenpathError:
    """The goldenpath error an HTTP error answer carries ({code, message, hint})."""
    try:
        body = response.json()
    except ValueError:
        body = {"message": response.text[:500] or f"HTTP {response.status_code} "
                                                   f"{response.reason}"}
    return from_response(response.status_code, body if isinstance(body, dict) else {})


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

    def send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """The raw answer to one request (streamed bodies, CSV); HTTP errors raised as
        goldenpath errors, like every request's."""
        kwargs.setdefault("timeout", self.config.timeout)
        with reaching(f"the goldenpath server at {self.base}",
                      "start one with `goldenpath server`, or point the SDK at yours with "
                      "gp.configure(server='http://...') / GOLDENPATH_SERVER"):
            response = self.http.request(method, f"{self.base}{path}", **kwargs)
        if response.status_code >= 400:
            raise error_of(response)
        return response

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """One JSON request: the decoded answer (None for an empty one)."""
        response = self.send(method, path, **kwargs)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def iter_pages(self, path: str, key: str, params: dict[str, Any] | None = None,
                   limit: int = MAX_PAGE) -> Iterator[dict[str, Any]]:
        """Every item of a paged listing (`key` holds a page's items), following the `next`
        cursor page by page until the last one."""
        query: dict[str, Any] = {**(params or {}), "limit": limit}
        while True:
            page = self.request("GET", path, params=query)
            yield from page[key]
            if not page.get("next"):  # the last page (or a server that does not page)
                return
            query["after"] = page["next"]

    def pages(self, path: str, key: str, params: dict[str, Any] | None = None,
              limit: int = MAX_PAGE) -> list[dict[str, Any]]:
        return list(self.iter_pages(path, key, params, limit))

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

    def deploy(self, release_id: str, environment: str, strategy: str | None = None,
               steps: list[int] | None = None) -> models.Deployment | models.Promotion:
        """Promote (by `strategy`, default the environment's): a deployment rolling out,
        or a promotion waiting for approval."""
        body: dict[str, Any] = {"environment": environment}
        if strategy:
            body["strategy"] = strategy
        if steps:
            body["steps"] = list(steps)
        return promoted(self.request("POST", f"/api/v1/releases/{release_id}/promotions",
                                     json=body))

    def progression(self, service: str, environment: str) -> models.Progression:
        return models.Progression.model_validate(self.request(
            "GET", f"/api/v1/services/{service}/environments/{environment}/rollout"))

    def drift(self, service: str, environment: str, limit: int = 20) -> models.DriftStatus:
        return models.DriftStatus.model_validate(self.request(
            "GET", f"/api/v1/services/{service}/environments/{environment}/drift",
            params={"limit": limit}))

    def drift_report(self, service: str, environment: str, window: int | None = None) -> str:
        response = self.send("GET", f"/api/v1/services/{service}/environments/{environment}"
                                    "/drift/report",
                             params={"window": window} if window else None)
        return response.text

    def act_on_rollout(self, service: str, environment: str, action: str,
                       comment: str = "") -> models.Progression:
        return models.Progression.model_validate(self.request(
            "POST", f"/api/v1/services/{service}/environments/{environment}/rollout/"
                    f"{action}", json={"comment": comment}))

    def send_outcomes(self, service: str, environment: str,
                      outcomes: list[tuple[str, Any]]) -> models.OutcomeReceipt:
        batch = models.OutcomeBatch(outcomes=[models.ObservedOutcome(request_id=r, value=v)
                                              for r, v in outcomes])
        return models.OutcomeReceipt.model_validate(self.request(
            "POST", f"/api/v1/services/{service}/environments/{environment}/outcomes",
            json=batch.model_dump(mode="json")))

    def attach_evidence(self, release_id: str, evidence: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", f"/api/v1/releases/{release_id}/evidence", json=evidence)

    def decide(self, release_id: str, environment: str, decision: str, comment: str = ""
               ) -> models.Deployment | models.Promotion:
        """Approve or reject: the deployment rolling out once enough approvals are in,
        else the promotion as it stands."""
        return promoted(self.request("POST", f"/api/v1/releases/{release_id}/approvals",
                                     json={"environment": environment, "decision": decision,
                                           "comment": comment}))

    def status(self, service: str, environment: str) -> models.Deployment:
        return models.Deployment.model_validate(self.request(
            "GET", f"/api/v1/services/{service}/environments/{environment}"))

    def promotion(self, promotion_id: str) -> models.Promotion:
        return models.Promotion.model_validate(
            self.request("GET", f"/api/v1/promotions/{promotion_id}"))

    def rollback(self, service: str, environment: str, to: int | None = None
                 ) -> models.Deployment:
        return models.Deployment.model_validate(self.request(
            "POST", f"/api/v1/services/{service}/environments/{environment}/rollback",
            json={"to": to}))

    def events(self, service: str, after: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        """The latest `limit` audit events of `service` (after event id `after`), oldest
        first."""
        return self.request("GET", "/api/v1/events", params={
            "service": service, "after": after, "limit": limit})["events"]

    def last_seq(self, service: str) -> int:
        """Where the event stream of `service` stands now: follow it from here to see what
        happens next."""
        events = self.events(service, limit=1)
        return int(events[-1]["seq"] or 0) if events else 0

    def stream(self, service: str, after: int | None, read_timeout: float = STREAM_SILENCE_S
               ) -> EventStream:
        """The events of `service` after sequence `after` (None: from now on) as the server
        sends them (SSE). The stream is open when this returns."""
        params: dict[str, Any] = {"service": service}
        if after is not None:
            params["after"] = after
        response = self.send("GET", STREAM, params=params, stream=True,
                             headers={"Accept": "text/event-stream"},
                             timeout=(min(10.0, read_timeout), read_timeout))
        return EventStream(response, self.base)

    def follow(self, service: str, after: int | None,
               check: Callable[[dict[str, Any] | None], T | None], *, timeout: float,
               expired: Callable[[], GoldenpathError]) -> T:
        """React to the event stream of `service` (from sequence `after`; None: from now)
        until `check` answers something other than None, and return that.

        `check(event)` sees each event; `check(None)` is its cue to read the state itself:
        once each time the stream opens (what happened before it did is not missed) and so
        again after a dropped stream. `expired()` is raised after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise expired()
            opened = time.monotonic()
            events = self.stream(service, after, read_timeout=min(left, STREAM_SILENCE_S))
            try:
                found = check(None)
                if found is not None:
                    return found
                for event in events:
                    after = max(after or 0, int(event.get("seq") or 0))
                    found = check(event)
                    if found is not None:
                        return found
            except ServerUnreachable:
                pass  # silence past the keep-alives, or a dropped connection: read, reopen
            finally:
                events.close()
            if time.monotonic() - opened < 1.0:  # a stream that closes at once: not a spin
                time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))

    def wait(self, service: str, environment: str, after: int | None = None,
             on_event: Callable[[dict[str, Any]], Any] | None = None,
             timeout: float = 600.0, release_id: str | None = None) -> models.Deployment:
        """Follow a rollout until it is live (returns its status) or failed (raises), on
        the service's event stream from sequence `after` (None: from now); `on_event` sees
        each event of that environment. With `release_id`: the stable release answering
        again instead (an aborted canary) is a failure too, and a progressive rollout
        paused for a person ends the wait (the answer says so: status rolling_out,
        progression paused)."""
        failure: dict[str, Any] = {}

        def ended(event: dict[str, Any] | None) -> models.Deployment | None:
            nonlocal failure
            if event is not None:
                if event.get("environment") != environment:
                    return None
                if on_event:
                    on_event(event)
                if event["type"] == "rollout_failed":
                    failure = event.get("data") or {}
                elif event["type"] != "rollout_succeeded":
                    return None
            # the state decides: an event replayed from an earlier rollout does not
            state = self.status(service, environment)
            if state.status == LIVE and release_id and state.release_id != release_id:
                raise rollout_error(service, environment, state.message,
                                    failure or self._last_failure(service, environment))
            if state.status == LIVE or state.progression == "paused":
                return state
            if state.status == FAILED:
                raise rollout_error(service, environment, state.message,
                                    failure or self._last_failure(service, environment))
            return None

        return self.follow(service, after, ended, timeout=timeout, expired=lambda: (
            DeploymentFailed(f"{service} was not live in {environment} after {timeout:.0f}s",
                             f"check `goldenpath status {service} --env {environment}`")))

    def _last_failure(self, service: str, environment: str) -> dict[str, Any]:
        """What the latest failed rollout of `service` in `environment` said (its event)."""
        return next((e.get("data") or {} for e in reversed(self.events(service))
                     if e["type"] == "rollout_failed" and e["environment"] == environment), {})


class EventStream:
    """An open server-sent event stream: iterate for its events (dicts); iterating ends when
    the server closes it and raises ServerUnreachable after the read timeout's silence."""

    def __init__(self, response: requests.Response, base: str) -> None:
        self._response = response
        self._base = base

    def __iter__(self) -> Iterator[dict[str, Any]]:
        with reaching(f"the event stream of {self._base}",
                      "check that the server runs: goldenpath status SERVICE"):
            data: list[str] = []
            for raw in self._response.iter_lines(decode_unicode=True):
                line = raw if isinstance(raw, str) else raw.decode()
                if line:  # id:, event: and comments say nothing that data: does not
                    if line.startswith("data:"):
                        data.append(line[5:].lstrip())
                    continue
                if data:  # a blank line ends one event
                    yield json.loads("\n".join(data))
                    data = []

    def close(self) -> None:
        self._response.close()

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def promoted(body: dict[str, Any]) -> models.Deployment | models.Promotion:
    """A promotion's answer, typed: the Deployment rolling out (it has a `url`), or the
    Promotion that waits for (or was decided by) approvals."""
    if "url" in body:
        return models.Deployment.model_validate(body)
    return models.Promotion.model_validate(body)


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
