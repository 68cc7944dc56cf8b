"""Monitoring: what live models are sent and answer, and whether it still looks like the data
they were trained on.

A thread pulls each live model's inference log from its serving processes (the targets say
where: targets/_inference_pull.py), stores the records for the environment's retention, and
judges every full window of `window_rows` rows against the release's reference profile (the
statistics gp.deploy captured from the training data: the training rows are never read
again) with monitoring/_drift.py. A window that starts or ends a drift is an audit event
(so a webhook) carrying its scores; every window is kept, with the report a person reads.
Each tick also samples every live deployment's request counters, models' and apps', for
their SLOs (_slo_watch.py).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import delete, func, select

from goldenpath_api.errors import NotFound
from goldenpath_api.rules import LIVE
from goldenpath_server._bundles import ArtifactStore
from goldenpath_server._db import (
    DeploymentRow,
    DriftWindowRow,
    InferenceRow,
    ReleaseRow,
    ServiceRow,
)
from goldenpath_server._environments import Environments
from goldenpath_server._slo_watch import Reading, Rollback, SloWatch
from goldenpath_server._store import Store
from goldenpath_server.monitoring._config import MonitoringConfig
from goldenpath_server.monitoring._drift import compare
from goldenpath_server.monitoring._report import render_html
from goldenpath_server.monitoring._windows import aware as _aware
from goldenpath_server.monitoring._windows import next_window
from goldenpath_server.targets._inference_pull import PullFailed, Source
from goldenpath_server.targets._pod_metrics import Scrape, scrape_for
from goldenpath_server.targets._template import MODEL_PORT
from goldenpath_serving._profile import columns_of_payload, output_column
from goldenpath_serving._schema import Schema, SchemaError

log = logging.getLogger("goldenpath.server")
PULL_LIMIT = 2000  # records per source per pull
RETENTION_EVERY_S = 60.0


@dataclass
class _Cursor:
    boot: str = ""
    next: int = 0


@dataclass
class _Watched:
    """What the loop keeps per live deployment between ticks (in memory: rebuilt after a
    restart from what the store holds)."""

    release_id: str
    cursors: dict[str, _Cursor] = field(default_factory=dict)
    retained_at: float = 0.0


class Monitoring:
    def __init__(self, store: Store, environments: Environments, artifacts: ArtifactStore,
                 stopping: threading.Event, interval_s: float,
                 rollback: Rollback | None = None) -> None:
        self.store = store
        self.slos = SloWatch(store, rollback)
        self.environments = environments
        self.artifacts = artifacts
        self._stop = stopping
        self.interval_s = interval_s
        self._watched: dict[tuple[str, str], _Watched] = {}
        # the newest window per deployment, for /metrics without a query per scrape
        self.latest: dict[tuple[str, str], dict[str, Any]] = {}
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        with self.store.read() as db:
            for row in db.scalars(select(DriftWindowRow).where(DriftWindowRow.id.in_(
                    select(func.max(DriftWindowRow.id)).group_by(
                        DriftWindowRow.service, DriftWindowRow.environment)))):
                self.latest[(row.service, row.environment)] = _summary(row)
        self._thread = threading.Thread(target=self._run, name="gp-monitoring", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.tick()
            except Exception:  # one bad tick must not end monitoring
                log.exception("monitoring tick failed")

    # -- the loop ----------------------------------------------------------------------
    def tick(self) -> None:
        """Pull, store, retain and judge every live model's log; sample every live
        deployment's SLO counters, models and apps alike."""
        with self.store.read() as db:
            live = db.execute(
                select(ServiceRow.name, ServiceRow.kind, DeploymentRow.environment,
                       DeploymentRow.release_id, DeploymentRow.target_state, ReleaseRow.spec)
                .join(DeploymentRow, DeploymentRow.service_id == ServiceRow.id)
                .join(ReleaseRow, ReleaseRow.id == DeploymentRow.release_id)
                .where(DeploymentRow.status == LIVE)).all()
        seen = set()
        for service, kind, environment, release_id, state, spec in live:
            config = self._config(environment)
            if config is None:
                continue
            key = (service, environment)
            seen.add(key)
            watched = self._watched.get(key)
            if watched is None or watched.release_id != release_id:
                watched = self._watched[key] = _Watched(release_id)
                self.slos.forget(key)  # a new release starts a new budget
            if kind == "model" and config.enabled:  # the inference log and drift
                self._pull(service, environment, watched, dict(state or {}))
                self._retain(service, environment, config, watched)
                self._judge(service, environment, release_id, config)
            scrape = scrape_for(None if kind == "model" else config.app_metrics.model_dump())
            self.slos.sample(service, environment, release_id, self._counters(
                environment, dict(state or {}), release_id, scrape,
                int((spec or {}).get("port", MODEL_PORT))), config)
        for key in set(self._watched) - seen:
            del self._watched[key]
            self.slos.forget(key)

    def _counters(self, environment: str, state: dict[str, Any], release_id: str,
                  scrape: Scrape, port: int) -> Reading:
        """How to read the deployment's counters where its target runs it (SLOs)."""
        target = self.environments.target(environment)
        counters = getattr(target, "request_counters", None)
        if counters is None:
            return lambda: None
        return lambda: counters(state, release_id, scrape, port)

    def _config(self, environment: str) -> MonitoringConfig | None:
        try:
            return self.environments.get(environment).monitoring
        except NotFound:  # an environment the config no longer has
            return None

    def _pull(self, service: str, environment: str, watched: _Watched,
              state: dict[str, Any]) -> None:
        target = self.environments.target(environment)
        sources = getattr(target, "inference_sources", None)
        if sources is None:
            return
        try:
            found: dict[str, Source] = sources(state, watched.release_id)
        except Exception as exc:  # the cluster may be away for a while
            log.info("monitoring %s in %s: cannot list its processes: %s", service,
                     environment, exc)
            return
        for name, ask in found.items():
            cursor = watched.cursors.setdefault(name, _Cursor())
            try:
                records = self._records(service, environment, watched.release_id, cursor, ask)
            except PullFailed as exc:
                log.info("monitoring %s in %s: %s did not answer its log: %s", service,
                         environment, name, exc)
                continue
            if records:
                with self.store.tx() as db:
                    db.add_all(records)

    def _records(self, service: str, environment: str, release_id: str, cursor: _Cursor,
                 ask: Source) -> list[InferenceRow]:
        asked = cursor.next
        answer = _checked(ask({"after": asked, "limit": PULL_LIMIT}))
        if answer["boot"] != cursor.boot:  # a process not seen yet, or this server restarted
            cursor.boot, cursor.next = answer["boot"], self._stored_up_to(answer["boot"])
            if cursor.next != asked:
                answer = _checked(ask({"after": cursor.next, "limit": PULL_LIMIT}))
        rows = []
        for record in answer["records"]:
            if record["seq"] <= cursor.next:
                continue
            cursor.next = record["seq"]
            rows.append(InferenceRow(
                service=service, environment=environment, release_id=release_id,
                boot=cursor.boot, seq=record["seq"], request_id=record["request_id"],
                at=datetime.fromtimestamp(record["at"], UTC), rows=record["rows"],
                inputs=record.get("inputs"), outputs=record.get("outputs")))
        return rows

    def _stored_up_to(self, boot: str) -> int:
        """The last record of the process `boot` already stored (0: none)."""
        with self.store.read() as db:
            return int(db.scalar(select(func.max(InferenceRow.seq)).where(
                InferenceRow.boot == boot)) or 0)

    def _retain(self, service: str, environment: str, config: MonitoringConfig,
                watched: _Watched) -> None:
        now = time.monotonic()
        if now - watched.retained_at < RETENTION_EVERY_S:
            return
        watched.retained_at = now
        oldest = datetime.now(UTC) - timedelta(hours=config.retention_hours)
        mine = (InferenceRow.service == service, InferenceRow.environment == environment)
        with self.store.tx() as db:
            db.execute(delete(InferenceRow).where(*mine, InferenceRow.at < oldest))
            cut = db.scalar(select(InferenceRow.id).where(*mine).order_by(
                InferenceRow.id.desc()).offset(config.max_records).limit(1))
            if cut is not None:
                db.execute(delete(InferenceRow).where(*mine, InferenceRow.id <= cut))

    def _judge(self, service: str, environment: str, release_id: str,
               config: MonitoringConfig) -> None:
        """Judge each full window of the live release's records not judged yet."""
        while not self._stop.is_set():
            with self.store.read() as db:
                after = db.scalar(select(func.max(DriftWindowRow.last_inference_id)).where(
                    DriftWindowRow.service == service,
                    DriftWindowRow.environment == environment)) or 0
                records = db.execute(
                    select(InferenceRow.id, InferenceRow.rows, InferenceRow.inputs,
                           InferenceRow.outputs, InferenceRow.at)
                    .where(InferenceRow.service == service,
                           InferenceRow.environment == environment,
                           InferenceRow.release_id == release_id, InferenceRow.id > after)
                    .order_by(InferenceRow.id).limit(config.window_rows)).all()
                release = db.get(ReleaseRow, release_id)
            window, rows = next_window(records, config, datetime.now(UTC))
            if not window or release is None:
                return
            self._record_window(service, environment, release, window, rows, config)

    def _record_window(self, service: str, environment: str, release: ReleaseRow,
                       window: list[Any], rows: int, config: MonitoringConfig) -> None:
        report = self._report(release, environment, window, config)
        # a finding is any feature that drifted, or the predictions: a person looks at one
        # feature shifting long before half of them do (the dataset drift of Evidently)
        drifted = [str(c) for c in report.get("drifted_columns") or []] + (
            ["prediction"] if (report.get("prediction") or {}).get("drifted") else [])
        status = "drift" if drifted else str(report.get("status", "ok"))
        report["status"] = status
        key = (service, environment)
        before = (self.latest.get(key) or {}).get("status")
        with self.store.tx() as db:
            row = DriftWindowRow(service=service, environment=environment,
                                 release_id=release.id, first_inference_id=window[0].id,
                                 last_inference_id=window[-1].id, rows=rows, status=status,
                                 drifted=drifted, report=report)
            db.add(row)
            db.flush()
            data = {"window": row.id, "rows": rows, "drifted": drifted,
                    "scores": {c["name"]: c.get("score") for c in _judged(report)},
                    "methods": {c["name"]: c.get("method") for c in _judged(report)}}
            if status == "drift" and before != "drift":
                self.store.event(db, service, environment, release.id, "drift_detected",
                                 f"drift in {environment}: {', '.join(drifted) or 'dataset'} "
                                 f"(window of {rows} rows)", data)
                if config.on_drift == "retrain":  # for a retraining pipeline's webhook
                    self.store.event(db, service, environment, release.id,
                                     "retrain_requested", f"retrain {service}: its inputs "
                                     f"drifted in {environment}", {
                                         **data, "report": f"/api/v1/services/{service}/"
                                         f"environments/{environment}/drift/report"
                                         f"?window={row.id}"})
            elif status == "ok" and before == "drift":
                self.store.event(db, service, environment, release.id, "drift_cleared",
                                 f"no drift in {environment} any more (window of {rows} rows)",
                                 data)
        self.latest[key] = _summary(row)

    def _report(self, release: ReleaseRow, environment: str, window: list[Any],
                config: MonitoringConfig) -> dict[str, Any]:
        reference = self.artifacts.profile(release.digest) if release.digest else None
        schema_raw = (release.spec or {}).get("schema")
        if not reference or not isinstance(schema_raw, dict):
            return {"status": "no_reference", "rows": sum(r.rows for r in window),
                    "columns": [], "drifted_columns": [],
                    "message": "the release has no reference profile: deploy it with "
                               "gp.deploy(..., data={'train': X_train})"}
        schema = Schema.from_dict(schema_raw)
        parts: dict[str, list[np.ndarray]] = {}
        predictions: list[np.ndarray] = []
        for record in window:
            try:
                columns = columns_of_payload(schema, record.inputs, config.drop, config.hash)
            except (SchemaError, ValueError, TypeError, KeyError):
                continue  # a record the runtime refused too never reached the model
            for name, values in columns.items():
                parts.setdefault(name, []).append(values)
            answer = output_column(record.outputs) if isinstance(record.outputs, dict) else None
            if answer is not None:
                predictions.append(answer)
        columns = {name: np.concatenate(values) for name, values in parts.items()}
        reference = config.reference_as_logged(reference, environment)
        report = compare(reference, columns,
                         np.concatenate(predictions) if predictions else None,
                         config.thresholds()).to_dict()
        return report

    # -- what clients read ------------------------------------------------------------
    def drift(self, service: str, environment: str, limit: int = 20) -> dict[str, Any]:
        with self.store.read() as db:
            self.store.deployment(db, self.store.service(db, service), environment)
            rows = list(db.scalars(select(DriftWindowRow).where(
                DriftWindowRow.service == service, DriftWindowRow.environment == environment)
                .order_by(DriftWindowRow.id.desc()).limit(limit)))
            logged = db.scalar(select(func.count(InferenceRow.id)).where(
                InferenceRow.service == service, InferenceRow.environment == environment)) or 0
        config = self._config(environment) or MonitoringConfig()
        latest = rows[0] if rows else None
        return {"service": service, "environment": environment,
                "status": latest.status if latest else ("off" if not config.enabled
                                                        else "waiting"),
                "window_rows": config.window_rows, "sample": config.sample,
                "logged_requests": int(logged),
                "latest": _window_view(latest) if latest else None,
                "windows": [_summary(r) for r in rows]}

    def report_html(self, service: str, environment: str, window: int | None = None) -> str:
        with self.store.read() as db:
            query = select(DriftWindowRow).where(DriftWindowRow.service == service,
                                                 DriftWindowRow.environment == environment)
            if window is not None:
                query = query.where(DriftWindowRow.id == window)
            row = db.scalar(query.order_by(DriftWindowRow.id.desc()).limit(1))
        if row is None:
            raise NotFound(f"no drift window of {service} in {environment} yet",
                           "a window is judged once it holds its rows "
                           "(monitoring.window_rows in the environment's config)")
        when = _aware(row.at).strftime("%Y-%m-%d %H:%M UTC")
        return render_html(row.report, title=f"{service} in {environment}: drift, window "
                                             f"{row.id} ({row.rows} rows, {when})")


def _checked(answer: Any) -> dict[str, Any]:
    """The runtime's answer, refused unless it has the shape of an inference log page."""
    if not isinstance(answer, dict) or not isinstance(answer.get("boot"), str) \
            or not isinstance(answer.get("records"), list):
        raise PullFailed("the answer is not an inference log page")
    for record in answer["records"]:
        if not (isinstance(record, dict) and isinstance(record.get("seq"), int)
                and isinstance(record.get("request_id"), str)
                and isinstance(record.get("at"), (int, float))
                and isinstance(record.get("rows"), int)):
            raise PullFailed("a record of the answer lacks seq, request_id, at or rows")
        record["request_id"] = record["request_id"][:64]
    answer["boot"] = answer["boot"][:64]
    return answer


def _judged(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Every column the window judged: the features, then the prediction."""
    columns = [c for c in report.get("columns") or [] if isinstance(c, dict) and "name" in c]
    prediction = report.get("prediction")
    return columns + ([prediction] if isinstance(prediction, dict) else [])


def _summary(row: DriftWindowRow) -> dict[str, Any]:
    return {"id": row.id, "at": _aware(row.at).isoformat(), "release_id": row.release_id,
            "rows": row.rows, "status": row.status, "drifted": list(row.drifted or []),
            "scores": {c["name"]: c.get("score") for c in _judged(row.report or {})}}


def _window_view(row: DriftWindowRow) -> dict[str, Any]:
    report = row.report or {}
    return {**_summary(row), "dataset_drift": bool(report.get("dataset_drift")),
            "columns": [{k: c.get(k) for k in ("name", "kind", "method", "score", "p_value",
                                               "threshold", "drifted")}
                        for c in _judged(report)],
            "message": str(report.get("message") or "")}
