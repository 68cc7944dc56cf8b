"""goldenpath in JupyterLab: a "Deployments" sidebar, deploy-from-kernel, notebook widgets.

    pip install ./jupyter_ext          # prebuilt: no `jupyter lab build`
    import goldenpath as gp; gp.panel()   # the widget table in a notebook (from the SDK)

The Jupyter server extension proxies /goldenpath/... to the promotion server and adds the
user's token there, so the browser never sees it. Configure it with GOLDENPATH_SERVER /
GOLDENPATH_TOKEN / GOLDENPATH_USER or `c.GoldenpathJupyter.server = ...`.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "panel"]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "goldenpath-jupyter"}]


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "goldenpath_jupyter"}]


def _load_jupyter_server_extension(server_app: Any) -> None:
    """Register the /goldenpath/ handlers (imported here: kernels never need tornado)."""
    from goldenpath_jupyter._config import GoldenpathJupyter
    from goldenpath_jupyter._handlers import setup_handlers

    config = GoldenpathJupyter(config=server_app.config)
    setup_handlers(server_app.web_app, config)
    server_app.log.info("goldenpath_jupyter: proxying /goldenpath/api to %s", config.server)


def panel(**kwargs: Any) -> Any:
    """gp.panel(), kept here for older notebooks: the widget table lives in the SDK."""
    from goldenpath import panel as sdk_panel

    return sdk_panel(**kwargs)
