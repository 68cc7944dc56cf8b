"""gp.panel(): the notebook widget table of deployments, from the Jupyter extension package."""

from __future__ import annotations

from typing import Any

from goldenpath.errors import ConfigurationError


def panel(**kwargs: Any) -> Any:
    """A widget table of your deployments with Promote / Rollback buttons."""
    try:
        from goldenpath_jupyter import panel as jupyter_panel
    except ImportError:
        raise ConfigurationError("gp.panel() needs the goldenpath Jupyter extension",
                                 "pip install ./jupyter_ext (from the goldenpath repository)"
                                 ) from None
    return jupyter_panel(**kwargs)
