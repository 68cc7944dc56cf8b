"""Evidence: what the server verifies itself and what callers declare, shaped into the
policies' context.

Every item records where it came from (`ReleaseRow.evidence_sources`): `server` for what the
server checked itself (the pickle scan, the pins, parity per environment), `declared` with
the caller's name for what a caller attached (lineage, card, metrics, data, test report,
review) or what its bundle carries (`profile`: the summary of the reference profile,
source, rows and each feature's kind, recorded at upload and never attachable). Only the
server writes the verified items; the built-in policies that speak of a check read only
those.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from goldenpath_server._environments import EnvironmentConfig, Pricing

# What callers may attach (declared, with their name); the server's own findings are not.
ATTACHABLE = ("lineage", "card", "card_draft", "metrics", "data", "test_report", "review")
VERIFIED = ("scan", "pinned", "unpinned", "parity", "delivery")  # set by the server alone


def _now() -> str:
    return datetime.now(UTC).isoformat()


def declare(evidence: dict[str, Any], sources: dict[str, Any], items: dict[str, Any],
            by: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """`evidence` and `sources` with `items` added, each marked as declared by `by`."""
    at = _now()
    return ({**evidence, **items},
            {**sources, **{k: {"source": "declared", "by": by, "at": at} for k in items}})


def verified(items: dict[str, Any], check: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """New evidence `items` checked by the server itself (`check` says how)."""
    at = _now()
    return items, {k: {"source": "server", "check": check, "at": at} for k in items}


def record_verified(evidence: dict[str, Any], sources: dict[str, Any], environment: str,
                    parity: dict[str, Any], target: str
                    ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Add the server's parity result in `environment` (replayed on `target`)."""
    current = evidence.get("parity") if _is_verified(sources, "parity") else None
    environments = dict((current or {}).get("environments") or {})
    environments[environment] = {**parity, "target": target}
    passed = [e for e in environments.values() if e.get("passed")]
    value = {"passed": bool(passed), "rows": max((e.get("rows") or 0 for e in passed),
                                                 default=0), "environments": environments}
    items, marks = verified({"parity": value}, "the server replayed the notebook's sample "
                            "against the running release")
    return {**evidence, **items}, {**sources, **marks}


def _is_verified(sources: dict[str, Any], key: str) -> bool:
    return (sources.get(key) or {}).get("source") == "server"


def verified_only(evidence: dict[str, Any], sources: dict[str, Any]) -> dict[str, Any]:
    """The evidence with every VERIFIED item the server did not check itself removed (an
    older release's self-declared parity, say): what policies about checks may read."""
    return {k: v for k, v in evidence.items() if k not in VERIFIED or _is_verified(sources, k)}


def scan_bundle(unpacked: Path) -> dict[str, Any]:
    """Scan every pickle in the bundle with picklescan, without loading any of them."""
    from picklescan.scanner import SafetyLevel, scan_directory_path

    result = scan_directory_path(str(unpacked))
    flagged = {f"{g.module}.{g.name}" for g in result.globals
               if g.safety == SafetyLevel.Dangerous}
    # cloudpickle rebuilding the notebook's own functions and classes is reported apart:
    # it carries code (by design) but calls nothing while loading
    by_value = sorted(f for f in flagged if f.startswith(_CLOUDPICKLE))
    dangerous = sorted(flagged - set(by_value))
    clean = not result.scan_err and not dangerous
    return {"scanner": _scanner_version(), "clean": clean, "files": result.scanned_files,
            "dangerous": dangerous, "code_by_value": bool(by_value),
            "error": bool(result.scan_err)}


_CLOUDPICKLE = ("cloudpickle.cloudpickle.", "cloudpickle.cloudpickle_fast.")


def _scanner_version() -> str:
    import importlib.metadata

    return f"picklescan {importlib.metadata.version('picklescan')}"


def unpinned(requirements: list[str]) -> list[str]:
    """Requirements not pinned to one exact version (`name==x.y.z`)."""
    return [r for r in requirements if r.strip() and not r.startswith("#")
            and ("==" not in r or any(c in r for c in "*<>~,"))]


def resources_of(spec: dict[str, Any]) -> dict[str, float]:
    """What the release asks for: the spec's `resources`, or the bundle's
    `goldenpath.resources` label (JSON), as the Kubernetes target reads them."""
    raw: Any = spec.get("resources") or (spec.get("labels") or {}).get("goldenpath.resources")
    try:
        raw = json.loads(raw) if isinstance(raw, str) else dict(raw or {})
    except (ValueError, TypeError):
        raw = {}
    return {"cpu": float(raw.get("cpu") or 0), "memory_gb": float(raw.get("memory_gb") or 0),
            "replicas": float(raw.get("replicas") or 1)}


def monthly_cost(resources: dict[str, float], pricing: Pricing) -> float:
    return round(resources["replicas"] * (resources["cpu"] * pricing.cpu_month_usd
                                          + resources["memory_gb"]
                                          * pricing.memory_gb_month_usd), 2)


def policy_context(release: dict[str, Any], evidence: dict[str, Any], environment: str,
                   env: EnvironmentConfig, pricing: Pricing, previous: str = "",
                   sources: dict[str, Any] | None = None,
                   rollout: dict[str, Any] | None = None) -> dict[str, Any]:
    """The CEL variables: every field present (empty when unknown), numbers as doubles.

    Checks (scan, pins, parity, delivery) come from the server's own findings only;
    `evidence.sources` says, per item, "server" or who declared it. `rollout` is the strategy
    of the rollout the policies are evaluated for, with its measurements at a switch
    (_delivery_evidence.rollout_context)."""
    resources = resources_of(release.get("spec") or {})
    sources = sources or {}
    evidence = verified_only(evidence, sources)
    lineage = evidence.get("lineage") or {}
    parity = evidence.get("parity") or {}
    return {
        "release": {
            "service": release["service"], "kind": release["kind"],
            "team": release.get("team", ""), "version": float(release["version"]),
            "digest": release["digest"], "image": release.get("image", ""),
            "requirements": list((release.get("spec") or {}).get("requirements") or []),
            "labels": dict((release.get("spec") or {}).get("labels") or {}),
            "resources": resources, "cost_usd": monthly_cost(resources, pricing),
            "deployed_in": list(release.get("deployed_in") or [])},
        "evidence": {
            "lineage": {
                "mlflow_run_id": str(lineage.get("mlflow_run_id") or ""),
                "mlflow_params": dict(lineage.get("mlflow_params") or {}),
                "mlflow_metrics": _floats(lineage.get("mlflow_metrics") or {}),
                "git_commit": str(lineage.get("git_commit") or ""),
                "git_dirty": bool(lineage.get("git_dirty")),
                "notebook_path": str(lineage.get("notebook_path") or ""),
                "notebook_sha256": str(lineage.get("notebook_sha256") or ""),
                "data": list(lineage.get("data") or evidence.get("data") or [])},
            "card": str(evidence.get("card") or "").strip(),
            "metrics": _floats(evidence.get("metrics") or {}),
            "parity": {"passed": bool(parity.get("passed")),
                       "rows": float(parity.get("rows") or 0),
                       "environments": {name: {"passed": bool(e.get("passed")),
                                               "rows": float(e.get("rows") or 0)}
                                        for name, e in (parity.get("environments")
                                                        or {}).items()}},
            "scan": {"clean": bool((evidence.get("scan") or {}).get("clean")),
                     "scanner": str((evidence.get("scan") or {}).get("scanner") or ""),
                     "dangerous": list((evidence.get("scan") or {}).get("dangerous") or []),
                     "code_by_value": bool((evidence.get("scan") or {}).get("code_by_value"))},
            "delivery": {"environments": dict((evidence.get("delivery") or {}).get(
                "environments") or {})},
            "pinned": bool(evidence.get("pinned")),
            "unpinned": list(evidence.get("unpinned") or []),
            "test_report": str(evidence.get("test_report") or ""),
            "review": str(evidence.get("review") or ""),
            "sources": {k: {"source": str(v.get("source") or ""), "by": str(v.get("by") or "")}
                        for k, v in sources.items() if isinstance(v, dict)}},
        "rollout": rollout or {},
        "env": {"name": environment, "previous": previous,
                "budget_usd": float(env.policies.budget_usd),
                "metric": {"name": env.policies.metric.name,
                           "min": float(env.policies.metric.min)}},
    }


def _floats(values: dict[str, Any]) -> dict[str, float]:
    out = {}
    for key, value in values.items():
        try:
            out[str(key)] = float(value)
        except (TypeError, ValueError):
            continue
    return out
