"""Fixtures for tests that need a real Kubernetes API: a session-wide cluster.

Set GOLDENPATH_TEST_KUBECONFIG to run against an existing cluster instead of
starting one (tests that stop kube-apiserver are then skipped).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

# tests/_cluster.py is shared by every test folder; make it importable however
# pytest was configured (rootdir, import mode, with or without __init__.py).
_REPO = Path(__file__).resolve().parents[2]
if str(_REPO) not in sys.path:
    sys.path.insert(0, str(_REPO))

from tests._cluster import BUILD_TIMEOUT_S, Cluster, start_cluster  # noqa: E402


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark tests that use the cluster `k8s`; give the first one time for a cold build.

    The session cluster is started in the setup of the first test that needs it, and
    on a machine without cached binaries that includes compiling Kubernetes (10-20 min),
    longer than the per-test timeout. Run scripts/cluster/build.sh first to avoid it.
    """
    first = True
    for item in items:
        if "kube_cluster" not in getattr(item, "fixturenames", ()):
            continue
        item.add_marker(pytest.mark.k8s)
        if first and config.pluginmanager.hasplugin("timeout"):
            item.add_marker(pytest.mark.timeout(BUILD_TIMEOUT_S))
        first = False


@dataclass
class ExternalCluster:
    """A cluster someone else runs: usable, but not ours to stop or restart."""

    kubeconfig: Path

    def stop_apiserver(self) -> None:
        pytest.skip("GOLDENPATH_TEST_KUBECONFIG cluster: cannot stop its kube-apiserver")

    def start_apiserver(self) -> None:
        pytest.skip("GOLDENPATH_TEST_KUBECONFIG cluster: cannot start its kube-apiserver")


@pytest.fixture(scope="session")
def kube_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster | ExternalCluster]:
    """A running control plane with 3 KWOK nodes (kwok-node-2 has one nvidia.com/gpu)."""
    external = os.environ.get("GOLDENPATH_TEST_KUBECONFIG")
    if external:
        yield ExternalCluster(kubeconfig=Path(external))
        return
    cluster = start_cluster(tmp_path_factory.mktemp("kube-cluster"))
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def kubeconfig(kube_cluster: Cluster | ExternalCluster) -> Path:
    """Path of an admin kubeconfig for the session's cluster."""
    return kube_cluster.kubeconfig
