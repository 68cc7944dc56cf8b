"""The server's one typed settings object; environment variables are read here and only here."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_home() -> Path:
    return Path.home() / ".goldenpath"


class Settings(BaseSettings):
    """Settings for the promotion server (env prefix GOLDENPATH_)."""

    model_config = SettingsConfigDict(env_prefix="GOLDENPATH_", extra="ignore")

    home: Path = Field(default_factory=default_home)
    database_url: str = ""  # default: sqlite under home
    host: str = "127.0.0.1"
    port: int = 8731
    max_bundle_bytes: int = 2 * 1024**3
    token: str = ""  # the bootstrap admin token; when set, every API call needs a token
    config: Path | None = None  # the platform's config file (environments, policies)
    environments: list[str] = ["dev", "staging", "prod"]  # used when there is no config file
    rollout_timeout_s: float = 180.0
    stop_deployments_on_exit: bool = False
    mlflow_tracking_uri: str = ""  # when set, model releases are registered there
    external_url: str = ""  # how pods and others reach this server; default http://host:port
    # the local target forks serving processes from a zygote that has imported BentoML and
    # these modules (plus those of the bundles it has served; targets/_warm.py); false: a
    # cold `bentoml serve` per rollout (GOLDENPATH_LOCAL_WARM_WORKER=false)
    local_warm_worker: bool = True
    local_warm_preload: list[str] = ["numpy", "sklearn"]

    @property
    def artifacts_dir(self) -> Path:
        return self.home / "artifacts"

    @property
    def runtime_dir(self) -> Path:
        return self.home / "runtime"

    def public_url(self) -> str:
        """Where others (pods, webhooks consumers) reach this server."""
        return self.external_url or f"http://{self.host}:{self.port}"

    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'goldenpath.db'}"
