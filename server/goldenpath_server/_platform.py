"""The composition root: builds the core's parts and wires them. Nothing here decides.

    releases      services and their releases (_releases.py)
    promotions    policies, approvals, evidence: where a release is let in (_promotions.py)
    rollouts      what runs where: start, roll back, remove, status (_rollouts.py)
    delivery      the rollout itself on the environment's target, and supervision (_delivery.py)
    registration  the MLflow model registry, when configured (_registration.py)
    oversight     inventory, audit trail, events, metrics (_oversight.py)
    monitoring    live models' inference logs and drift against their reference (_monitoring.py)
    accounts      users, roles and tokens (_accounts.py); access: who a caller is (_access.py)

All of them share one Store (_store.py): the database and its one audited write path.
Nothing in the core knows HTTP or CLI: routes call the parts and map GoldenpathError to JSON.
"""

from __future__ import annotations

import logging
import threading

from goldenpath_server._access import Access
from goldenpath_server._accounts import Accounts
from goldenpath_server._bundles import ArtifactStore
from goldenpath_server._delivery import Delivery
from goldenpath_server._environments import Environments, load_platform_config
from goldenpath_server._monitoring import Monitoring
from goldenpath_server._notify import WebhookSender
from goldenpath_server._oversight import Oversight
from goldenpath_server._policies import PolicySet
from goldenpath_server._promotions import Promotions
from goldenpath_server._registration import Registration
from goldenpath_server._registry import ModelRegistry
from goldenpath_server._releases import Releases
from goldenpath_server._rollouts import Rollouts
from goldenpath_server._settings import Settings
from goldenpath_server._store import Store
from goldenpath_server.targets import Target
from goldenpath_server.targets._factory import make_targets

log = logging.getLogger("goldenpath.server")


class Platform:
    """Everything the promotion server does, behind plain method calls on its parts."""

    def __init__(self, settings: Settings, targets: dict[str, Target] | None = None) -> None:
        self.settings = settings
        self.store = Store(settings)
        self.artifacts = ArtifactStore(settings.artifacts_dir, settings.max_bundle_bytes)
        self.config = load_platform_config(settings.config, settings.environments)
        policies = PolicySet.load(self.config.policy_files)
        self.access = Access(self.store.sessions, settings.admin_token(), self.store.write_lock)
        outbound = self.config.outbound()
        if settings.mlflow_tracking_uri:
            outbound.check_url(settings.mlflow_tracking_uri, "GOLDENPATH_MLFLOW_TRACKING_URI")
        registry = (ModelRegistry(settings.mlflow_tracking_uri, settings.public_url(),
                                  http=outbound.session())
                    if settings.mlflow_tracking_uri else None)
        self._stop = threading.Event()  # set on shutdown; targets stop waiting on rollouts
        self.environments = Environments(
            self.config, targets or make_targets(settings, self.config, self._stop))
        self.registration = Registration(self.store, registry)
        self.delivery = Delivery(self.store, self.artifacts, self.environments, self._stop,
                                 went_live=self.registration.went_live)
        self.rollouts = Rollouts(self.store, self.environments, self.delivery)
        self.releases = Releases(self.store, self.artifacts)
        self.promotions = Promotions(self.store, self.environments, policies,
                                     self.config.pricing, self.rollouts, self.registration)
        self.delivery.progressions.gate = self.promotions.gate_switch
        self.monitoring = Monitoring(
            self.store, self.environments, self.artifacts, self._stop,
            settings.monitor_interval_s,
            rollback=lambda service, env: self.rollouts.rollback(service, env, actor="system"))
        self.oversight = Oversight(self.store, self.environments, settings.audit_head_file,
                                   drift=self.monitoring.latest, slos=self.monitoring.slos.latest)
        self.accounts = Accounts(self.store, self.access)
        self.webhooks = WebhookSender(self.config.webhooks, self.oversight.events_since,
                                      self.oversight.head_seq, http=outbound.session())

    def start(self) -> None:
        covered = self.store.migrate()
        if covered:
            log.info("the audit trail now covers %d earlier rows", covered)
        removed = self.artifacts.clean_partial()
        if removed:
            log.info("removed %d half-written uploads", removed)
        self.delivery.start()
        self.monitoring.start()
        self.webhooks.start()

    def close(self) -> None:
        self._stop.set()
        self.webhooks.close()
        self.delivery.close(stop_deployments=self.settings.stop_deployments_on_exit)
        self.environments.stop_all()
        self.store.close()
