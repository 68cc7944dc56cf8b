"""goldenpath — one call from a notebook to a governed, live model endpoint.

    import goldenpath as gp
    d = gp.deploy(model, name="churn", sample=X_test[:5], team="risk",
                  metrics={"auc": 0.91}, data={"train": X_train})
    d.url; d.predict(X_test[:3]); d.status(); d.logs(); d.card; d.evidence()
    d.promote("staging"); p = d.promote("prod")   # a Promotion when prod needs approval
    gp.approve("churn", "prod")                   # as another user (four eyes)
    gp.list(); gp.get("churn"); gp.rollback("churn"); gp.rollback("churn", to=2)
    gp.release_app("web", "registry/web@sha256:...", env="dev"); gp.set_team("churn", "risk")
    gp.inventory(); gp.verify_audit()
    gp.configure(server=..., token=...)

Errors are goldenpath.errors.GoldenpathError subclasses; each says what to fix.
"""

from goldenpath import errors
from goldenpath._config import Config, configure
from goldenpath._deploy import (
                                approve,
                                deploy,
                                deploy_archive,
                                get,
                                inventory,
                                release_app,
                                rollback,
                                set_team,
                                verify_audit,
)
from goldenpath._deploy import list_services as list  # noqa: A001 - the public name is gp.list
from goldenpath._deployment import Deployment
from goldenpath._panel import panel
from goldenpath._promotion import Promotion
from goldenpath.errors import GoldenpathError

from goldenpath_api import __version__  # noqa: E402

__all__ = ["Config", "Deployment", "GoldenpathError", "Promotion", "__version__", "approve",
           "configure", "deploy", "deploy_archive", "errors", "get", "inventory", "list",
           "panel", "release_app", "rollback", "set_team", "verify_audit"]
