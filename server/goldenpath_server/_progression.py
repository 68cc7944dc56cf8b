"""Progressive rollouts: a candidate release beside the stable one, traffic moved to it step
by step (canary), copied to it (shadow), held on a preview (blue-green) or split for an
experiment (champion/challenger); each step judged on live measurements against the stable
release over the same window, then the switch, or the abort back to stable without a human.

The plan, the step, the candidate's target state and every analysis live in the rollout's
row (`progress`), so a restart resumes where it stood; every step, measurement and decision
is an audit event covering that row. One thread ticks every running progression.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from goldenpath_api.errors import Conflict, NotFound, PolicyDenied
from goldenpath_api.rules import LIVE, ROLLING_OUT
from goldenpath_server import _audit, _delivery_evidence, _outcomes
from goldenpath_server._access import Actor, as_principal
from goldenpath_server._db import DeploymentRow, RolloutRow, ServiceRow, utcnow
from goldenpath_server._environments import Environments
from goldenpath_server._progress_view import describe, merge, progression_view
from goldenpath_server._store import Store
from goldenpath_server._strategies import judge
from goldenpath_server._views import iso
from goldenpath_server.targets import Rollout, TargetError

log = logging.getLogger("goldenpath.server")
TICK_S = 0.25
KEPT_WINDOWS = 30
ACTIVE = ("starting", "progressing", "paused")
# (service, environment, release_id, status, message, state, failure) -> None
Finish = Callable[..., None]
BuildRollout = Callable[[str, str], Rollout]  # (release_id, environment)


class Progressions:
    def __init__(self, store: Store, environments: Environments, stopping: threading.Event,
                 finish: Finish, build: BuildRollout,
                 went_live: Callable[[str, str], None]) -> None:
        self.store = store
        self.environments = environments
        self._stop = stopping
        self._finish = finish
        self._build = build
        self._went_live = went_live
        self._step_started: dict[str, float] = {}  # rollout id -> when its step began
        # the `at: switch` policies (Promotions.gate_switch), set once both exist
        self.gate: Callable[[str], dict[str, Any]] | None = None
        self._lock = threading.RLock()  # one decision at a time: ticks and people's actions
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="gp-progressions", daemon=True)
        self._thread.start()

    # -- beginning, and resuming after a restart ---------------------------------------
    def begin(self, rollout: Rollout, rollout_id: str, stable: dict[str, Any],
              progress_note: Callable[[str], None], adopt: bool) -> None:
        """Bring the candidate up beside the stable release and route step 0 (on a rollout
        worker). After a restart (`adopt`): re-take both where they stood."""
        target = self.environments.target(rollout.environment)
        with self.store.read() as db:
            row = self._row(db, rollout_id)
            progress = dict(row.progress)
        candidate = progress.get("candidate") or {}
        if adopt and candidate:
            stable_rollout = self._build(progress["stable_release_id"], rollout.environment)
            stable = target.adopt(stable_rollout, stable, progress_note)
            ok, _ = target.health(candidate)
            if not ok:
                progress_note("the candidate's process is gone; starting it again")
                candidate = target.start_candidate(rollout, progress_note)  # type: ignore[attr-defined]
        else:
            candidate = target.start_candidate(rollout, progress_note)  # type: ignore[attr-defined]
        parity = candidate.pop("parity", None)
        step = int(progress.get("step") or 0)
        spec = progress["steps"][step] if step < len(progress["steps"]) else None
        effective = None
        if spec is not None:
            try:
                effective = target.split(  # type: ignore[attr-defined]
                    rollout.key, stable, candidate, spec["weight"], spec["mirror"])
            except Exception:  # the candidate is not in the row yet: it must not outlive this
                target.abort(rollout, stable, candidate)  # type: ignore[attr-defined]
                raise
        self._step_started[rollout_id] = time.monotonic()
        with self.store.tx() as db:
            row = self._row(db, rollout_id)
            dep = self._deployment(db, row)
            dep.target_state = stable
            state = "progressing" if progress.get("state") in (None, "starting") else \
                progress["state"]
            row.progress = {**row.progress, "candidate": candidate, "state": state,
                            "effective_weight": effective,
                            "preview_url": candidate.get("url", ""),
                            "message": f"step {step + 1} of {len(progress['steps'])}: "
                                       f"{describe(spec)}" if spec else "switching"}
            data: dict[str, Any] = {"rollout_id": rollout_id, "step": step,
                                    "weight": spec["weight"] if spec else 1.0,
                                    "effective_weight": effective,
                                    "mirror": bool(spec and spec["mirror"])}
            if parity is not None:
                data["parity"] = {k: parity[k] for k in ("passed", "rows") if k in parity}
            self.store.event(db, rollout.service, rollout.environment, rollout.release_id,
                             "progression_resumed" if adopt else "progression_started",
                             f"{row.strategy} of {rollout.service} in {rollout.environment}: "
                             f"the candidate runs beside the stable release; "
                             f"{row.progress['message']}", data)
            _audit.cover(db, row, dep)
        if spec is None:
            self._switch(rollout_id, "the plan has no steps left")

    def abort_start(self, rollout_id: str, why: str, code: str,
                    details: dict[str, Any]) -> None:
        """The candidate could not start: the rollout fails, the stable release serves on."""
        with self._lock:
            self._abort(rollout_id, f"the candidate did not start: {why}", code=code,
                        details=details)

    # -- people ------------------------------------------------------------------------
    def act(self, service: str, environment: str, action: str, *, actor: Actor,
            comment: str = "") -> dict[str, Any]:
        """pause, resume, promote (skip the remaining steps) or abort the progressive rollout
        of `service` in `environment`, under the roles that roll back there."""
        who = as_principal(actor)
        with self._lock:
            with self.store.read() as db:
                svc = self.store.service(db, service)
                dep = self.store.deployment(db, svc, environment)
                who.require(self.environments.restore_role(environment), svc.team,
                            f"{action} the rollout of {service} in {environment}")
                row = db.get(RolloutRow, dep.rollout_id) if dep.rollout_id else None
                if row is None or row.status != "running" or \
                        (row.progress or {}).get("state") not in ACTIVE:
                    raise Conflict(f"{service} has no progressive rollout running in "
                                   f"{environment}", "start one: goldenpath promote "
                                   f"{service} --to {environment} --strategy canary")
                rollout_id, state = row.id, row.progress.get("state")
            why = f"{who.name}" + (f": {comment}" if comment else "")
            if action == "abort":
                self._abort(rollout_id, f"aborted by {why}", actor=who.name,
                            code="rollout_aborted")
            elif action == "promote":
                self._switch(rollout_id, f"promoted by {why}, skipping the remaining steps",
                             actor=who.name)
            elif action in ("pause", "resume"):
                if (action == "pause") == (state == "paused"):
                    raise Conflict(f"the rollout of {service} in {environment} is already "
                                   f"{'paused' if state == 'paused' else 'progressing'}",
                                   "nothing to do")
                self._mark(rollout_id, "paused" if action == "pause" else "progressing",
                           f"progression_{action}d", f"{action}d by {why}", actor=who.name)
                if action == "resume":
                    self._step_started[rollout_id] = time.monotonic()
            else:
                raise Conflict(f"unknown action {action!r}", "use pause, resume, promote or "
                               "abort")
        return self.view(service, environment)

    def view(self, service: str, environment: str) -> dict[str, Any]:
        """The latest progressive rollout of `service` in `environment`."""
        self.environments.check(environment)
        with self.store.read() as db:
            svc = self.store.service(db, service)
            row = db.scalar(select(RolloutRow).where(
                RolloutRow.service_id == svc.id, RolloutRow.environment == environment,
                RolloutRow.strategy != "rolling").order_by(RolloutRow.started_at.desc())
                .limit(1))
            if row is None:
                raise NotFound(f"{service} has had no progressive rollout in {environment}",
                               f"start one: goldenpath promote {service} --to {environment} "
                               "--strategy canary")
            return progression_view(db, row, svc.name)

    # -- the ticking -------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.wait(TICK_S):
            try:
                # the progressions this process routes (begin() adds them, adopted ones
                # too): an idle server reads nothing
                for rollout_id in list(self._step_started):
                    with self._lock:
                        self._tick(rollout_id)
            except Exception:  # the loop must outlive any single bad tick
                log.exception("progression tick failed")

    def _tick(self, rollout_id: str) -> None:
        with self.store.read() as db:
            row = db.get(RolloutRow, rollout_id)
            if row is None or row.status != "running":
                return
            progress = dict(row.progress)
        if progress.get("state") != "progressing" or rollout_id not in self._step_started:
            return  # starting (its worker routes step 0), paused, or not adopted yet
        step = int(progress["step"])
        spec = progress["steps"][step]
        held = time.monotonic() - self._step_started[rollout_id]
        if held < spec["hold_s"]:
            return
        target = self.environments.target(row.environment)
        window = target.window(f"{_service(self.store, row)}.{row.environment}")  # type: ignore[attr-defined]
        pending = merge(progress.get("pending"), window)
        counted = (pending["paired"]["requests"] if spec["mirror"]
                   else pending["candidate"]["requests"])
        enough = counted >= spec["min_requests"]
        config = self.environments.get(row.environment).delivery.analysis
        verdict, reasons = judge(pending, spec, config, enough)
        if verdict == "inconclusive" and held < spec["hold_s"] * config.max_wait_factor:
            self._save(rollout_id, pending=pending)  # keep measuring this step
            return
        record = {**pending, "step": step, "at": iso(utcnow()), "weight": spec["weight"],
                  "verdict": verdict, "reasons": reasons}
        failures = int(progress.get("failures") or 0) + (verdict == "fail")
        self._record(rollout_id, record, failures)
        if verdict == "fail" and failures > config.failure_limit:
            self._abort(rollout_id, "; ".join(reasons), code="analysis_failed",
                        details=record)
        elif verdict == "inconclusive":
            self._mark(rollout_id, "paused", "progression_paused",
                       f"{reasons[0]}; an approver resumes, promotes or aborts it",
                       ask=True)
        elif verdict == "pass" and step + 1 < len(progress["steps"]):
            self._advance(rollout_id, step + 1)
        elif verdict == "pass" and spec["kind"] == "experiment":
            self._end_experiment(rollout_id, row.environment)
        elif verdict == "pass":
            self._switch(rollout_id, "every step passed its analysis")
        else:  # failed, within the failure limit: measure the step again
            self._step_started[rollout_id] = time.monotonic()

    def _end_experiment(self, rollout_id: str, environment: str) -> None:
        """On the real metric when the environment says so (outcomes sent by request id),
        else a person decides."""
        with self.store.read() as db:
            ground_truth = (self._row(db, rollout_id).progress or {}).get("ground_truth")
        config = self.environments.get(environment).delivery.champion_challenger
        decision, why = _outcomes.decide(ground_truth, config)
        if decision == "switch":
            self._switch(rollout_id, why)
        elif decision == "abort":
            self._abort(rollout_id, why, code="analysis_failed")
        else:
            self._mark(rollout_id, "paused", "progression_paused", why, ask=True)

    # -- transitions -------------------------------------------------------------------
    def _advance(self, rollout_id: str, step: int) -> None:
        with self.store.tx() as db:
            row = self._row(db, rollout_id)
            spec = row.progress["steps"][step]
            service = _service(self.store, row)
            target = self.environments.target(row.environment)
            dep = self._deployment(db, row)
            effective = target.split(  # type: ignore[attr-defined]
                f"{service}.{row.environment}", dep.target_state, row.progress["candidate"],
                spec["weight"], spec["mirror"])
            message = f"step {step + 1} of {len(row.progress['steps'])}: {describe(spec)}"
            if effective is not None and abs(effective - spec["weight"]) > 0.005:
                message += f" ({effective:.0%} in effect: a replica ratio)"
            row.progress = {**row.progress, "step": step, "message": message, "failures": 0,
                            "effective_weight": effective}
            self.store.event(db, service, row.environment, row.release_id, "progression_step",
                             f"{row.strategy} of {service} in {row.environment}: {message}",
                             {"rollout_id": rollout_id, "step": step,
                              "weight": spec["weight"], "effective_weight": effective,
                              "mirror": spec["mirror"]})
            _audit.cover(db, row)
        self._step_started[rollout_id] = time.monotonic()

    def _switch(self, rollout_id: str, why: str, actor: str = "system") -> None:
        """All traffic to the candidate: it is the stable release now."""
        evaluation = self.gate(rollout_id) if self.gate is not None else None
        if evaluation is not None and evaluation["outcome"] == "fail":
            blocking = [r for r in evaluation["results"]
                        if not r["passed"] and r["action"] == "enforce"]
            why = "; ".join(f"{r['name']}: {r['message']}" for r in blocking)
            hint = " · ".join(r["hint"] for r in blocking if r.get("hint"))
            if actor != "system":  # a person asked: say no, the rollout stays as it is
                raise PolicyDenied(f"the switch is blocked by policy: {why}", hint,
                                   details=evaluation)
            self._abort(rollout_id, f"the switch policies failed: {why}", code="policy_denied",
                        details=evaluation)
            return
        row, service, environment, stable, progress = self._context(rollout_id)
        target = self.environments.target(environment)
        rollout = self._build(row.release_id, environment)
        keep_warm = (self.environments.get(environment).delivery.blue_green.keep_warm_s
                     if row.strategy == "blue-green" else 0.0)
        new_state = target.complete(rollout, stable, progress["candidate"],  # type: ignore[attr-defined]
                                    keep_warm)
        self._step_started.pop(rollout_id, None)
        with self.store.tx() as db:
            row = self._row(db, rollout_id)
            row.progress = {**row.progress, "state": "succeeded", "step": len(
                row.progress["steps"]), "message": why}
            self.store.event(db, service, environment, row.release_id, "progression_switched",
                             f"{row.strategy} of {service} in {environment}: all traffic to "
                             f"the candidate ({why})", {"rollout_id": rollout_id}, actor=actor)
            _audit.cover(db, row)
            _delivery_evidence.record(db, rollout_id, "succeeded")
        self._finish(service, environment, row.release_id, LIVE, "", new_state)
        self._went_live(row.release_id, environment)

    def _abort(self, rollout_id: str, why: str, *, code: str, actor: str = "system",
               details: dict[str, Any] | None = None) -> None:
        """Every request back to the stable release; the candidate goes."""
        row, service, environment, stable, progress = self._context(rollout_id)
        target = self.environments.target(environment)
        try:
            target.abort(self._build(row.release_id, environment), stable,  # type: ignore[attr-defined]
                         progress.get("candidate") or {})
        except TargetError as exc:  # the stable release still answers: say so, go on
            log.warning("abort of %s in %s: %s", service, environment, exc)
        self._step_started.pop(rollout_id, None)
        stable_id = progress.get("stable_release_id")
        message = f"{row.strategy} of {service} in {environment} aborted: {why}"
        with self.store.tx() as db:
            row = self._row(db, rollout_id)
            dep = self._deployment(db, row)
            row.progress = {**row.progress, "state": "aborted", "message": why}
            row.status, row.message, row.finished_at = "failed", message, utcnow()
            if stable_id:  # the stable release answers again, alone
                dep.release_id, dep.status, dep.previous_release_id = stable_id, LIVE, None
            else:
                dep.status = "failed"
            dep.message, dep.updated_at = message, utcnow()
            self.store.event(db, service, environment, row.release_id, "rollout_failed",
                             message, {"code": code, "rollout_id": rollout_id,
                                       "url": dep.url, "details": details or {}},
                             actor=actor)
            _audit.cover(db, row, dep)
            _delivery_evidence.record(db, rollout_id, "aborted")

    def _mark(self, rollout_id: str, state: str, kind: str, why: str, *,
              actor: str = "system", ask: bool = False) -> None:
        with self.store.tx() as db:
            row = self._row(db, rollout_id)
            service = _service(self.store, row)
            row.progress = {**row.progress, "state": state, "message": why}
            data: dict[str, Any] = {"rollout_id": rollout_id, "state": state}
            if ask:  # the environment's approvers decide (Argo Rollouts: inconclusive)
                data["approvers"] = self.environments.restore_role(row.environment)
            self.store.event(db, service, row.environment, row.release_id, kind,
                             f"{row.strategy} of {service} in {row.environment}: {why}", data,
                             actor=actor)
            _audit.cover(db, row)

    def _record(self, rollout_id: str, record: dict[str, Any], failures: int) -> None:
        with self.store.tx() as db:
            row = self._row(db, rollout_id)
            service = _service(self.store, row)
            windows = [*row.progress.get("windows", []), record][-KEPT_WINDOWS:]
            row.progress = {**row.progress, "windows": windows, "pending": None,
                            "failures": failures,
                            "totals": merge(row.progress.get("totals"), record)}
            verdict = record["verdict"]
            c = record["candidate"]
            self.store.event(db, service, row.environment, row.release_id,
                             "analysis_measured",
                             f"analysis of step {record['step'] + 1}: {verdict}"
                             + (f" ({'; '.join(record['reasons'])})" if record["reasons"]
                                else "") + f"; candidate {c['requests']} requests, "
                             f"{c['errors']} errors", {"rollout_id": rollout_id, **record})
            _audit.cover(db, row)

    def _save(self, rollout_id: str, **changes: Any) -> None:
        """Bookkeeping between analyses (not a decision: not an event)."""
        with self.store.tx() as db:
            row = self._row(db, rollout_id)
            row.progress = {**row.progress, **changes}

    def _context(self, rollout_id: str
                 ) -> tuple[RolloutRow, str, str, dict[str, Any], dict[str, Any]]:
        """The rollout row, its service and environment, the stable target state, progress."""
        with self.store.read() as db:
            row = self._row(db, rollout_id)
            dep = self._deployment(db, row)
            return (row, _service(self.store, row), row.environment,
                    dict(dep.target_state), dict(row.progress))

    @staticmethod
    def _row(db: Any, rollout_id: str) -> RolloutRow:
        row = db.get(RolloutRow, rollout_id)
        if row is None:
            raise NotFound(f"no rollout {rollout_id}", "list them: goldenpath status")
        return row  # type: ignore[no-any-return]

    @staticmethod
    def _deployment(db: Any, row: RolloutRow) -> DeploymentRow:
        dep = db.scalar(select(DeploymentRow).where(DeploymentRow.rollout_id == row.id))
        if dep is None or dep.status != ROLLING_OUT:
            raise Conflict("the deployment moved on from this rollout", "see goldenpath status")
        return dep  # type: ignore[no-any-return]


def _service(store: Store, row: RolloutRow) -> str:
    with store.read() as db:
        return str(db.scalar(select(ServiceRow.name).where(ServiceRow.id == row.service_id)))
