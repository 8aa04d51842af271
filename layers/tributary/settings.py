"""All settings in one place: environment variables prefixed ``TRIBUTARY_`` (or a ``.env`` file).

Every field has a default that works on the embedded local cloud, so nothing needs setting to
get started. Secrets are ``SecretStr`` so they never appear in logs or reprs.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import quote, urlsplit, urlunsplit

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
    sources_dir: Path | None = Field(None, description="Source declarations (*.yaml); default: "
                                     "the sources/ folder beside the package (in the checkout "
                                     "layers/sources, a link to the project's sources/; on "
                                     "Lambda /opt/python/sources).")
    region: str = "us-east-1"

    # -- embedded local cloud ---------------------------------------------------------------
    host: str = "127.0.0.1"
    emulator_port: int = Field(4566, description="moto server; awslocal expects 4566.")
    runtime_port: int = Field(4580, description="Function runtime: function URLs, HTTP APIs.")
    athena_port: int = Field(4568, description="The Athena service; reached through the "
                             "emulator's endpoint, as on AWS.")
    athena_output_location: str = Field(
        "s3://tributary-query-results/athena/", description="Where work group primary puts "
        "query results when a call names none (the bucket is in the template).")
    pg_dsn: SecretStr = Field(
        SecretStr("postgresql://tributary:tributary@127.0.0.1:5433/tributary"),
        description="PostgreSQL DSN. A local host makes the stack run an embedded server.",
    )
    pg_password_secret: str = Field("", description="A Secrets Manager secret (ARN or name) "
                                    "holding the database password, a plain string or RDS's "
                                    "JSON with \"password\"; it replaces the DSN's password. "
                                    "Empty: the DSN's own.")
    emulator_access_key_id: str = Field("test", description="The credentials functions get "
                                        "on the embedded cloud (the emulator accepts any).")
    emulator_secret_access_key: SecretStr = SecretStr("test")
    pg_embedded: bool = Field(True, description="Start pgserver when the DSN host is local.")
    startup_timeout_s: float = 60.0

    # -- function runtime -------------------------------------------------------------------
    runtime_max_concurrency: int = Field(
        10, description="Account-wide cap on concurrently running handlers."
    )
    runtime_default_concurrency: int = Field(
        2, description="Per-function cap when the template sets no ReservedConcurrentExecutions."
    )
    build_tools: Path = Field(Path.home() / ".cache" / "tributary", description="Where "
                              "`tributary build` keeps its pinned SAM CLI (a virtualenv of "
                              "its own, shared by every state folder).")
    runtime_from_build: bool = Field(False, description="Run every function from what "
                                     "`tributary build` built (zip: its runtime's Python with "
                                     "only the artifact; image: a container), not the checkout.")
    runtime_prewarm: bool = Field(True, description="Start one worker per function ahead of "
                                  "its first invocation (one at a time, in the background).")
    schedule_scale: float = Field(
        1.0, gt=0, description="Multiplier on schedule periods; tests shrink minutes to seconds."
    )
    log_level: str = "INFO"

    # -- resources (the template passes the deployed names to functions) --------------------
    raw_bucket: str = "tributary-raw"
    lake_bucket: str = "tributary-lake"
    heartbeat_queue_url: str = ""
    transform_queue_url: str = ""
    checkpoints_table: str = "tributary-checkpoints"

    # -- pipeline ----------------------------------------------------------------------------
    fetch_parallelism: int = Field(4, description="Pages fetched at once by one fetcher.")
    fetch_lease_s: float = Field(60.0, description="A fetcher's claim on a partition; renewed "
                                 "per page, taken over by another fetcher once it lapses.")
    reject_threshold: float = Field(0.01, ge=0, le=1, description="A stream that rejects "
                                    "more than this share of the records it read is marked "
                                    "failed (summary, exit code, status --json).")
    fetch_margin_s: float = Field(15.0, description="Stop fetching this long before the "
                                  "function's timeout.")
    fetch_max_attempts: int = Field(3, ge=1, description="Failed attempts at a partition "
                                    "(each after the HTTP client's own retries) before its "
                                    "stream is marked failed until its next pass.")
    fetch_retry_s: float = Field(5.0, description="The wait before a failed partition is tried "
                                 "again; it doubles with each attempt.")
    fetch_unchanged_note_s: float = Field(
        60.0, description="A poll that finds a versioned stream unchanged (a 304) writes "
        "nothing; its checkpoint records the check at most this often (status's 'fetched').")

    # -- webhook -------------------------------------------------------------------------------
    webhook_max_body_bytes: int = Field(1_048_576, description="Larger requests get 413.")
    webhook_signing_secret: SecretStr | None = Field(
        None, description="When set, requests must carry a valid X-Hallow-Signature.")
    webhook_unsigned: Literal["warn", "refuse"] = Field(
        "warn", description="With no signing secret, `stack up` warns at every start, or "
        "refuses to start.")
    webhook_signature_tolerance_s: float = Field(300.0, description="Oldest signature accepted.")
    webhook_flush_rows: int = Field(20_000, description="Flush once this many events wait.")
    webhook_flush_age_s: float = Field(60.0, description="...or once the oldest waited this long.")
    webhook_flush_max_rows: int = Field(200_000, gt=0, description="One flush moves at most "
                                        "this many events; the rest wait for the next.")

    # -- live sources --------------------------------------------------------------------------
    live_connections_table: str = "tributary-live-connections"
    live_management_url: str = Field("", description="The WebSocket API's stage URL, where "
                                     "changes are pushed to subscribers (AWS).")
    live_lease_s: float = Field(10.0, gt=0, description="A stream holder's lease; renewed "
                                "every fifth of it, taken over once it lapses.")
    live_hold_s: float = Field(0.0, ge=0, description="How long a holder keeps the stream "
                               "before handing over; 0: its function's whole timeout.")
    live_handover_s: float = Field(30.0, gt=0, description="A holder starts its successor "
                                   "this long before it must stop.")
    live_batch_s: float = Field(0.02, gt=0, description="Changes arriving within this long "
                                "are applied in one transaction.")
    live_flush_s: float = Field(10.0, gt=0, description="Applied changes go to the raw zone "
                                "and the lake at most this long after they were applied.")
    live_catchup_max: int = Field(1_000, gt=0, description="A subscriber further behind "
                                  "than this many changes in its range is told to reload.")

    # -- lake --------------------------------------------------------------------------------
    lake_retention_s: int = Field(
        3600, ge=1, description="How long the lake keeps what a newer commit replaced: log "
        "entries (time travel) and removed data files (for queries that started before). "
        "Longer than any query runs; replays rebuild from the raw zone and PostgreSQL.")
    lake_compact_files: int = Field(8, ge=2, description="A table is compacted once one of "
                                    "its partitions has this many small files.")

    # -- query ---------------------------------------------------------------------------------
    query_max_rows: int = Field(10_000, description="Results are cut here (with a note).")
    query_timeout_s: float = Field(30.0, description="A query running longer is interrupted.")
    query_memory_mb: int = Field(512, gt=0, description="A query needing more memory is "
                                 "refused with a message naming this limit.")
    query_pg_dsn: SecretStr | None = Field(
        None, description="The role the query engine reads PostgreSQL as (SELECT on the data "
        "tables only). Default: the DSN's user with '_reader' appended and a password derived "
        "from the DSN's; the embedded stack creates that role.")

    # -- derived ---------------------------------------------------------------------------
    @property
    def home_dir(self) -> Path:
        return self.home.resolve()

    @property
    def sources_path(self) -> Path:
        return self.sources_dir or Path(__file__).resolve().parent.parent / "sources"

    @property
    def emulator_url(self) -> str:
        return f"http://{self.host}:{self.emulator_port}"

    @property
    def runtime_url(self) -> str:
        return f"http://{self.host}:{self.runtime_port}"

    @property
    def athena_url(self) -> str:
        return f"http://{self.host}:{self.athena_port}"

    @property
    def reader_dsn(self) -> str:
        if self.query_pg_dsn is not None:
            return self.query_pg_dsn.get_secret_value()
        u = urlsplit(self.pg_dsn.get_secret_value())
        password = hashlib.sha256(f"reader:{u.password or ''}".encode()).hexdigest()[:32]
        netloc = f"{u.username}_reader:{password}@{u.hostname}" + (f":{u.port}" if u.port else "")
        return urlunsplit((u.scheme, netloc, u.path, u.query, u.fragment))

    @property
    def pg_is_local(self) -> bool:
        host = urlsplit(self.pg_dsn.get_secret_value()).hostname or "127.0.0.1"
        return self.pg_embedded and host in LOCAL_HOSTS


class DatasyncSettings(BaseSettings):
    """How the DataSync bulk-feed hook (``extract/datasync.py``) reads the feed. Where the API
    is, its key and its listings' page size are in its declaration, ``sources/datasync.yaml``
    (from the same ``TRIBUTARY_DATASYNC_*`` variables); the simulator's own settings are in
    ``infra/simulators/settings.py``."""

    model_config = SettingsConfigDict(
        env_prefix="TRIBUTARY_DATASYNC_", env_file=".env", extra="ignore", frozen=True
    )

    feed_page_size: int = Field(10_000, description="Bulk feed page size (server caps at 10000).")
    use_feed: bool = Field(True, description="Use the bulk feed when the server offers it.")
    partition_events: int = Field(100_000, description="Target events per feed partition.")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    settings = Settings()
    if not settings.pg_password_secret:
        return settings
    dsn = urlsplit(settings.pg_dsn.get_secret_value())
    host = f"{dsn.hostname}:{dsn.port}" if dsn.port else str(dsn.hostname)
    netloc = f"{dsn.username}:{quote(_secret_password(settings), safe='')}@{host}"
    return settings.model_copy(update={"pg_dsn": SecretStr(urlunsplit(dsn._replace(
        netloc=netloc)))})


def _secret_password(settings: Settings) -> str:
    import boto3  # only a deployment with a secret asks (and only once: get_settings caches)

    value = boto3.client("secretsmanager", region_name=settings.region).get_secret_value(
        SecretId=settings.pg_password_secret)["SecretString"]
    try:
        found = json.loads(value)
    except ValueError:
        return str(value)
    return str(found["password"]) if isinstance(found, dict) else str(value)


@lru_cache(maxsize=1)
def get_datasync_settings() -> DatasyncSettings:
    return DatasyncSettings()
