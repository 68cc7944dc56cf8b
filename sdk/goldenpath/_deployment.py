"""A live deployment as the user holds it: its URL, predictions over HTTP, status, logs."""

from __future__ import annotations

import hashlib
import html
from pathlib import Path
from typing import Any

import requests

from goldenpath import _kube
from goldenpath._client import Client, reaching
from goldenpath._promotion import Promotion
from goldenpath._rollout import Rollout
from goldenpath._where import locate
from goldenpath.errors import GoldenpathError, InvalidInput, NotFound, PredictionFailed
from goldenpath_api import models
from goldenpath_serving._parity import PREDICT_MARKER, read_failure
from goldenpath_serving._schema import rows_as_json


class Deployment:
    """One service in one environment. Every call goes to the server or the endpoint.

    `state` is the server's answer as the API contract types it (goldenpath_api.models):
    the state last read, refreshed by status()."""

    def __init__(self, client: Client, state: models.Deployment, model: Any = None) -> None:
        self._client = client
        self.state = state
        self.model = model  # the object gp.deploy packaged, when this process deployed it

    @property
    def name(self) -> str:
        return self.state.service

    @property
    def environment(self) -> str:
        return self.state.environment

    @property
    def url(self) -> str:
        return self.state.url

    @property
    def release_id(self) -> str:
        return self.state.release_id

    @property
    def version(self) -> int:
        return self.state.release_version

    @property
    def message(self) -> str:
        """What the server last said about it (why a rollout failed, a no-op promotion)."""
        return self.state.message

    @property
    def unchanged(self) -> bool:
        """True when promote() found this release already live there: nothing rolled out."""
        return self.state.noop

    def status(self) -> dict[str, Any]:
        """The deployment's current state on the server (status, url, release, message), as
        a dict; `d.state` holds the same, typed."""
        self.state = self._client.status(self.name, self.environment)
        return self.state.model_dump(mode="json")

    def predict(self, inputs: Any) -> Any:
        """Send `inputs` (DataFrame, array, list of rows or texts) to the live endpoint over
        HTTP: the model's predictions, as predict() gave them in the notebook."""
        return self._output(inputs, "predictions", "predict")

    def predict_proba(self, inputs: Any) -> Any:
        """The class probabilities for `inputs`, one {class: probability} per row (for a
        deployment made with outputs=[..., "predict_proba"])."""
        return self._output(inputs, "probabilities", "predict_proba")

    def answer(self, inputs: Any) -> dict[str, Any]:
        """The endpoint's whole answer for `inputs`: every output the deployment chose."""
        payload = rows_as_json(inputs)
        with reaching(f"the endpoint {self.url}",
                      f"check d.status() and d.logs() for {self.name}"):
            # a Kubernetes URL may need the kubeconfig's credentials (the API server's proxy)
            response = _kube.post(self.url, "/predict", json={"inputs": payload}, timeout=60)
        if response.status_code == 400:
            raise InvalidInput(f"the endpoint refused the request: {_error_text(response)}",
                               "send rows that match the schema shown above")
        if response.status_code == 500:
            raise self._prediction_failed(response)
        if response.status_code >= 400:  # not the model: its process, a proxy, a timeout
            raise PredictionFailed(f"{self.name} answered HTTP {response.status_code}: "
                                   f"{_error_text(response)}",
                                   f"check d.status() and d.logs() for {self.name}")
        try:
            return response.json()  # type: ignore[no-any-return]
        except ValueError:
            raise PredictionFailed(f"{self.name} answered something that is not JSON: "
                                   f"{response.text[:200]!r}",
                                   f"is {self.url} this deployment's endpoint? check "
                                   "d.status()") from None

    def _prediction_failed(self, response: requests.Response) -> PredictionFailed:
        """The model's own exception, as its serving process logged it."""
        try:
            failure = read_failure(self.logs(), PREDICT_MARKER) or {}
        except GoldenpathError:
            failure = {}
        if not failure:
            return PredictionFailed(f"{self.name} answered HTTP 500: {_error_text(response)}",
                                    f"see d.logs() for {self.name}")
        error = PredictionFailed(f"{self.name} failed to predict: "
                                 f"{failure.get('exception')}: {failure.get('error')}",
                                 str(failure.get("hint") or ""), details=failure)
        locate(error, self.model)  # the line in the notebook, as it knows it
        return error

    def _output(self, inputs: Any, key: str, method: str) -> Any:
        answer = self.answer(inputs)
        if key not in answer:
            raise InvalidInput(f"{self.name} does not answer with {method}(): it answers "
                               f"{', '.join(answer)}",
                               f"deploy it again with outputs=[..., {method!r}]")
        return answer[key]

    def logs(self, tail: int = 200) -> str:
        """The last `tail` log lines of its serving process (of the failed attempt, after
        one)."""
        path = f"/api/v1/services/{self.name}/environments/{self.environment}/logs"
        return "\n".join(self._client.request("GET", path, params={"tail": tail})["lines"])

    def promote(self, environment: str, wait: bool = True, *, strategy: str | None = None,
                steps: list[int] | None = None, timeout: float = 3600.0
                ) -> Deployment | Promotion:
        """Promote the same release (same bytes, same digest) to `environment`, by
        `strategy` (rolling, blue-green, canary, shadow, champion-challenger; default: the
        environment's) with canary `steps` in percent (e.g. [10, 50, 100]).

        Returns the live Deployment, or a Promotion when the environment needs approvals
        first (p.approve() by another user, p.wait()). PolicyDenied says which policy
        failed and how to fix it; DeploymentFailed, why a canary was aborted. A progressive
        rollout paused for a person returns the Deployment still rolling out: d.rollout()."""
        after = self._client.last_seq(self.name)
        started = self._client.deploy(self.release_id, environment, strategy, steps)
        if isinstance(started, models.Promotion):
            return waiting(self._client, started, self.model)
        if wait and not started.noop:  # already live there: nothing to wait for
            started = self._client.wait(self.name, environment, after=after,
                                        timeout=timeout, release_id=self.release_id)
        return Deployment(self._client, started, self.model)

    def rollout(self) -> Rollout:
        """The latest progressive rollout here (canary, shadow, ...): its step, weights,
        per-variant measurements and verdicts; .pause(), .resume(), .promote(), .abort()."""
        return Rollout(self._client, self._client.progression(self.name, self.environment))

    def drift(self, windows: int = 20) -> models.DriftStatus:
        """Drift of the live inputs and predictions against the reference profile captured
        at deploy (data={"train": X_train}), per window of logged requests: `.status`,
        `.latest.columns` (test, score, threshold per feature), `.windows` (newest first)."""
        return self._client.drift(self.name, self.environment, windows)

    def drift_report(self, path: str | Path | None = None, window: int | None = None) -> str:
        """The newest window's drift report (HTML, a plot per feature); written to `path`
        when given. In a notebook: IPython.display.HTML(d.drift_report())."""
        html = self._client.drift_report(self.name, self.environment, window)
        if path is not None:
            Path(path).write_text(html)
        return html

    @property
    def card(self) -> str:
        """The release's model card (the drafted one until you attach your own)."""
        evidence = self.evidence()
        return str(evidence.get("card") or evidence.get("card_draft") or "")

    @card.setter
    def card(self, text: str) -> None:
        self._client.attach_evidence(self.release_id, {"card": text})

    def evidence(self) -> dict[str, Any]:
        """Lineage, metrics, parity, scan and card recorded for this release."""
        return self._client.request(  # type: ignore[no-any-return]
            "GET", f"/api/v1/releases/{self.release_id}/evidence")

    def attach_evidence(self, **evidence: Any) -> dict[str, Any]:
        """Record evidence for this release (test_report=URL, review=URL, metrics={...},
        card=...): the release's evidence as it is now."""
        return self._client.attach_evidence(self.release_id, evidence)

    def events(self, limit: int = 100) -> list[dict[str, Any]]:
        """The latest audit events of this service here (and of its releases), oldest
        first: who did what, when."""
        return [e for e in self._client.events(self.name, limit=limit)
                if e["environment"] in (self.environment, "")]

    def policies(self, environment: str | None = None) -> dict[str, Any]:
        """What `environment`'s policies say about this release now (each failure: fix)."""
        return self._client.request(  # type: ignore[no-any-return]
            "GET", f"/api/v1/releases/{self.release_id}/policies",
            params={"environment": environment or self.environment})

    def rollback(self, wait: bool = True, to: int | None = None) -> Deployment:
        """Restore an earlier release here: the one live before this one (each rollback goes
        one further back), or version `to`."""
        after = self._client.last_seq(self.name)
        self.state = self._client.rollback(self.name, self.environment, to)
        if wait:
            self.state = self._client.wait(self.name, self.environment, after=after)
        return self

    def delete(self) -> None:
        """Take the service out of this environment: every object its rollouts made goes."""
        self._client.request("DELETE",
                             f"/api/v1/services/{self.name}/environments/{self.environment}")

    def export(self, path: str | Path) -> Path:
        """Write the exact bundle this deployment runs to `path` (its sha256 checked): a
        BentoML archive, for `bentoml import` or, unpacked, `bentoml serve`."""
        digest = self.state.digest
        path = Path(path)
        try:
            response = self._client.send("GET", f"/api/v1/bundles/{digest}", stream=True)
        except NotFound:
            raise InvalidInput(f"{self.name} in {self.environment} has no bundle to export "
                               f"(an app release runs an image: {digest})",
                               "export model releases only") from None
        hasher = hashlib.sha256()
        with response, open(path, "wb") as fh, reaching(
                f"the goldenpath server at {self._client.base}", "export it again"):
            for chunk in response.iter_content(1 << 20):
                hasher.update(chunk)
                fh.write(chunk)
        if f"sha256:{hasher.hexdigest()}" != digest:
            path.unlink(missing_ok=True)
            raise InvalidInput(f"the bundle received is not {digest}", "export it again")
        return path

    def history(self) -> list[dict[str, Any]]:
        """The rollouts here, newest first: version, why, by whom, how they ended."""
        path = f"/api/v1/services/{self.name}/environments/{self.environment}/rollouts"
        return list(self._client.request("GET", path)["rollouts"])

    def __repr__(self) -> str:
        return (f"<Deployment {self.name} v{self.version} in {self.environment}: "
                f"{self.state.status} at {self.url}>")

    def _repr_html_(self) -> str:
        state = self.state
        color = {"live": "#1a7f37", "failed": "#cf222e"}.get(state.status, "#9a6700")
        rows = "".join(f"<tr><th style='text-align:left'>{k}</th><td>{html.escape(str(v))}</td>"
                       f"</tr>" for k, v in (("endpoint", self.url),
                                             ("release", f"v{self.version} ({self.release_id})"),
                                             ("digest", state.digest[:19] + "…"),
                                             ("updated", state.updated_at)))
        return (f"<div style='border:1px solid #ccc;border-radius:6px;padding:8px;"
                f"display:inline-block'><b>{html.escape(self.name)}</b> · "
                f"{html.escape(self.environment)} · <span style='color:{color}'>"
                f"{html.escape(state.status)}</span><table>{rows}</table></div>")


def waiting(client: Client, state: models.Promotion, model: Any = None) -> Promotion:
    """The Promotion `state` describes, becoming a Deployment (of `model`) once live."""
    return Promotion(client, state, lambda live: Deployment(client, live, model))


def _error_text(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:1000]
    if isinstance(body, list) and body:
        body = body[0]
    if isinstance(body, dict):
        return str(body.get("error") or body.get("message") or body)
    return str(body)
