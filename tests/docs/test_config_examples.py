"""The configuration the guides show is configuration the server accepts: every ```yaml block
of docs/ that is goldenpath's own format (a platform config, a policy file, an environment's
monitoring block, SLO objectives) loads as written, with the same code the server runs at
start. Blocks in other tools' formats (Prometheus, Kubernetes RBAC) are left to their own
checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from goldenpath_server._environments import load_platform_config
from goldenpath_server._policies import PolicySet
from goldenpath_server.monitoring._config import MonitoringConfig
from goldenpath_server.monitoring._slo import parse_objectives
from tests.docs.test_docs import REPO, blocks

GUIDES = sorted(str(p.relative_to(REPO)) for p in (REPO / "docs").glob("*.md"))


def _ours(code: str) -> tuple[str, Any] | None:
    try:
        raw = yaml.safe_load(code)
    except yaml.YAMLError:
        return None
    if not isinstance(raw, dict):
        return None
    for kind in ("environments", "policies", "monitoring"):
        if kind in raw:
            return kind, raw
    if set(raw) <= {"availability", "latency"}:
        return "slo", raw
    return None


def _examples() -> list[Any]:
    found = []
    for doc in GUIDES:
        for block in blocks(doc):
            if block.lang == "yaml" and (ours := _ours(block.code)) is not None:
                found.append(pytest.param(ours[0], block.code, id=f"{doc}:{block.line}"))
    return found


EXAMPLES = _examples()


def test_the_guides_show_each_kind_of_config() -> None:
    kinds = {param.values[0] for param in EXAMPLES}
    assert kinds == {"environments", "policies", "monitoring", "slo"}, kinds  # found


@pytest.mark.parametrize(("kind", "code"), EXAMPLES)
def test_a_config_example_loads_as_written(kind: str, code: str, tmp_path: Path) -> None:
    path = tmp_path / "example.yaml"
    path.write_text(code)
    if kind == "environments":
        config = load_platform_config(path, ["dev", "staging", "prod"])
        assert config.environments
    elif kind == "policies":
        assert PolicySet.load([path]).policies
    elif kind == "monitoring":
        MonitoringConfig.model_validate(yaml.safe_load(code)["monitoring"])
    else:
        assert parse_objectives(yaml.safe_load(code)).targets()
