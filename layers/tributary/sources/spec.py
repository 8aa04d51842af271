"""What a source declaration may say, validated with pydantic.

A declaration names the API (base URL, auth, default rate limits and schedule) and, per
stream, where its records are, how it paginates and how its records become a table.
Anything declaration cannot express goes in a hook: ``fetcher`` (how pages are planned and
fetched) or ``normalize`` (how a page of records becomes columns), both ``module:attribute``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal, get_args

from pydantic import ConfigDict, Field, field_validator, model_validator

from tributary.sources.auth import Auth, BodyAuth, NoAuth
from tributary.sources.base import Strict
from tributary.sources.decoders import JSON, Decoder
from tributary.sources.paths import RecordsPath, compile_records_path
from tributary.sources.steps import Condition, RecordMap

__all__ = ["Auth", "Strict"]  # where declarations' parts are imported from

Identifier = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=48)]
_NO_BODY = ("auth kind body puts the key in a JSON request body, which a GET has not: it needs "
            "method: POST with a body (or parameters sent in the body) and no export")
HookRef = Annotated[str, Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")]


class RateLimit(Strict):
    """Known before the first response; the ``X-RateLimit-*`` headers still take over."""

    requests: int = Field(gt=0)
    per_s: float = Field(gt=0)


# -- one model per pagination style (a discriminated union on ``style``) -------------------
class PaginationStyle(Strict):
    """A new style: a subclass here, added to ``Pagination`` below, and its paginator class
    in extract/paginators.py."""

    one_response: ClassVar[bool] = False  # the whole listing comes in one response
    body_paging: ClassVar[bool] = False  # its parameters may travel in a JSON body
    send_in: Literal["query", "body"] = Field(
        "query", description="Where the paging parameters go: the query string, or (a POST "
        "stream) the JSON body, each parameter name a dotted path (``variables.after``).")


class CursorParams(PaginationStyle):
    """A cursor sent back as a query parameter, with a page size."""

    body_paging: ClassVar[bool] = True
    cursor_param: str = "cursor"
    limit_param: str = "limit"
    limit: int = Field(100, gt=0)


class CursorPagination(CursorParams):
    style: Literal["cursor"]
    next_cursor_path: str | None = Field(None, description="Dotted path to the next cursor "
                                         "in the body.")
    cursor_from_record: str | None = Field(
        None, description="Or the next cursor is this dotted path of the page's last record "
        "(Stripe's ``starting_after=<last id>``); an empty page ends the listing.")
    has_more_path: str | None = Field(None, description="A false value here ends the listing.")
    stop_path: str | None = Field(None, description="A true value here ends the listing "
                                  "(``end_of_stream``).")
    initial_cursor: str | None = Field(None, description="The first page's cursor (an "
                                       "export's ``start_time=0``); default: none sent.")
    # What a pass after the first fetches: everything again ("full"), the newest pages down to
    # the newest id seen before ("high_water", listings sorted newest first), or from where the
    # last pass ended ("resume", feeds sorted oldest first).
    incremental: Literal["full", "high_water", "resume"] = "full"

    @model_validator(mode="after")
    def _one_cursor_source(self) -> CursorPagination:
        if (self.next_cursor_path is None) == (self.cursor_from_record is None):
            raise ValueError("a cursor comes from next_cursor_path or cursor_from_record: "
                             "name exactly one")
        return self


class OffsetPagination(PaginationStyle):
    body_paging: ClassVar[bool] = True
    style: Literal["offset"]
    offset_param: str = "offset"
    limit_param: str = "limit"
    limit: int = Field(100, gt=0)
    next_offset_path: str | None = Field(None, description="Dotted path; absent: offset+count.")
    end_value: int | None = Field(None, description="A next offset meaning 'no more' (e.g. -1).")


class PageNumberPagination(PaginationStyle):
    body_paging: ClassVar[bool] = True
    style: Literal["page_number"]
    page_param: str = "page"
    limit_param: str = "per_page"
    limit: int = Field(100, gt=0)
    first_page: int = 1
    total_pages_path: str | None = None
    until: Literal["short_page", "empty_page"] = Field(
        "short_page", description="Without a total: the last page is the first one shorter "
        "than the limit, or (for APIs whose pages vary in size) the first empty one.")


class LinkPagination(PaginationStyle):
    """The API gives the next page's URL, which carries every parameter: only the first
    request sends the stream's own (and ``limit_param``, if any)."""

    limit_param: str | None = "per_page"
    limit: int = Field(100, gt=0)


class HeaderLinkPagination(LinkPagination):
    """The next page's URL in the ``Link`` header, ``rel="next"`` (RFC 8288: GitHub, Shopify
    and many others)."""

    style: Literal["header_link"]
    rel: str = "next"


class JsonLinkPagination(LinkPagination):
    """The next page's URL in the body (``links.next``, ``next_page``, HAL's
    ``_links.next.href``); absent, null or empty on the last page."""

    style: Literal["json_link"]
    next_url_path: str = Field(description="Dotted path to the next page's URL.")


class HeaderCursorPagination(CursorParams):
    """The next cursor in a response header, sent back as a query parameter."""

    style: Literal["header_cursor"]
    cursor_header: str = "X-Next-Cursor"


class SinglePagination(PaginationStyle):
    one_response: ClassVar[bool] = True
    style: Literal["single"]


class SnapshotPagination(PaginationStyle):
    """One response holding the whole dataset, polled with ``If-None-Match``."""

    one_response: ClassVar[bool] = True
    style: Literal["snapshot"]


Pagination = Annotated[CursorPagination | OffsetPagination | PageNumberPagination
                       | HeaderLinkPagination | JsonLinkPagination | HeaderCursorPagination
                       | SinglePagination | SnapshotPagination, Field(discriminator="style")]


def pagination_styles() -> dict[str, type[PaginationStyle]]:
    """Every pagination style a declaration may name, with its model."""
    models: tuple[type[PaginationStyle], ...] = get_args(get_args(Pagination)[0])
    return {get_args(m.model_fields["style"].annotation)[0]: m for m in models}


ColumnType = Literal["text", "bigint", "double", "boolean", "timestamp", "json"]


class ParentRef(Strict):
    """A child stream: fetched once for every record of its parent (a stream declared before
    it in the same source), e.g. ``/users/{user_id}/orders`` for every user."""

    stream: Identifier
    params: dict[str, str] = Field(description="Each ``{placeholder}`` of the endpoint: the "
                                   "dotted path of its value in the parent record.")
    include: dict[Identifier, str] = Field(
        default_factory=dict, description="Fields of the parent record copied into each "
        "child record: their name in the child -> dotted path in the parent.")


class IncrementalParam(Strict):
    """Ask only for what changed: each pass sends ``param`` = the highest ``cursor_path`` seen
    by the passes before (``initial_value`` at first); ``end_param`` = ``end_value`` bounds
    it."""

    param: str
    cursor_path: str = Field(description="Dotted path in the record of the value to track "
                             "(an updated-at timestamp or a growing number).")
    initial_value: str
    end_param: str | None = None
    end_value: str | None = None
    send_in: Literal["query", "body"] = Field("query", description="As pagination's.")
    format: Literal["iso", "epoch_s", "epoch_ms", "text"] = Field(
        "iso", description="How the cursor's values read: ISO 8601 timestamps, epoch seconds "
        "or milliseconds (numbers or digits), or text compared as text.")
    lookback_s: float = Field(0.0, ge=0, description="Ask from this long before the highest "
                              "value seen, for upstreams whose late writes land in the past; "
                              "what comes again is absorbed by the primary key.")
    bound: Literal["inclusive", "exclusive"] = Field(
        "inclusive", description="How the API compares ``param``: inclusive (>=: the edge "
        "comes again, absorbed by the key) or exclusive (>: a record written later with the "
        "very value seen last would be missed, so a time cursor asks from one unit before "
        "it, 1 s or 1 ms, at least).")

    @model_validator(mode="after")
    def _lookback_needs_time(self) -> IncrementalParam:
        if self.lookback_s and self.format == "text":
            raise ValueError("lookback_s needs a time cursor (format iso, epoch_s or epoch_ms)")
        return self


class ListPartitions(Strict):
    """One partition per value of a fixed list (an organisation, a region, an account),
    each with its own checkpoint and incremental state: the endpoint's ``{param}``, or a
    query (or body) parameter ``param``."""

    param: str
    values: list[str] | str = Field(description="The values, or one comma-separated string "
                                    "(from the environment: ``${ORGS}``).")
    send_in: Literal["query", "body"] = "query"
    include_as: Identifier | None = Field(None, description="A field each record gets with "
                                          "its partition's value.")

    @property
    def value_list(self) -> list[str]:
        values = self.values.split(",") if isinstance(self.values, str) else self.values
        return [v.strip() for v in values if v.strip()]

    @model_validator(mode="after")
    def _some_values(self) -> ListPartitions:
        values = self.value_list
        if not values:
            raise ValueError("partitions.values names no value")
        if len(set(values)) != len(values):
            raise ValueError(f"partitions.values repeats a value: {values}")
        return self


class ExportPoll(Strict):
    endpoint: str = Field(pattern=r"^/", description="GET; ``{job_id}`` is the job's id.")
    status_path: str = Field(description="Dotted path of the job's status in the answer.")
    done: list[str] = Field(default_factory=lambda: ["completed"])
    failed: list[str] = Field(default_factory=lambda: ["failed"])
    every_s: float = Field(5.0, gt=0)
    timeout_s: float = Field(3600.0, gt=0, description="A job not done by then is given up "
                             "on; the next attempt starts a new one.")

    @model_validator(mode="after")
    def _names_the_job(self) -> ExportPoll:
        if "{job_id}" not in self.endpoint:
            raise ValueError("poll.endpoint names the job: {job_id}")
        return self


class ExportDownload(Strict):
    url_path: str = Field(description="Dotted path, in the finished job's answer, of the "
                          "file's URL (a path on the API, or a pre-signed URL elsewhere, "
                          "fetched without the API's credentials).")


class Export(Strict):
    """An asynchronous export (a report job): the stream's request creates it, ``poll``
    asks until it is done, ``download`` fetches the file, read by the stream's decoder. The
    job's id is checkpointed before the first poll: a restart polls it again, never starts
    a second one."""

    job_id_path: str = "id"
    poll: ExportPoll
    download: ExportDownload


ResponseAction = Literal["empty", "skip"]


class Column(Strict):
    type: ColumnType = "text"
    source: str | None = Field(None, alias="from",
                               description="Dotted path in the record (a rename); default: "
                               "the column's own name.")
    required: bool = False

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Stream(Strict):
    name: Identifier
    endpoint: str = Field(pattern=r"^/")
    method: Literal["GET", "POST"] = "GET"
    body: dict[str, Any] | None = Field(None, description="A POST's JSON body (a GraphQL "
                                        "``query`` and ``variables``); paging and incremental "
                                        "parameters sent ``in: body`` are set inside it.")
    error_path: str | None = Field(None, description="Dotted path of errors in a 200 answer "
                                   "(GraphQL's ``errors``): a non-empty value fails the page.")
    params: dict[str, str | int | float | bool] = Field(default_factory=dict)
    decoder: Decoder = Field(JSON, description="How bodies are read: JSON, JSON lines or CSV, "
                             "gzip or not.")
    filter: list[Condition] = Field(default_factory=list, description="Only records every "
                                    "condition holds for are loaded (before validation).")
    map: RecordMap | None = Field(None, description="Reshaping before validation (after "
                                  "the filter).")
    records_path: str = Field(description="Where the records are, RFC 9535 JSONPath ('$.' "
                              "may be left out): a path to the record list (``data.items``; "
                              "'' for a bare list), or one selecting the records themselves "
                              "(``result.items[*].customer``, ``items[?@.type == 'invoice']``, "
                              "``$..orders[*]``); see sources/paths.py.")
    total_path: str | None = Field(None, description="Dotted path to the upstream's record "
                                   "count; default for one-response streams: the records.")
    primary_key: Identifier | list[Identifier] = Field(
        description="A column, or several (a composite key, kept as the JSON array ``_key``).")
    pagination: Pagination
    parent: ParentRef | None = None
    partitions: ListPartitions | None = None
    export: Export | None = None
    incremental: IncrementalParam | None = None
    response_actions: dict[int, ResponseAction] = Field(
        default_factory=dict, description="What an error status means for this stream: "
        "``empty`` (no records, e.g. a 404 on a child) or ``skip`` (leave it, logged).")
    table: Identifier
    columns: dict[Identifier, Column]
    partition_by: Identifier | None = Field(
        None, description="A timestamp column whose UTC day partitions the lake; "
        "default: the day the row was ingested.")
    drop: list[str] = Field(default_factory=list,
                            description="Fields removed from the kept remainder (``extra``).")
    keep_extra: bool = Field(False, description="Keep undeclared fields in an 'extra' json "
                             "column.")
    immutable: bool = Field(False, description="Records never change once published (an "
                            "event log): each is loaded once, the first copy kept, with no "
                            "change detection; a record seen again is taken to be the same.")
    interval_s: float | None = Field(None, gt=0, description="Poll interval; default: the "
                                     "source's.")
    rate_limit: RateLimit | None = None
    auth: Auth | None = Field(None, description="This endpoint's own auth, where it differs "
                              "from the source's.")
    fetcher: HookRef | None = None
    normalize: HookRef | None = None

    @property
    def keys(self) -> list[str]:
        """The primary key's columns."""
        return self.primary_key if isinstance(self.primary_key, list) else [self.primary_key]

    @property
    def key_column(self) -> str:
        """The table's key column: the declared one, or ``_key`` for a composite key."""
        return self.primary_key if isinstance(self.primary_key, str) else "_key"

    def stored_type(self, column: str) -> ColumnType:
        """A column's type in the table: a scalar key is the upstream's id, kept as text
        whatever its declared type (composite keys are kept whole in ``_key``)."""
        return "text" if column == self.primary_key else self.columns[column].type

    @property
    def sends_json_body(self) -> bool:
        """Each request is a POST with a JSON object body (where a ``body`` auth puts its
        key); an export's polls and download are GETs."""
        return self.method == "POST" and self.export is None and (
            self.body is not None or "body" in (
                self.pagination.send_in, self.incremental.send_in if self.incremental else "",
                self.partitions.send_in if self.partitions else ""))

    @model_validator(mode="after")
    def _body_auth_has_a_body(self) -> Stream:
        if isinstance(self.auth, BodyAuth) and not self.sends_json_body and not self.fetcher:
            raise ValueError(_NO_BODY)
        return self

    @property
    def is_snapshot(self) -> bool:
        return isinstance(self.pagination, SnapshotPagination)

    @property
    def records(self) -> RecordsPath:
        """``records_path`` compiled (when the declaration was validated)."""
        return compile_records_path(self.records_path)

    @field_validator("records_path")
    @classmethod
    def _records_path_is_jsonpath(cls, path: str) -> str:
        compile_records_path(path)  # a ValueError names where the path goes wrong
        return path

    @model_validator(mode="after")
    def _columns_agree(self) -> Stream:
        for key in self.keys:
            if key not in self.columns:
                raise ValueError(f"primary_key {key!r} is not among the columns")
        if isinstance(self.primary_key, list) and (
                len(self.primary_key) < 2 or "_key" in self.columns):
            raise ValueError("a composite primary_key names two columns or more, and adds a "
                             "column '_key': do not declare one")
        placeholders = set(re.findall(r"{(\w+)}", self.endpoint))
        wanted = set(self.parent.params) if self.parent else set()
        if self.partitions and self.partitions.param in placeholders:
            wanted.add(self.partitions.param)
        if placeholders != wanted:
            raise ValueError(f"the endpoint's placeholders {sorted(placeholders)} must be "
                             f"exactly parent.params {sorted(wanted)} (or partitions.param)")
        if self.parent and self.partitions:
            raise ValueError("a stream's partitions come from its parent or from a list, "
                             "not both")
        in_body = [what for what, where in (
            ("pagination", self.pagination.send_in),
            ("incremental", self.incremental.send_in if self.incremental else "query"),
            ("partitions", self.partitions.send_in if self.partitions else "query"))
            if where == "body"]
        if in_body and self.method != "POST":
            raise ValueError(f"{', '.join(in_body)} sent in the body need method: POST")
        if self.pagination.send_in == "body" and not self.pagination.body_paging:
            raise ValueError(f"pagination style {self.pagination.style!r} cannot send its "
                             "parameters in a body")
        if self.body is not None and self.method != "POST":
            raise ValueError("a body is sent with method: POST")
        if not self.decoder.is_json and self.records_path not in ("", "$"):
            raise ValueError(f"a {self.decoder.format} body is its records: records_path ''")
        if self.error_path and not self.decoder.is_json:
            raise ValueError("error_path reads a JSON answer")
        if self.export and (self.pagination.style != "single" or self.parent or self.fetcher):
            raise ValueError("an export is one file: pagination single, no parent, no fetcher")
        if self.incremental and getattr(self.pagination, "incremental", "full") != "full":
            raise ValueError("incremental (a request parameter) and pagination.incremental "
                             "exclude each other")
        if self.partition_by is not None and (
                self.columns.get(self.partition_by, Column()).type != "timestamp"):
            raise ValueError(f"partition_by {self.partition_by!r} must be a timestamp column")
        if self.immutable and self.is_snapshot:
            raise ValueError("a snapshot stream's rows change and vanish: it cannot be immutable")
        if self.keep_extra and "extra" in self.columns:
            raise ValueError("keep_extra adds a column 'extra'; do not declare one")
        return self


class Source(Strict):
    """A pulled source: its streams are fetched page by page on a schedule."""

    name: Identifier
    kind: Literal["pulled"] = "pulled"
    base_url: str = Field(pattern=r"^https?://")
    auth: Auth = NoAuth()
    timeout_s: float = Field(10.0, gt=0)
    rate_limit: RateLimit | None = None
    interval_s: float = Field(300.0, gt=0, description="Default poll interval of its streams.")
    streams: list[Stream] = Field(min_length=1)

    @field_validator("streams")
    @classmethod
    def _unique(cls, streams: list[Stream]) -> list[Stream]:
        for i, s in enumerate(streams):
            if s.parent and s.parent.stream not in [p.name for p in streams[:i]]:
                raise ValueError(f"stream {s.name!r}: its parent {s.parent.stream!r} must be "
                                 "a stream declared before it")
        for attr in ("name", "table"):
            seen = [getattr(s, attr) for s in streams]
            dup = {x for x in seen if seen.count(x) > 1}
            if dup:
                raise ValueError(f"stream {attr}s must be unique; repeated: {sorted(dup)}")
        return streams

    @model_validator(mode="after")
    def _body_auth_has_bodies(self) -> Source:
        if isinstance(self.auth, BodyAuth):
            bare = [s.name for s in self.streams
                    if s.auth is None and not s.sends_json_body and not s.fetcher]
            if bare:
                raise ValueError(f"streams {bare}: {_NO_BODY}, or an auth of their own")
        return self

    def stream(self, name: str) -> Stream:
        for s in self.streams:
            if s.name == name:
                return s
        raise KeyError(f"source {self.name!r} has no stream {name!r}; "
                       f"it has {[s.name for s in self.streams]}")

    def interval(self, stream: Stream) -> float:
        return stream.interval_s or self.interval_s
