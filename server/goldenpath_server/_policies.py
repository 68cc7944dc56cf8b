"""Policies as code: CEL expressions (cel-python) over a release's metadata and evidence.

The platform team keeps the rules in YAML files (`builtin` names defaults/policies.yaml, the
set used when the config names none); each rule has a
name, a track (common, model, app), an expression, a message and a hint, and may have a
`detail`: a CEL expression giving a string that says, when the rule fails, what was measured
against what ("accuracy is 0.87; prod needs at least 0.9"). Each environment
decides the action per rule: enforce (a failure blocks the promotion), warn, or off.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import celpy
import yaml

from goldenpath_api.errors import ConfigurationError

DEFAULT_FILE = Path(__file__).parent / "defaults" / "policies.yaml"
ACTIONS = ("enforce", "warn", "off")
TRACKS = ("common", "model", "app")
# promote: when the promotion is asked for; switch: before the candidate of a progressive
# rollout takes all traffic, over its own measurements (`rollout.shadow`, `rollout.canary`).
# A rolling rollout switches at once, so its switch rules are evaluated at the promotion,
# with nothing measured: a rule that needs a shadow thereby requires the strategy.
MOMENTS = ("promote", "switch")


@dataclass(frozen=True)
class Policy:
    name: str
    track: str
    expression: str
    message: str
    hint: str
    program: Any
    detail: Any = None  # compiled CEL, a string for the failure message
    at: str = "promote"  # MOMENTS


class PolicySet:
    """Compiled rules, ready to evaluate against many releases."""

    def __init__(self, policies: list[Policy]) -> None:
        self.policies = policies

    @classmethod
    def load(cls, paths: list[Path]) -> PolicySet:
        env = celpy.Environment()
        policies: list[Policy] = []
        for path in paths or [DEFAULT_FILE]:
            path = DEFAULT_FILE if str(path) == "builtin" else path
            for raw in _read(path):
                policies.append(_compile(env, raw, path))
        names = [p.name for p in policies]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ConfigurationError(f"policy names must be unique: {', '.join(duplicates)}",
                                     "rename or remove the duplicates")
        return cls(policies)

    def evaluate(self, context: dict[str, Any], track: str, environment: str,
                 actions: dict[str, str], default_action: str,
                 at: tuple[str, ...] = ("promote",)) -> dict[str, Any]:
        """Run every rule of `track` (and common) for `environment` that applies `at` these
        moments; failures say why."""
        activation = {k: celpy.json_to_cel(_cel_safe(v)) for k, v in context.items()}
        results = []
        for policy in self.policies:
            if policy.track not in ("common", track) or policy.at not in at:
                continue
            action = actions.get(policy.name, default_action)
            if action == "off":
                continue
            passed, error = _run(policy, activation)
            result: dict[str, Any] = {"name": policy.name, "track": policy.track,
                                      "action": action, "passed": passed, "at": policy.at}
            if not passed:
                detail = _detail(policy, activation) if not error else error
                result.update(message=policy.message + (f" ({detail})" if detail else ""),
                              hint=policy.hint)
            results.append(result)
        failed = [r for r in results if not r["passed"]]
        outcome = ("fail" if any(r["action"] == "enforce" for r in failed)
                   else "warn" if failed else "pass")
        return {"environment": environment, "outcome": outcome, "results": results}


def _run(policy: Policy, activation: dict[str, Any]) -> tuple[bool, str]:
    try:
        value = policy.program.evaluate(activation)
    except celpy.CELEvalError as exc:
        return False, f"could not evaluate: {exc.args[0] if exc.args else exc}"
    if isinstance(value, celpy.CELEvalError):
        return False, f"could not evaluate: {value.args[0] if value.args else value}"
    return bool(value) is True and isinstance(value, celpy.celtypes.BoolType), ""


def _detail(policy: Policy, activation: dict[str, Any]) -> str:
    """What the rule's `detail` says about this release ("" without one, or if it fails)."""
    if policy.detail is None:
        return ""
    try:
        value = policy.detail.evaluate(activation)
    except celpy.CELEvalError:
        return ""
    return str(value) if isinstance(value, str) else ""


def _read(path: Path) -> list[dict[str, Any]]:
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ConfigurationError(f"policy file {path} does not exist",
                                 "fix `policy_files` in the platform config") from None
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"policy file {path} is not valid YAML: {exc}",
                                 "see docs/governance.md for the format") from None
    policies = raw.get("policies") if isinstance(raw, dict) else None
    if not isinstance(policies, list):
        raise ConfigurationError(f"policy file {path} has no `policies:` list",
                                 "see docs/governance.md for the format")
    return policies


def _compile(env: celpy.Environment, raw: dict[str, Any], path: Path) -> Policy:
    name = str(raw.get("name", ""))
    missing = [k for k in ("name", "expression", "message") if not raw.get(k)]
    if missing or raw.get("track", "common") not in TRACKS:
        raise ConfigurationError(f"policy {name or '?'} in {path} is incomplete: needs name, "
                                 f"expression, message and a track in {TRACKS}",
                                 "see docs/governance.md for the format")
    if raw.get("at", "promote") not in MOMENTS:
        raise ConfigurationError(f"policy {name} in {path} has at: {raw.get('at')!r}",
                                 f"use one of {', '.join(MOMENTS)} (default: promote)")
    try:
        program = env.program(env.compile(str(raw["expression"])))
        detail = env.program(env.compile(str(raw["detail"]))) if raw.get("detail") else None
    except celpy.CELParseError as exc:
        raise ConfigurationError(f"policy {name} in {path} is not valid CEL: {exc}",
                                 "fix the expression; see https://cel.dev") from None
    return Policy(name=name, track=str(raw.get("track", "common")),
                  expression=str(raw["expression"]), message=str(raw["message"]),
                  hint=str(raw.get("hint", "")), program=program, detail=detail,
                  at=str(raw.get("at", "promote")))


_INT64 = 2**63


def _cel_safe(value: Any) -> Any:
    """CEL integers are 64-bit: a larger one in declared evidence (any caller's JSON) is
    compared as a double instead of failing every later evaluation of the release."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and not -_INT64 <= value < _INT64:
        return float(value)
    if isinstance(value, dict):
        return {k: _cel_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_cel_safe(v) for v in value]
    return value
