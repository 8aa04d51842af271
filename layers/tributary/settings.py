"""All settings in one place: environment variables prefixed ``TRIBUTARY_`` (or a ``.env`` file).

Every field has a default that works on the embedded local cloud, so nothing needs setting to
get started. Secrets are ``SecretStr`` so they never appear in logs or reprs.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr, field_validator
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
                                     "the project's sources/ folder.")
    region: str = "us-east-1"

    # -- embedded local cloud ---------------------------------------------------------------
    host: str = "127.0.0.1"
    emulator_port: int = Field(4566, description="moto server; awslocal expects 4566.")
    runtime_port: int = Field(4580, description="Function runtime: function URLs, HTTP APIs.")
    pg_dsn: SecretStr = Field(
        SecretStr("postgresql://tributary:tributary@127.0.0.1:5433/tributary"),
        description="PostgreSQL DSN. A local host makes the stack run an embedded server.",
    )
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
        return self.sources_dir or Path(__file__).resolve().parents[2] / "sources"

    @property
    def emulator_url(self) -> str:
        return f"http://{self.host}:{self.emulator_port}"

    @property
    def runtime_url(self) -> str:
        return f"http://{self.host}:{self.runtime_port}"

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


class _Upstream(BaseSettings):
    """An upstream the stack runs a simulator for when its URL is local."""

    url: str

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or 80

    @property
    def is_local(self) -> bool:
        return (urlsplit(self.url).hostname or "") in LOCAL_HOSTS


class DatasyncSettings(_Upstream):
    """The DataSync source: where the pipeline reads it, and how the simulator behaves."""

    model_config = SettingsConfigDict(
        env_prefix="TRIBUTARY_DATASYNC_", env_file=".env", extra="ignore", frozen=True
    )

    # -- the pipeline's view of the source ------------------------------------------------
    url: str = Field("http://127.0.0.1:4590",
                     description="Base URL; a local host makes the stack run the simulator.")
    api_key: SecretStr = SecretStr("ds-local-key")
    request_timeout_s: float = Field(10.0, description="Client timeout; a stall beyond it retries.")
    feed_page_size: int = Field(10_000, description="Bulk feed page size (server caps at 10000).")
    page_size: int = Field(5_000, description="Cursor endpoints' page size (server caps at 5000).")
    use_feed: bool = Field(True, description="Use the bulk feed when the server offers it.")
    partition_events: int = Field(100_000, description="Target events per feed partition.")

    # -- the simulator ---------------------------------------------------------------------
    bind_host: str = Field("127.0.0.1", description="Where the simulator listens (0.0.0.0 in "
                           "a container).")
    events: int = 3_000_000
    sessions: int = 60_000
    users: int = 3_000
    days: int = 30
    start_ms: int = Field(1_790_812_800_000, description="First event time (2026-10-01 UTC).")
    seed: int = 7
    rate_window_s: float = 1.0
    rate_events: int = 10
    rate_sessions: int = 40
    rate_feed: int = 20
    feed_enabled: bool = True
    page_cap: int = Field(5_000, description="Largest page the listings serve, whatever limit "
                          "is asked (silently capped).")
    feed_page_cap: int = Field(10_000, description="Largest page the bulk feed serves.")
    cursor_ttl_s: float = 120.0
    token_ttl_s: float = 300.0
    extra_timestamp_formats: bool = Field(
        False, description="Also epoch seconds, numeric strings and ISO with a UTC offset.")
    timestamp_forms: tuple[str, ...] = Field((), description="Write events' and sessions' "
                                             "times in these forms (names in normalize/"
                                             "stamp_forms.py) instead of the defaults.")
    @field_validator("timestamp_forms")
    @classmethod
    def _known_forms(cls, forms: tuple[str, ...]) -> tuple[str, ...]:
        from tributary.normalize.stamp_forms import FORMS

        unknown = sorted(set(forms) - set(FORMS))
        if unknown:
            raise ValueError(f"unknown timestamp forms {unknown}; known: {sorted(FORMS)}")
        return forms

    chaos_odd_types_rate: float = Field(0.0, ge=0, le=1, description="Share of records whose "
                                        "fields are all present but oddly typed (numbers as "
                                        "strings, integers as floats, nulls).")
    chaos_error_rate: float = Field(0.0, ge=0, le=1, description="Share of 500/503 answers.")
    chaos_stall_rate: float = Field(0.0, ge=0, le=1, description="Share of stalled answers.")
    chaos_stall_s: float = 15.0
    chaos_missing_rate: float = Field(0.0, ge=0, le=1,
                                      description="Share of events missing a field.")
    chaos_duplicate_rate: float = Field(0.0, ge=0, le=1,
                                        description="Share of pages repeating an event.")
    chaos_bad_timestamp_every: int = Field(0, ge=0, description="Every Nth event (the Nth, "
                                           "2Nth, ...) has an unreadable timestamp; 0: none.")


class HallowSettings(BaseSettings):
    """The Hallow push simulator: what it sends to the webhook, and how often."""

    model_config = SettingsConfigDict(
        env_prefix="TRIBUTARY_HALLOW_", env_file=".env", extra="ignore", frozen=True
    )

    port: int = Field(4591, description="The simulator's port: pull API, health, stats.")
    url: str = Field("http://127.0.0.1:4591", description="Where the pipeline pulls Hallow.")
    bind_host: str = "127.0.0.1"
    target_url: str = Field("http://127.0.0.1:4580/webhook/events",
                            description="Where events are pushed.")
    push: bool = Field(True, description="Push on a schedule while the stack runs.")
    min_events: int = 1
    max_events: int = 10
    min_interval_s: float = 2.0
    max_interval_s: float = 6.0
    duplicate_rate: float = Field(0.03, ge=0, le=1, description="Share of events sent twice.")
    user_object_rate: float = Field(0.1, ge=0, le=1,
                                    description="Share sending user_id as a user object.")
    users: int = 10_000
    contents: int = 1_000
    seed: int = 11
    pull_events: int = Field(5_000, description="Events behind GET /api/events.")
    pull_error_rate: float = Field(0.10, ge=0, le=1, description="Share of 503 answers.")
    pull_stall_rate: float = Field(0.05, ge=0, le=1, description="Share of stalled answers.")
    pull_stall_s: float = 10.0


class SnapshotsSettings(_Upstream):
    """The snapshots simulator: three whole-dataset endpoints regenerating on a period."""

    model_config = SettingsConfigDict(
        env_prefix="TRIBUTARY_SNAPSHOTS_", env_file=".env", extra="ignore", frozen=True
    )

    url: str = Field("http://127.0.0.1:4592", description="Base URL; a local host makes the "
                     "stack run the simulator.")
    bind_host: str = "127.0.0.1"
    rows: int = Field(300, description="Rows per dataset (before vanished ones).")
    periods_s: tuple[float, float, float] = Field((5.0, 7.5, 8.0), description="Regeneration "
                                                  "period of each endpoint.")
    empty_rate: float = Field(0.03, ge=0, le=1, description="Share of generations that are "
                              "empty.")
    seed: int = 5


class TimelineSettings(_Upstream):
    """The timeline source (SPEC 4.4): where the consumer reads it, how the simulator acts."""

    model_config = SettingsConfigDict(
        env_prefix="TRIBUTARY_TIMELINE_", env_file=".env", extra="ignore", frozen=True
    )

    url: str = Field("http://127.0.0.1:4593", description="Base URL; a local host makes the "
                     "stack run the simulator.")
    bind_host: str = "127.0.0.1"
    rows: int = Field(100_000, gt=0, description="Rows in the table at start.")
    days: int = Field(30, gt=0, description="Timestamps are now + 0 to this many days.")
    now_s: int = Field(0, description="The 'now' rows are placed after; 0: the start time.")
    seed: int = 13
    tick_s: float = Field(1.0, gt=0, description="Seconds between broadcasts.")
    max_ops: int = Field(31, ge=0, description="Each broadcast carries 0 to this many "
                         "operations.")
    chaos_drop_rate: float = Field(0.0, ge=0, le=1, description="Chance per broadcast that "
                                   "a socket is dropped.")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


@lru_cache(maxsize=1)
def get_datasync_settings() -> DatasyncSettings:
    return DatasyncSettings()
