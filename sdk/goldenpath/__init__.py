"""goldenpath — one call from a notebook to a governed, live model endpoint.

    import goldenpath as gp
    d = gp.deploy(model, name="churn", sample=X_test[:5])
    d.url; d.predict(X_test[:3]); d.status(); d.logs(); d.promote("staging")
    gp.list(); gp.get("churn"); gp.rollback("churn"); gp.configure(server=..., token=...)

Errors are goldenpath.errors.GoldenpathError subclasses; each says what to fix.
"""

from goldenpath import errors
from goldenpath._config import Config, configure
from goldenpath._deploy import deploy, deploy_archive, get, rollback
from goldenpath._deploy import list_services as list  # noqa: A001 - the public name is gp.list
from goldenpath._deployment import Deployment
from goldenpath.errors import GoldenpathError

__version__ = "0.1.0"

__all__ = ["Config", "Deployment", "GoldenpathError", "__version__", "configure", "deploy",
           "deploy_archive", "errors", "get", "list", "rollback"]
