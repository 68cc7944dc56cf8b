"""What a progressive rollout measured, merged and shown: windows summed over a step or the
whole rollout, the typed view clients read (models.Progression), and a step in words."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from goldenpath_server import _outcomes
from goldenpath_server._db import ReleaseRow, RolloutRow, utcnow
from goldenpath_server._views import iso


def describe(spec: dict[str, Any] | None) -> str:
    if spec is None:
        return "all traffic to the candidate"
    if spec["kind"] == "shadow":
        return "every request copied to the candidate (shadow), answers compared"
    if spec["kind"] == "preview":
        return "the candidate on its preview URL"
    return f"{spec['weight']:.0%} of requests to the candidate"


def merge(acc: dict[str, Any] | None, window: dict[str, Any]) -> dict[str, Any]:
    """Two windows as one: counts add up; percentiles, agreement and scores are weighted by
    requests (an approximation for percentiles, which a window only gives as numbers)."""
    if not acc:
        return {k: window[k] for k in ("seconds", "stable", "candidate", "paired")}
    merged: dict[str, Any] = {"seconds": acc["seconds"] + window["seconds"]}
    for variant in ("stable", "candidate"):
        a, b = acc[variant], window[variant]
        n = a["requests"] + b["requests"]
        errors = a["errors"] + b["errors"]
        latency = {p: _weighted(a["latency_ms"].get(p), a["requests"],
                                b["latency_ms"].get(p), b["requests"])
                   for p in ("p50", "p95", "p99")}
        labels = dict((a.get("predictions") or {}).get("labels") or {})
        for value, count in ((b.get("predictions") or {}).get("labels") or {}).items():
            labels[value] = labels.get(value, 0) + count
        predictions = {"labels": labels} if labels else (b.get("predictions") or
                                                         a.get("predictions") or {})
        merged[variant] = {"requests": n, "errors": errors,
                           "error_rate": errors / n if n else None, "latency_ms": latency,
                           "predictions": predictions}
    a, b = acc["paired"], window["paired"]
    merged["paired"] = {"requests": a["requests"] + b["requests"],
                        "dropped": a.get("dropped", 0) + b.get("dropped", 0),
                        "agreement": _weighted(a.get("agreement"), a["requests"],
                                               b.get("agreement"), b["requests"]),
                        "mad": _weighted(a.get("mad"), a["requests"], b.get("mad"),
                                         b["requests"])}
    return merged


def _weighted(a: float | None, na: int, b: float | None, nb: int) -> float | None:
    if a is None or not na:
        return b
    if b is None or not nb:
        return a
    return (a * na + b * nb) / (na + nb)


def progression_view(db: Any, row: RolloutRow, service: str) -> dict[str, Any]:
    progress = row.progress or {}
    versions = dict(db.execute(select(ReleaseRow.id, ReleaseRow.version).where(
        ReleaseRow.id.in_([row.release_id, progress.get("stable_release_id") or ""]))).all())
    step = int(progress.get("step") or 0)
    steps = progress.get("steps") or []
    spec = steps[step] if step < len(steps) else None
    done = progress.get("state") in ("succeeded", "aborted")
    empty = {"requests": 0, "errors": 0}
    return {"rollout_id": row.id, "service": service, "environment": row.environment,
            "strategy": row.strategy, "state": progress.get("state") or "starting",
            "step": step, "steps": steps,
            "weight": 0.0 if done and progress.get("state") == "aborted" else
            (spec["weight"] if spec else 1.0),
            "effective_weight": None if done else progress.get("effective_weight"),
            "mirror": bool(spec and spec["mirror"] and not done),
            "message": progress.get("message") or "", "failures": progress.get("failures") or 0,
            "stable_release_id": progress.get("stable_release_id"),
            "stable_version": versions.get(progress.get("stable_release_id") or ""),
            "candidate_release_id": row.release_id,
            "candidate_version": versions.get(row.release_id, 0),
            "preview_url": "" if done else progress.get("preview_url") or "",
            "windows": progress.get("windows") or [],
            "ground_truth": {v: _outcomes.metrics((progress.get("ground_truth") or {}).get(v))
                             for v in _outcomes.VARIANTS},
            "totals": progress.get("totals") or {"stable": empty, "candidate": empty,
                                                 "paired": {"requests": 0}},
            "started_at": iso(row.started_at),
            "updated_at": iso(row.finished_at or utcnow())}
