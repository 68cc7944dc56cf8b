"""gp.panel(): the notebook widget table of deployments (goldenpath.widgets)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from goldenpath_api.rules import DEFAULT_ENVIRONMENTS


def panel(environments: Sequence[str] = DEFAULT_ENVIRONMENTS, sdk: Any = None) -> Any:
    """A widget table of your deployments with Promote / Rollback buttons (needs ipywidgets).

    Imported on call: `import goldenpath` must work in kernels without ipywidgets."""
    import sys

    from goldenpath.widgets import DeploymentsTable

    # the SDK's own facade (the package that exposes this function), handed in, not imported
    facade = sdk if sdk is not None else sys.modules[__name__.rpartition(".")[0]]
    return DeploymentsTable(facade, environments=environments).widget
