"""All settings in one place: environment variables prefixed ``TRIBUTARY_`` (or a ``.env`` file).

Every field has a default that works on the embedded local cloud, so nothing needs setting to
get started. Secrets are ``SecretStr`` so they never appear in logs or reprs.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TRIBUTARY_", env_file=".env", extra="ignore", frozen=True
    )

    # -- where things live ------------------------------------------------------------------
    home: Path = Field(Path(".tributary"), description="State folder: pids, logs, pg data.")
    template: Path = Field(Path("template.yaml"), description="The SAM template to deploy.")
    region: str = "us-east-1"

    # -- embedded local cloud ---------------------------------------------------------------
    host: str = "127.0.0.1"
    emulator_port: int = Field(4566, description="moto server; awslocal expects 4566.")
    runtime_port: int = Field(4580, description="Function runtime: function URLs, HTTP APIs.")
    pg_dsn: SecretStr = Field(
        SecretStr("postgresql://tributary:tributary@127.0.0.1:5433/tributary"),
        description="PostgreSQL DSN. A local host makes the stack run an embedded server.",
    )
    pg_embedded: bool = Field(True, description="Start pgserver when the DSN host is local.")
    startup_timeout_s: float = 60.0

    # -- function runtime -------------------------------------------------------------------
    runtime_max_concurrency: int = Field(
        8, description="Account-wide cap on concurrently running handlers."
    )
    runtime_default_concurrency: int = Field(
        2, description="Per-function cap when the template sets no ReservedConcurrentExecutions."
    )
    schedule_scale: float = Field(
        1.0, gt=0, description="Multiplier on schedule periods; tests shrink minutes to seconds."
    )
    log_level: str = "INFO"

    # -- resources (the template passes the deployed names to functions) --------------------
    raw_bucket: str = "tributary-raw"
    lake_bucket: str = "tributary-lake"
    heartbeat_queue_url: str = ""

    # -- derived ---------------------------------------------------------------------------
    @property
    def home_dir(self) -> Path:
        return self.home.resolve()

    @property
    def emulator_url(self) -> str:
        return f"http://{self.host}:{self.emulator_port}"

    @property
    def runtime_url(self) -> str:
        return f"http://{self.host}:{self.runtime_port}"

    @property
    def pg_is_local(self) -> bool:
        host = urlsplit(self.pg_dsn.get_secret_value()).hostname or "127.0.0.1"
        return self.pg_embedded and host in LOCAL_HOSTS


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
