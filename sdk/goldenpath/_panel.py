"""gp.panel(): the notebook widget table of deployments (goldenpath.widgets)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from goldenpath_api.rules import DEFAULT_ENVIRONMENTS


def panel(environments: Sequence[str] = DEFAULT_ENVIRONMENTS, sdk: Any = None) -> Any:
    """A widget table of your deployments with Promote / Rollback buttons (needs ipywidgets).

    Imported on call: `import goldenpath` must work in kernels without ipywidgets."""
    from goldenpath.widgets import DeploymentsTable

    return DeploymentsTable(environments=environments, sdk=sdk).widget
