"""Policy files, CEL evaluation, and the server's own evidence (pickle scan, pins)."""

from __future__ import annotations

import os
from pathlib import Path

import cloudpickle
import pytest

from goldenpath import errors
from goldenpath_server._environments import EnvironmentConfig, Pricing
from goldenpath_server._evidence import policy_context, scan_bundle, unpinned
from goldenpath_server._policies import PolicySet

RELEASE = {"service": "churn", "kind": "model", "team": "risk", "version": 3,
           "digest": "sha256:" + "0" * 64, "image": "",
           "spec": {"requirements": ["numpy==2.0.0"], "resources": {"cpu": 1, "memory_gb": 2}}}


def _evaluate(evidence: dict, env: EnvironmentConfig | None = None,
              declared: tuple[str, ...] = ()) -> dict:
    """Evaluate prod (after staging); the checks in `evidence` count as the server's own
    unless named in `declared`."""
    env = env or EnvironmentConfig.model_validate(
        {"policies": {"default_action": "enforce", "metric": {"name": "auc", "min": 0.8}}})
    sources = {k: {"source": "declared", "by": "ada"} if k in declared else {"source": "server"}
               for k in evidence}
    context = policy_context({**RELEASE, "deployed_in": ["staging"]}, evidence, "prod", env,
                             Pricing(), "staging", sources)
    return PolicySet.load([]).evaluate(context, "model", "prod", dict(env.policies.actions),
                                       env.policies.default_action)


def test_the_default_model_track_with_full_evidence_passes() -> None:
    evidence = {"lineage": {"git_commit": "abc"}, "card": "# card", "metrics": {"auc": 0.9},
                "parity": {"passed": True}, "pinned": True, "scan": {"clean": True}}
    result = _evaluate(evidence)
    assert result["outcome"] == "pass"
    assert {r["name"] for r in result["results"]} == {
        "promotion-path", "owner-team", "resources-set", "within-budget", "lineage-present",
        "model-card", "evaluation-metric", "parity-passed", "dependencies-pinned",
        "bundle-scanned"}


def test_an_integer_beyond_64_bits_in_declared_evidence_still_evaluates() -> None:
    evidence = {"lineage": {"git_commit": "abc", "mlflow_params": {"rows": 2**70}},
                "card": "# card",
                "metrics": {"auc": 0.9}, "parity": {"passed": True}, "pinned": True,
                "scan": {"clean": True}}
    assert _evaluate(evidence, declared=("lineage",))["outcome"] == "pass"


def test_each_missing_piece_of_evidence_fails_its_policy_with_a_fix() -> None:
    result = _evaluate({"metrics": {"auc": 0.5}})
    failed = {r["name"]: r for r in result["results"] if not r["passed"]}
    assert set(failed) == {"lineage-present", "model-card", "evaluation-metric",
                           "parity-passed", "dependencies-pinned", "bundle-scanned"}
    assert result["outcome"] == "fail"
    assert all(r["message"] and r["hint"] for r in failed.values())


def test_actions_per_environment_and_per_policy() -> None:
    env = EnvironmentConfig.model_validate({"policies": {
        "default_action": "warn", "actions": {"model-card": "enforce", "parity-passed": "off"},
        "budget_usd": 10}})
    result = _evaluate({}, env)
    by_name = {r["name"]: r for r in result["results"]}
    assert "parity-passed" not in by_name
    assert by_name["model-card"]["action"] == "enforce" and result["outcome"] == "fail"
    assert not by_name["within-budget"]["passed"]  # 1 CPU + 2 GB = $38 > $10


def test_a_bad_policy_file_is_a_configuration_error_that_names_it(tmp_path: Path) -> None:
    bad = tmp_path / "p.yaml"
    bad.write_text("policies:\n  - {name: x, expression: 'release.team ==', message: m}\n")
    with pytest.raises(errors.ConfigurationError, match="policy x in .* is not valid CEL"):
        PolicySet.load([bad])
    bad.write_text("policies:\n  - {name: x, expression: 'true', message: m}\n"
                   "  - {name: x, expression: 'true', message: m}\n")
    with pytest.raises(errors.ConfigurationError, match="unique: x"):
        PolicySet.load([bad])


def test_an_expression_that_cannot_be_evaluated_fails_and_says_why(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("policies:\n  - {name: odd, expression: 'evidence.nothing.here', "
                    "message: broken rule}\n")
    context = policy_context(RELEASE, {}, "prod", EnvironmentConfig(), Pricing(), "staging")
    [result] = PolicySet.load([path]).evaluate(context, "model", "prod", {}, "enforce")[
        "results"]
    assert not result["passed"] and "could not evaluate" in result["message"]


class _Evil:
    def __reduce__(self) -> tuple:
        return (os.system, ("echo owned",))


class _NotebookClass:  # pickled by value, as classes defined in a notebook are
    def predict(self, X: list) -> list:
        return X


def test_the_scan_flags_dangerous_calls_but_not_notebook_code(tmp_path: Path) -> None:
    evil, fine = tmp_path / "evil" / "models", tmp_path / "fine" / "models"
    evil.mkdir(parents=True)
    fine.mkdir(parents=True)
    (evil / "model.pkl").write_bytes(cloudpickle.dumps(_Evil()))
    import sys

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        (fine / "model.pkl").write_bytes(cloudpickle.dumps(_NotebookClass()))
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    bad = scan_bundle(evil.parent)
    assert not bad["clean"] and "posix.system" in bad["dangerous"]
    good = scan_bundle(fine.parent)
    assert good["clean"] and good["code_by_value"] and good["scanner"].startswith("picklescan")


def test_unpinned_requirements() -> None:
    assert unpinned(["a==1", "b>=2", "c", "d==1.*", "# comment"]) == ["b>=2", "c", "d==1.*"]


def test_the_example_platform_config_adds_its_rules_to_the_builtin_set() -> None:
    from goldenpath_server._environments import load_platform_config

    repo = Path(__file__).resolve().parents[2]
    example = repo / "docs" / "examples" / "platform" / "goldenpath.yaml"
    config = load_platform_config(example, [])
    names = [p.name for p in PolicySet.load(config.policy_files).policies]
    assert "bundle-scanned" in names and names[-1] == "data-fingerprinted"
    assert config.environments["prod"].approvals == 1


def test_resources_come_from_the_spec_or_the_bundle_label() -> None:
    from goldenpath_server._evidence import resources_of

    assert resources_of({"resources": {"cpu": 2, "memory_gb": 4}})["cpu"] == 2.0
    label = {"labels": {"goldenpath.resources": '{"cpu": 1, "memory_gb": 3, "gpu": 1}'}}
    assert resources_of(label) == {"cpu": 1.0, "memory_gb": 3.0, "replicas": 1.0}
    assert resources_of({"labels": {"goldenpath.resources": "not json"}})["cpu"] == 0.0
