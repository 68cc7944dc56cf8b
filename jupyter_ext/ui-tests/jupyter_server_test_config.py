"""JupyterLab for the Galata UI test: galata's test settings, a port from GP_UI_PORT, root ok.

The goldenpath server URL and token come from GOLDENPATH_SERVER / GOLDENPATH_TOKEN, set by
scripts/test.sh from the test platform it started.
"""

import os

from jupyterlab.galata import configure_jupyter_server

c = get_config()  # noqa: F821 - provided by Jupyter when it loads this file
configure_jupyter_server(c)
c.ServerApp.port = int(os.environ.get("GP_UI_PORT", "8888"))
c.ServerApp.allow_root = True
c.ServerApp.jpserver_extensions = {"goldenpath_jupyter": True}
