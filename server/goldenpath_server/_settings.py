"""The server's one typed settings object; environment variables are read here and only here."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_home() -> Path:
    return Path.home() / ".goldenpath"


class Settings(BaseSettings):
    """Settings for the promotion server (env prefix GOLDENPATH_)."""

    model_config = SettingsConfigDict(env_prefix="GOLDENPATH_", extra="ignore")

    home: Path = Field(default_factory=default_home)
    database_url: SecretStr = SecretStr("")  # default: sqlite under home; may hold a password
    host: str = "127.0.0.1"
    port: int = 8731
    max_bundle_bytes: int = 2 * 1024**3
    token: SecretStr = SecretStr("")  # the bootstrap admin token: when set, calls need tokens
    config: Path | None = None  # the platform's config file (environments, policies)
    environments: list[str] = ["dev", "staging", "prod"]  # used when there is no config file
    rollout_timeout_s: float = 180.0
    # how often the server pulls live models' inference logs and judges full drift windows
    monitor_interval_s: float = Field(default=5.0, gt=0)
    stop_deployments_on_exit: bool = False
    mlflow_tracking_uri: str = ""  # when set, model releases are registered there
    external_url: str = ""  # how pods and others reach this server; default http://host:port
    # the local target forks serving processes from a zygote that has imported BentoML and
    # these modules (plus those of the bundles it has served; targets/_warm.py); false: a
    # cold `bentoml serve` per rollout (GOLDENPATH_LOCAL_WARM_WORKER=false)
    local_warm_worker: bool = True
    local_warm_preload: list[str] = ["numpy", "sklearn"]
    # how local serving processes are isolated (targets/_sandbox.py): auto = the strongest the
    # machine offers, saying so when it is not bubblewrap; bubblewrap = refuse to run
    # without it; off = a minimal environment only (loudly)
    sandbox: Literal["auto", "bubblewrap", "off"] = "auto"
    # where the audit chain's head is also written after every change (outside the
    # database, e.g. on another volume); `audit verify` checks the chain against it
    audit_head_file: Path | None = None

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
        return self.database_url.get_secret_value() or f"sqlite:///{self.home / 'goldenpath.db'}"

    def sqlite_path(self) -> Path | None:
        url = self.resolved_database_url()
        return Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None

    def admin_token(self) -> str:
        return self.token.get_secret_value()


def redact_url(url: str) -> str:
    """`url` without its password (for logs and messages)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))
