"""How each upstream simulator behaves (SPEC 4), from ``TRIBUTARY_<SIMULATOR>_*`` variables.

These stay out of the Lambda layer: the pipeline knows an upstream only through its source
declaration (``sources/*.yaml``). The stack reads ``url`` to decide whether to run a
simulator at all: a local address runs one, any other means a real (or another) server.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from tributary.normalize.stamp_forms import FORMS
from tributary.settings import LOCAL_HOSTS, DatasyncSettings


def _env(name: str) -> SettingsConfigDict:
    return SettingsConfigDict(env_prefix=f"TRIBUTARY_{name}_", env_file=".env", extra="ignore",
                              frozen=True)


class Simulated(BaseSettings):
    """An upstream the stack runs a simulator for when its URL is local."""

    url: str
    bind_host: str = Field("127.0.0.1", description="Where the simulator listens (0.0.0.0 in "
                           "a container).")

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or 80

    @property
    def is_local(self) -> bool:
        return (urlsplit(self.url).hostname or "") in LOCAL_HOSTS


class DatasyncServerSettings(Simulated, DatasyncSettings):
    """The DataSync simulator (SPEC 4.1). It extends the pipeline's view of the feed, so one
    object can configure both sides of a test."""

    model_config = _env("DATASYNC")

    url: str = Field("http://127.0.0.1:4590",
                     description="Base URL; a local host makes the stack run the simulator.")
    api_key: SecretStr = SecretStr("ds-local-key")
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
    """The Hallow simulator (SPEC 4.2): its pull API, and what it pushes to the webhook."""

    model_config = _env("HALLOW")

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


class SnapshotsSettings(Simulated):
    """The snapshots simulator (SPEC 4.3): three whole-dataset endpoints regenerating on a
    period."""

    model_config = _env("SNAPSHOTS")

    url: str = Field("http://127.0.0.1:4592", description="Base URL; a local host makes the "
                     "stack run the simulator.")
    rows: int = Field(300, description="Rows per dataset (before vanished ones).")
    periods_s: tuple[float, float, float] = Field((5.0, 7.5, 8.0), description="Regeneration "
                                                  "period of each endpoint.")
    empty_rate: float = Field(0.03, ge=0, le=1, description="Share of generations that are "
                              "empty.")
    seed: int = 5


class TimelineSettings(Simulated):
    """The timeline simulator (SPEC 4.4): a mutating table and its change stream."""

    model_config = _env("TIMELINE")

    url: str = Field("http://127.0.0.1:4593", description="Base URL; a local host makes the "
                     "stack run the simulator.")
    rows: int = Field(100_000, gt=0, description="Rows in the table at start.")
    days: int = Field(30, gt=0, description="Timestamps are now + 0 to this many days.")
    now_s: int = Field(0, description="The 'now' rows are placed after; 0: the start time.")
    seed: int = 13
    tick_s: float = Field(1.0, gt=0, description="Seconds between broadcasts.")
    max_ops: int = Field(31, ge=0, description="Each broadcast carries 0 to this many "
                         "operations.")
    chaos_drop_rate: float = Field(0.0, ge=0, le=1, description="Chance per broadcast that "
                                   "a socket is dropped.")


class BazaarSettings(Simulated):
    """The bazaar simulator (docs/bazaar.md): a marketplace API with one endpoint per kind of
    API people connect: Link-header pages, links in the body, cursors in a header, page
    numbers with an ``updated_since`` filter, parent-child routes, and four kinds of auth."""

    model_config = _env("BAZAAR")

    url: str = Field("http://127.0.0.1:4594", description="Base URL; a local host makes the "
                     "stack run the simulator.")
    seed: int = 11
    users: int = Field(240, gt=0)
    products: int = Field(400, gt=0)
    reviews: int = Field(350, gt=0)
    articles: int = Field(300, gt=0)
    invoices: int = Field(500, gt=0)
    charges: int = Field(450, gt=0)
    tickets: int = Field(420, gt=0)
    members_scale: int = Field(1, gt=0, description="Members per organisation: 37, 64 and 0 "
                               "times this.")
    payments: int = Field(1_200, gt=0)
    export_job_s: float = Field(3.0, ge=0, description="How long an export job runs.")
    graphql_error_rate: float = Field(0.05, ge=0, le=1, description="Share of GraphQL answers "
                                      "that are a 200 holding only ``errors``.")
    edit_every_s: float = Field(0.0, ge=0, description="Articles are edited every this many "
                                "seconds (0: only when POST /_edit asks).")
    edits_per_tick: int = Field(3, ge=0)
    client_id: str = "bazaar-client"
    client_secret: SecretStr = SecretStr("bazaar-secret")
    api_key: SecretStr = SecretStr("bz-key")
    refresh_token: SecretStr = SecretStr("bz-refresh-0")
    session: SecretStr = SecretStr("bz-session")
    basic_user: str = "bazaar"
    basic_password: SecretStr = SecretStr("bz-pass")
    token_ttl_s: float = Field(20.0, gt=0)
    revoke_rate: float = Field(0.02, ge=0, le=1, description="Share of requests whose token "
                               "is refused early (401): the client must fetch a new one.")
    requests_per_s: int = Field(40, gt=0, description="Each endpoint's budget per 1 s window.")
    rate_429: float = Field(0.02, ge=0, le=1)
    rate_5xx: float = Field(0.02, ge=0, le=1)
    stall_rate: float = Field(0.0, ge=0, le=1, description="Share of requests that stall.")
    stall_s: float = 15.0
