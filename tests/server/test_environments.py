"""The platform config's environments: what a platform team writes is checked on load, and a
bad value is refused with the field that holds it."""
from __future__ import annotations

from pathlib import Path

import pytest

from goldenpath_api.errors import ConfigurationError
from goldenpath_server._environments import load_platform_config


def _config(tmp_path: Path, prod: str) -> Path:
    path = tmp_path / "goldenpath.yaml"
    path.write_text("environments:\n  prod:\n    target: kubernetes\n" + prod)
    return path


def test_the_router_is_sized_in_kubernetes_quantities(tmp_path: Path) -> None:
    default = load_platform_config(_config(tmp_path, ""), []).environments["prod"]
    assert (default.traffic, default.router_cpu, default.router_memory) == \
        ("replicas", "200m", "128Mi")
    sized = load_platform_config(_config(
        tmp_path, "    traffic: router\n    router_cpu: '1.5'\n    router_memory: 256Mi\n"),
        []).environments["prod"]
    assert (sized.traffic, sized.router_cpu, sized.router_memory) == ("router", "1.5", "256Mi")


@pytest.mark.parametrize("line, field", [("router_cpu: two", "router_cpu"),
                                         ("router_memory: 128MB", "router_memory"),
                                         ("traffic: mesh", "traffic")])
def test_a_bad_traffic_setting_is_refused_with_its_field(tmp_path: Path, line: str,
                                                         field: str) -> None:
    with pytest.raises(ConfigurationError) as err:
        load_platform_config(_config(tmp_path, f"    {line}\n"), [])
    assert f"environments.prod.{field}" in err.value.message
