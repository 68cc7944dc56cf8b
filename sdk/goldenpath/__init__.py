"""goldenpath — one call from a notebook to a governed, live model endpoint.

    import goldenpath as gp
    d = gp.deploy(model, name="churn", sample=X_test[:5], team="risk",
                  metrics={"auc": 0.91}, data={"train": X_train})
    d.url; d.predict(X_test[:3]); d.status(); d.logs(); d.events(); d.card; d.evidence()
    d.promote("staging"); p = d.promote("prod")   # a Promotion when prod needs approval
    d.promote("prod", strategy="canary", steps=[10, 50, 100]); d.rollout().abort()
    gp.approvals(); gp.approve("churn", "prod")   # as another user (four eyes)
    gp.list(); gp.get("churn"); gp.rollback("churn"); gp.rollback("churn", to=2)
    gp.release_app("web", "registry/web@sha256:...", env="dev"); gp.set_team("churn", "risk")
    gp.inventory(); gp.export_inventory("inventory.csv"); gp.audit_log("churn")
    gp.verify_audit(); gp.whoami(); gp.figures()   # change failure rate, lead time, ...
    gp.admin.grant("bob", team="risk", role="approver"); gp.admin.create_token("bob")
    gp.configure(server=..., token=...); gp.stop_server()

Waiting for a rollout or for approvals follows the server's event stream.
Errors are goldenpath.errors.GoldenpathError subclasses; each says what to fix.
"""

from goldenpath import admin, errors
from goldenpath._config import Config, configure
from goldenpath._deploy import (
                                approvals,
                                approve,
                                audit_log,
                                deploy,
                                deploy_archive,
                                export_inventory,
                                figures,
                                get,
                                inventory,
                                release_app,
                                rollback,
                                set_team,
                                stop_server,
                                verify_audit,
                                whoami,
)
from goldenpath._deploy import list_services as list  # noqa: A001 - the public name is gp.list
from goldenpath._deployment import Deployment
from goldenpath._panel import panel
from goldenpath._promotion import Promotion
from goldenpath._rollout import Rollout
from goldenpath.errors import GoldenpathError
from goldenpath_api import __version__  # noqa: E402

__all__ = ["Config", "Deployment", "GoldenpathError", "Promotion", "__version__", "admin",
           "approvals", "approve", "audit_log", "configure", "deploy", "deploy_archive",
           "errors", "export_inventory", "figures", "get", "inventory", "list", "panel",
           "release_app", "rollback", "Rollout", "set_team", "stop_server", "verify_audit",
           "whoami"]
