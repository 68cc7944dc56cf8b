"""What a progressive rollout proved, as evidence the server measured itself: the `rollout`
variable that policies read (the strategy chosen, and this rollout's own shadow and canary
measurements when it is about to switch), and the `evidence.delivery` recorded on the
release when a rollout ends, per environment, for the policies of the environments after.

Only the router's measurements go in: nothing here is declared by a caller.
"""

from __future__ import annotations

from typing import Any

from goldenpath_server import _audit
from goldenpath_server._db import ReleaseRow, RolloutRow
from goldenpath_server._evidence import verified


def measured(progress: dict[str, Any] | None) -> dict[str, Any]:
    """Shadow (mirrored, compared) and canary (answered by the candidate, beside the
    champion) measurements over the analyses a rollout kept. Numbers as doubles, 0 when
    nothing was measured (a policy checks `requests` first)."""
    progress = progress or {}
    steps = progress.get("steps") or []
    shadow = {"requests": 0.0, "agreement": 0.0, "mad": 0.0}
    canary = {"requests": 0.0, "errors": 0.0, "error_rate": 0.0, "champion_requests": 0.0,
              "champion_error_rate": 0.0, "p99_ms": 0.0, "champion_p99_ms": 0.0}
    agreed = differ = champion_errors = 0.0
    for window in progress.get("windows") or []:
        step = int(window.get("step") or 0)
        kind = steps[step]["kind"] if step < len(steps) else "canary"
        if window.get("verdict") == "inconclusive" and not window["candidate"]["requests"]:
            continue
        paired = window.get("paired") or {}
        if kind == "shadow":
            n = float(paired.get("requests") or 0)
            shadow["requests"] += n
            agreed += n * float(paired.get("agreement") or 0.0)
            differ += n * float(paired.get("mad") or 0.0)
            continue
        candidate, stable = window["candidate"], window["stable"]
        canary["requests"] += candidate["requests"]
        canary["errors"] += candidate["errors"]
        canary["champion_requests"] += stable["requests"]
        champion_errors += stable["errors"]
        canary["p99_ms"] = max(canary["p99_ms"], float(candidate["latency_ms"].get("p99") or 0))
        canary["champion_p99_ms"] = max(canary["champion_p99_ms"],
                                        float(stable["latency_ms"].get("p99") or 0))
    if shadow["requests"]:
        shadow["agreement"] = agreed / shadow["requests"]
        shadow["mad"] = differ / shadow["requests"]
    if canary["requests"]:
        canary["error_rate"] = canary["errors"] / canary["requests"]
    if canary["champion_requests"]:
        canary["champion_error_rate"] = champion_errors / canary["champion_requests"]
    return {"shadow": shadow, "canary": canary}


def rollout_context(strategy: str, steps: list[dict[str, Any]],
                    progress: dict[str, Any] | None = None) -> dict[str, Any]:
    """The policies' `rollout` variable: {strategy, weights, shadow {...}, canary {...}}."""
    return {"strategy": strategy, "weights": [float(s["weight"]) for s in steps],
            **measured(progress)}


def record(db: Any, rollout_id: str, outcome: str) -> None:
    """Put what the rollout measured on its release (`evidence.delivery.environments[ENV]`),
    as the server's own finding, inside the caller's transaction; covered by the audit."""
    row = db.get(RolloutRow, rollout_id)
    release = db.get(ReleaseRow, row.release_id) if row is not None else None
    if row is None or release is None:
        return
    evidence, sources = dict(release.evidence or {}), dict(release.evidence_sources or {})
    known = evidence.get("delivery") if (sources.get("delivery") or {}).get(
        "source") == "server" else None
    environments = dict((known or {}).get("environments") or {})
    environments[row.environment] = {"strategy": row.strategy, "outcome": outcome,
                                     **measured(row.progress)}
    items, marks = verified({"delivery": {"environments": environments}},
                            "the server's router measured the release on live traffic")
    release.evidence, release.evidence_sources = {**evidence, **items}, {**sources, **marks}
    _audit.cover(db, release)
