"""A generated API: its streams, their records, and the truth each table must end with.

``generate(seed, features)`` composes one API from a seed: auth, per stream a pagination
style with its parameters under random names, where the records sit in a body (and whether
the body is JSON, JSON lines or CSV), the key, the timestamp form, children with refused
parents, incremental listings edited between passes, export jobs, and per-API chaos.
Everything the server answers and the declaration says is read from the ``Api`` it returns;
nothing else is random.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Literal

from tests.generative import features as F
from tributary.normalize.stamp_forms import kept, render
from tributary.sources.keys import composite_key

Key = tuple[int | str, ...]
BASE_MS = 1_700_000_000_000
# Standard forms an instant takes on the wire (names from normalize/stamp_forms.py).
STAMP_FORMS = ("epoch_s_int", "epoch_s", "epoch_ms", "epoch_ms_string", "epoch_s_string",
               "iso_z", "iso_offset", "iso_offset_hours", "iso_micro_offset", "iso_no_fraction")
# An incremental cursor is compared by the client as a number or as text: forms whose text
# order is their time order (one zone, fixed width).
CURSOR_FORMS = ("epoch_s_int", "epoch_ms", "epoch_ms_string", "iso_z", "iso_offset",
                "iso_no_fraction")
# The ``format`` an incremental declaration may give each cursor form: what the server reads
# the parameter as (``text``: the very form, compared as text, so only forms that are text).
CURSOR_FORMATS: dict[str, tuple[str, ...]] = {
    "epoch_s_int": ("epoch_s",), "epoch_ms": ("epoch_ms",),
    "epoch_ms_string": ("epoch_ms", "text"), "iso_z": ("iso", "text"),
    "iso_offset": ("iso", "text"), "iso_no_fraction": ("iso", "text")}
# Without a declared format the default (iso) must fit: only these forms then.
ISO_CURSOR_FORMS = tuple(f for f in CURSOR_FORMS if CURSOR_FORMATS[f][0] == "iso")
# Styles that page (a child or an incremental listing may use any of them).
PAGED = ("offset", "page_number", "cursor", "header_link", "json_link", "header_cursor")
# Styles that need hints in the body (a bare list cannot carry them).
BODY_HINTS = ("cursor", "json_link")
# Styles that need nothing of a body but its records (a body of JSON lines has no room).
LINE_STYLES = ("single", "header_link", "header_cursor", "offset", "page_number")
# Styles whose parameters may travel in a POST's body.
BODY_PAGED = ("cursor", "offset", "page_number")
# What a POST stream's body holds besides its paging (the server checks it arrives).
POST_BODY = {"filter": {"kind": "all", "archived": False}}
WORDS = ("alpha", "Ünïcode", "quote's", 'dq"x', "emoji 🚀", "tab\tx", "", "ДОБРО", "null")


@dataclass(frozen=True)
class Row:
    """One upstream record as its table must keep it."""

    key: Key
    name: str
    amount: int
    at_ms: int


@dataclass(frozen=True)
class KeyCol:
    column: str
    wire: str | None  # dotted path in the record; None: copied from the parent (include)
    type: Literal["text", "bigint"]


@dataclass
class AuthPlan:
    kind: str
    secret: str
    options: dict[str, Any] = field(default_factory=dict)  # header, param, cookie, ...
    expires_in: float = 3600.0  # OAuth2 token lifetime


@dataclass(frozen=True)
class Incremental:
    param: str
    bound: Literal["inclusive", "exclusive"]
    initial: str
    end_param: str | None = None
    end_value: str | None = None
    format: str | None = None  # as declared; None: not declared (the default, iso)
    lookback_s: float = 0.0
    send_in: Literal["query", "body"] = "query"

    @property
    def reads(self) -> str:
        """The format the server reads the parameter in (and refuses anything else)."""
        return self.format or "iso"


@dataclass(frozen=True)
class ExportPlan:
    """An asynchronous export job: a POST creates it, polls find it pending ``polls`` times,
    then done with the URL of its file, which holds the stream's rows as of the creation."""

    body: dict[str, Any]  # what the creating POST must carry
    job_id_path: str
    int_ids: bool  # the job's id is a JSON number
    poll: str  # the poll endpoint, with ``{job_id}``
    status_path: str
    pending: tuple[str, ...]  # the statuses before done, in turn
    done: str
    failed: tuple[str, ...]  # declared, never served
    polls: int
    every_s: float
    url_path: str
    url: Literal["path", "absolute", "presigned"]  # presigned: on another origin, signed
    file: Literal["csv", "jsonl"]
    gzip: bool
    declare_gzip: bool  # compression: gzip declared (else auto-detected)
    bom: bool  # a CSV file starting with a byte-order mark


@dataclass(frozen=True)
class ChildOf:
    parent: str  # the parent stream
    placeholder: str  # in the endpoint
    parent_field: str  # the parent record's key field
    refused: dict[str, int]  # parent key -> 404 or 403
    include: bool  # the child's key starts with the parent's key, copied by the declaration


@dataclass
class StreamPlan:
    name: str
    endpoint: str
    style: str
    paging: dict[str, Any]  # the declaration's pagination block
    shape: str
    records_path: str
    inner: str  # the key under which ``gathered`` and ``projected`` bodies hold records
    key_cols: list[KeyCol]
    name_path: str
    amount_field: str
    at_field: str
    at_form: str
    rows: list[Row] = field(default_factory=list)  # a top-level stream's records, version 0
    edited: list[Row] = field(default_factory=list)  # version 1 (incremental streams)
    children: dict[str, list[Row]] = field(default_factory=dict)  # parent key -> rows
    incremental: Incremental | None = None
    child_of: ChildOf | None = None
    total_path: str | None = None
    auth: AuthPlan | None = None  # the stream's own, where it differs from the API's
    broken: bool = False  # declared with a records path that does not fit (on purpose)
    listed: tuple[str, str, tuple[str, ...]] | None = None  # (param, where, values): row i
    # belongs to values[i % len]; where: "query", or "path" (the endpoint's {param})
    json_lines: bool = False  # the body is one record per line
    csv: bool = False  # the body is CSV with a header: every value text
    bom: bool = False  # a CSV body starting with a byte-order mark
    export: ExportPlan | None = None  # read through an export job, not a listing

    @property
    def limit(self) -> int:
        return int(self.paging.get("limit", 0))

    @property
    def posted(self) -> bool:
        """Its paging parameters travel in a POST's body."""
        return self.paging.get("send_in") == "body"

    @property
    def post(self) -> bool:
        """A listing asked for by a POST with a JSON body (the paging, or the incremental
        bound, in it)."""
        return self.posted or (self.incremental is not None
                               and self.incremental.send_in == "body")

    @property
    def body_format(self) -> Literal["json", "jsonl", "csv"]:
        """How its records arrive (an export's: in its file)."""
        if self.export is not None:
            return self.export.file
        return "csv" if self.csv else "jsonl" if self.json_lines else "json"

    @property
    def flat(self) -> bool:
        """Its records are flat (a CSV header names no nested field): so are exports'."""
        return self.csv or self.export is not None

    @property
    def key_column(self) -> str:
        return self.key_cols[0].column if len(self.key_cols) == 1 else "_key"

    def rows_at(self, version: int) -> list[Row]:
        rows = self.edited if version and self.edited else self.rows
        return sorted(rows, key=lambda r: (r.at_ms, str(r.key))) if self.incremental else rows

    def truth(self, version: int, parents: list[Row] | None = None) -> dict[str, Row]:
        """Key as the table keeps it -> the row it must hold (the instant as the wire form
        can carry it)."""
        if self.child_of is not None:
            assert parents is not None
            rows = [r for p in parents for r in self.children.get(str(p.key[0]), [])
                    if str(p.key[0]) not in self.child_of.refused]
        else:
            rows = self.rows_at(version)
        return {key_text(r.key): Row(r.key, r.name, r.amount, kept(self.at_form, r.at_ms))
                for r in rows}


@dataclass
class Api:
    seed: int
    name: str
    auth: AuthPlan
    timeout_s: float
    chaos: dict[str, int]  # chaos kind -> how many times at most
    chaos_rate: float
    streams: list[StreamPlan]
    version: int = 0  # edits applied (the server answers this version)

    def stream(self, name: str) -> StreamPlan:
        return next(s for s in self.streams if s.name == name)

    def truth(self) -> dict[str, dict[str, Row]]:
        """What each (healthy) stream's table must hold now."""
        out: dict[str, dict[str, Row]] = {}
        for s in self.streams:
            if s.broken:
                continue
            parents = self.stream(s.child_of.parent).rows_at(self.version) \
                if s.child_of else None
            out[s.name] = s.truth(self.version, parents)
        return out

    @property
    def edits_pending(self) -> bool:
        return self.version == 0 and any(s.edited for s in self.streams)


def key_text(key: Key) -> str:
    return str(key[0]) if len(key) == 1 else composite_key(list(key))


class _Composer:
    """One API's random choices, all from one ``random.Random(seed)``."""

    def __init__(self, seed: int, on: frozenset[str]) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.on = on

    def pick(self, options: tuple[str, ...] | list[str]) -> str:
        allowed = [o for o in options if o in self.on or o not in F.ALL]
        if not allowed:
            raise ValueError(f"every one of {sorted(options)} is switched off")
        return self.rng.choice(sorted(allowed))

    def maybe(self, feature: str, p: float = 0.5) -> bool:
        return feature in self.on and self.rng.random() < p

    # -- auth --------------------------------------------------------------------------------
    def auth(self, exclude: str | None = None, posted: bool = False) -> AuthPlan:
        """An auth plan; ``body`` (a key in the JSON body) only for a stream that posts one."""
        kinds = sorted(F.AUTH_KINDS - {exclude} - (set() if posted else {"body"}))
        kind = self.pick(kinds)
        # An HMAC key as long as SHA-256 asks (RFC 7518 3.2); the others need no length.
        secret = f"s{self.seed}-{self.rng.getrandbits(200 if kind == 'jwt' else 40):x}"
        r = self.rng
        generated: dict[str, dict[str, Any]] = {
            "none": {},
            "header": {"header": r.choice(["X-API-Key", "X-Auth-Token", "Api-Key"])},
            "bearer": {},
            "query": {"param": r.choice(["api_key", "key", "access_token"])},
            "cookie": {"cookie": r.choice(["session", "sid"])},
            "basic": {"username": r.choice(["svc", "user@example.com"])},
            "oauth2_client_credentials": {"client_id": f"client-{self.seed}",
                                          "client_auth": r.choice(["basic", "post"])},
            # Every refresh rotates the refresh token (the server accepts only the newest).
            "oauth2_refresh_token": {"client_id": f"rt-{self.seed}",
                                     "client_auth": r.choice(["basic", "post"]),
                                     "refresh_token": f"r{self.seed}-{r.getrandbits(40):x}"},
            "session": {"user": r.choice(["svc", "ingest@example.com"]),
                        "token_path": r.choice(["token", "data.session.token"]),
                        "cookie": r.choice([None, "sid"])},
            "jwt": {"algorithm": "HS256", "claims": {"iss": "tributary", "sub": "gen"},
                    "ttl_s": r.choice([5, 300])},
            "body": {"field": r.choice(["api_key", "auth.key"])},
        }
        if kind not in generated:
            raise NotImplementedError(f"auth kind {kind!r} (declared in spec) is not generated")
        options = generated[kind]
        return AuthPlan(kind, secret, options, expires_in=r.choice([3.0, 5.0, 3600.0]))

    # -- one stream --------------------------------------------------------------------------
    def paging(self, style: str, shape: str) -> dict[str, Any]:
        r = self.rng
        limit = r.randint(5, 40)
        body = shape != "bare"
        blocks: dict[str, dict[str, Any]] = {
            "offset": {"offset_param": r.choice(["offset", "start", "skip"]),
                       "limit_param": r.choice(["limit", "size", "count"]), "limit": limit}
            | ({"next_offset_path": "paging.next"} | (
                {"end_value": -1} if r.random() < 0.5 else {}) if body and r.random() < 0.5
               else {}),
            "page_number": {"page_param": r.choice(["page", "p"]),
                            "limit_param": r.choice(["per_page", "page[size]", "pageSize"]),
                            "limit": limit, "first_page": r.choice([0, 1]),
                            "until": r.choice(["short_page", "empty_page"])}
            | ({"total_pages_path": "meta.pages"} if body and r.random() < 0.5 else {}),
            "cursor": {"cursor_param": r.choice(["cursor", "after", "page_token"]),
                       "limit_param": r.choice(["limit", "page_size"]), "limit": limit,
                       "next_cursor_path": r.choice(["meta.next_cursor", "next"])}
            | ({"has_more_path": "meta.has_more"} if r.random() < 0.5 else {}),
            "header_link": {"limit_param": r.choice(["per_page", None]), "limit": limit},
            "json_link": {"limit_param": r.choice(["per_page", "limit", None]), "limit": limit,
                          "next_url_path": r.choice(["links.next", "_links.next.href",
                                                     "next_page"])},
            "header_cursor": {"cursor_header": r.choice(["X-Next-Cursor", "X-Continuation"]),
                              "cursor_param": r.choice(["cursor", "continuation"]),
                              "limit_param": "limit", "limit": limit},
            "single": {}, "snapshot": {},
        }
        if style not in blocks:
            raise NotImplementedError(f"pagination style {style!r} (declared in spec) is not "
                                      "generated")
        block = {"style": style} | blocks[style]
        if block.get("limit_param", "") is None:  # the API pages by its own size
            block["limit_param"] = None
        return block

    def shape(self, style: str) -> tuple[str, str, str]:
        """(shape, records_path, inner key)."""
        shapes = [s for s in sorted(F.SHAPES) if not (s == "bare" and style in BODY_HINTS)]
        shape = self.pick(shapes)
        r = self.rng
        inner = r.choice(["record", "node", "rows"])
        path = {"bare": "", "wrapped": r.choice(["data", "results", "items"]),
                "nested": r.choice(["result.items", "response.data.records"]),
                "gathered": f"groups[*].{inner}",
                "projected": f"result.items[*].{inner}",
                "filtered": "entries[?@.type == 'record']"}[shape]
        return shape, path, inner

    def stream(self, name: str, style: str, key: str, n: int, *, incremental: bool = False,
               child_of: ChildOf | None = None,
               forms: tuple[str, ...] = CURSOR_FORMS) -> StreamPlan:
        r = self.rng
        shape, path, inner = self.shape(style)
        total = shape != "bare" and not incremental and style not in ("single", "snapshot") \
            and self.maybe("total_path")
        if child_of is not None and child_of.include:
            key_cols = [KeyCol("parent_id", None, "text"), KeyCol("n", "n", "bigint")]
        elif key == "composite_key":
            key_cols = [KeyCol("org", r.choice(["org", "owner.login"]), "text"),
                        KeyCol("number", "number", "bigint")]
        else:  # a child's own key is text (``<parent>-<n>``)
            typed = key == "int_key" and child_of is None and self.maybe("typed_int_key")
            key_cols = [KeyCol("id", r.choice(["id", "uid", "code"]),
                               "bigint" if typed else "text")]
        paging = self.paging(style, shape)
        if style == "cursor" and len(key_cols) == 1 and key_cols[0].wire and \
                self.maybe("last_record_cursor", 0.4):
            del paging["next_cursor_path"]  # the next page starts after the last record's key
            paging["cursor_from_record"] = key_cols[0].wire
        if style == "cursor" and self.maybe("stop_path", 0.3):
            # The last page still names a next cursor: only the stop flag ends the listing.
            paging.pop("has_more_path", None)
            paging["stop_path"] = r.choice(["meta.end_of_stream", "done", "paging.last_page"])
        if style == "cursor" and self.maybe("initial_cursor", 0.3):
            paging["initial_cursor"] = r.choice(["0", "*", "start"])
        if style in BODY_PAGED and self.maybe("post_body", 0.3):
            paging["send_in"] = "body"  # each parameter's name is a path into the body
            for param in ("cursor_param", "offset_param", "page_param", "limit_param"):
                if param in paging:
                    paging[param] = f"page.{paging[param].replace('[', '_').rstrip(']')}"
        plan = StreamPlan(
            name=name, endpoint=f"/{name}" if child_of is None else
            f"/{child_of.parent}/{{{child_of.placeholder}}}/{name}",
            style=style, paging=paging, shape=shape,
            records_path=path, inner=inner, key_cols=key_cols,
            name_path=r.choice(["name", "attributes.title"]),
            amount_field=r.choice(["amount", "total_cents"]), at_field=r.choice(
                ["updated_at", "modified"] if incremental else ["created", "createdAt"]),
            at_form=self.pick(list(forms if incremental else STAMP_FORMS)),
            child_of=child_of, total_path="meta.total" if total else None)
        if child_of is None:
            plan.rows = self.rows(key_cols, key, n, whole_seconds=incremental)
        return plan

    def rows(self, key_cols: list[KeyCol], key: str, n: int, whole_seconds: bool = False,
             start: int = 0) -> list[Row]:
        r = self.rng
        if key == "composite_key":
            orgs = [f"org-{c}" for c in "abcd"[:r.randint(2, 4)]]
            keys: list[Key] = [(orgs[i % len(orgs)], start + i // len(orgs) + 1)
                               for i in range(n)]
        elif key == "int_key":
            keys = [(k,) for k in r.sample(range(1, 10**9), n)]
        else:
            keys = [(f"K-{self.seed}-{start + i:05d}",) for i in range(n)]
            r.shuffle(keys)
        # Equal instants in runs of up to four: page edges fall inside a run.
        dup = r.randint(1, 4)
        out = []
        for i, k in enumerate(keys):
            at = BASE_MS + (i // dup) * 60_000 + (0 if whole_seconds else r.randint(0, 59_999))
            out.append(Row(k, f"{r.choice(WORDS)} {i}", r.randint(-2**40, 2**40), at))
        return out

    @staticmethod
    def flatten(plan: StreamPlan) -> None:
        """Every field at the top of the record, where a CSV header can name it."""
        plan.name_path = "name"
        plan.key_cols = [KeyCol(k.column, k.column if k.wire and "." in k.wire else k.wire,
                                k.type) for k in plan.key_cols]

    def to_csv(self, plan: StreamPlan) -> None:
        """A listing whose body is CSV: its records alone (a bare body with no paging hints),
        flat, sometimes behind a byte-order mark."""
        plan.shape, plan.records_path, plan.total_path = "bare", "", None
        for hint in ("next_offset_path", "end_value", "total_pages_path"):
            plan.paging.pop(hint, None)
        self.flatten(plan)
        plan.csv, plan.bom = True, self.rng.random() < 0.3

    def export(self, name: str, key: str) -> StreamPlan:
        """A stream read through an export job: a few tens of records in one file."""
        r = self.rng
        plan = self.stream(name, "single", key, r.randint(10, 40))
        plan.shape, plan.records_path, plan.total_path = "bare", "", None
        self.flatten(plan)
        file: Literal["csv", "jsonl"] = "jsonl" if r.random() < 0.3 else "csv"
        zipped = r.random() < 0.5
        pending, done, failed = r.choice([
            (("queued", "running"), "completed", ("failed", "expired")),
            (("pending",), "done", ("error",)),
            (("PENDING", "IN_PROGRESS"), "SUCCEEDED", ("FAILED", "CANCELLED"))])
        url: Literal["path", "absolute", "presigned"] = r.choice(
            ["path", "absolute", "presigned"])
        plan.export = ExportPlan(
            body={"report": name, "format": file}, int_ids=r.random() < 0.5,
            job_id_path=r.choice(["id", "job.id", "data.job_id"]),
            poll=r.choice([f"/{name}/jobs/{{job_id}}", "/jobs/{job_id}",
                           f"/{name}/{{job_id}}/status"]),
            status_path=r.choice(["status", "job.state", "data.attributes.status"]),
            pending=pending, done=done, failed=failed, polls=r.choice([0, 1, 2, 3]),
            every_s=r.choice([0.1, 0.2]),
            url_path=r.choice(["result.url", "file.href", "download_url"]), url=url,
            file=file, gzip=zipped, declare_gzip=zipped and r.random() < 0.5,
            bom=file == "csv" and r.random() < 0.3)
        if "edits" in self.on:  # the second pass's job must read the data as it is then
            plan.edited = self.edits(plan, False, key)
        return plan

    def edits(self, plan: StreamPlan, at_top: bool, key: str) -> list[Row]:
        """Version 1: some records changed, some added, each with a later instant; with
        ``at_top`` some changes carry the newest instant already seen (a change in the same
        second as the last pass's end): an inclusive bound finds them again, an exclusive one
        only by asking from a unit under the edge (which a text cursor cannot)."""
        r = self.rng
        top = max(row.at_ms for row in plan.rows)
        out = []
        for row in plan.rows:
            if r.random() < 0.2:
                at = top if at_top and r.random() < 0.4 else \
                    top + 1000 * r.randint(1, 120)
                out.append(Row(row.key, row.name + " (edited)", row.amount + 1, at))
            else:
                out.append(row)
        added = self.rows(plan.key_cols, key, r.randint(0, 8), whole_seconds=True,
                          start=len(plan.rows) + 100)
        out += [Row(a.key, a.name, a.amount, top + 1000 * r.randint(1, 120)) for a in added]
        seen = {row.key for row in out}
        return out if len(seen) == len(out) else out[:len(plan.rows)]


def generate(seed: int, on: frozenset[str], broken: bool = False) -> Api:
    """One API from ``seed`` using only the features ``on``; ``broken``: one top-level
    stream's declared records path does not fit its responses."""
    c = _Composer(seed, on)
    r = c.rng
    styles = sorted(F.STYLES & on)
    keys = sorted(F.KEYS & on - {"typed_int_key"})
    if not styles or not keys:
        raise ValueError("switch on at least one pagination style and one key kind")
    plans: list[StreamPlan] = []
    for i in range(r.randint(2, 3)):
        plans.append(c.stream(f"s{i}", c.pick(styles), c.pick(keys), r.randint(15, 150)))
        plan = plans[-1]
        if plan.style not in ("snapshot",) and c.maybe("listed", 0.25):
            param = r.choice(["region", "org"])
            where = r.choice(["query", "path"])
            plan.listed = (param, where, tuple(r.sample(["eu", "us", "apac", "latam"],
                                                        r.randint(1, 3))))
            if where == "path":
                plan.endpoint = f"/{param}s/{{{param}}}/{plan.name}"
        if plan.shape == "bare" and not plan.posted and plan.style in LINE_STYLES and \
                not plan.total_path and c.maybe("json_lines", 0.4):
            plan.json_lines = True
        elif not plan.posted and plan.style in LINE_STYLES and c.maybe("csv_body", 0.15):
            c.to_csv(plan)
    scalar = [p for p in plans if len(p.key_cols) == 1]
    if "children" in on and scalar:
        parent = r.choice(scalar)
        parent.rows = parent.rows[:r.randint(4, 12)]  # a request per parent: keep them few
        refused = {str(row.key[0]): r.choice([404, 403]) for row in parent.rows
                   if "child_errors" in on and r.random() < 0.25}
        child_of = ChildOf(parent.name, r.choice(["pid", "parent_key"]),
                           parent.key_cols[0].wire or "id", refused,
                           include=c.maybe("child_include", 0.6))
        child = c.stream("kids", c.pick([s for s in PAGED + ("single",) if s in on]),
                         c.pick([k for k in keys if k != "composite_key"] or ["str_key"]), 0,
                         child_of=child_of)
        for row in parent.rows:
            rows = c.rows(child.key_cols, "int_key", r.randint(0, 12), start=0)
            child.children[str(row.key[0])] = [
                Row((row.key[0], j + 1) if child_of.include else
                    (f"{row.key[0]}-{j + 1}",), x.name, x.amount, x.at_ms)
                for j, x in enumerate(rows)]
        plans.append(child)
    bounds = [b for b in ("inclusive", "exclusive") if b in on]
    paged_styles = [s for s in PAGED + ("single",) if s in on]
    if "incremental" in on and bounds and paged_styles:
        key = c.pick(keys)
        formats = c.maybe("inc_format", 0.7)
        inc = c.stream("changes", c.pick(paged_styles), key, r.randint(20, 120),
                       incremental=True, forms=CURSOR_FORMS if formats else ISO_CURSOR_FORMS)
        end = c.maybe("end_param")
        fmt = r.choice(CURSOR_FORMATS[inc.at_form]) if formats else None
        # Time formats only: a text cursor cannot be moved back.
        lookback = r.choice([30.0, 90.0, 600.0]) if fmt != "text" and \
            c.maybe("lookback", 0.4) else 0.0
        in_body = c.maybe("inc_body", 0.3)
        inc.incremental = Incremental(
            param=r.choice(["updated_since", "since", "modified_after"] + (
                ["where.modified_after"] if in_body else [])),
            bound="inclusive" if c.pick(bounds) == "inclusive" else "exclusive",
            initial=_initial(inc.at_form),
            end_param="until" if end else None, end_value=_until(inc.at_form) if end else None,
            format=fmt, lookback_s=lookback, send_in="body" if in_body else "query")
        if "edits" in on:
            inc.edited = c.edits(inc, inc.incremental.bound == "inclusive"
                                 or inc.incremental.reads != "text", key)
        plans.append(inc)
    if c.maybe("export_job", 0.35):
        plans.append(c.export("report", c.pick(keys)))
    auth = c.auth()
    posting = [p for p in plans if p.post]
    if "stream_auth" in on and r.random() < (0.6 if posting else 0.3):
        target = posting[-1] if posting else plans[-1]  # a key in the body needs a body
        target.auth = c.auth(exclude=auth.kind, posted=target.post)
    if broken:  # a stream no other depends on, so its siblings' truth stands
        parents = {p.child_of.parent for p in plans if p.child_of}
        free = [p for p in plans if not p.child_of and p.name not in parents]
        # A records path other than '' is declared only where the body is JSON.
        (next((p for p in free if p.body_format == "json"), None) or _as_json(free[0])
         ).broken = True
    chaos = {kind: r.randint(1, 3) for kind in sorted(F.CHAOS & on) if r.random() < 0.7}
    # Early revocation is served for client credentials, whose every refused request gets
    # a token of its own; a shared renewal (a rotating refresh token, a session) would see one
    # revocation fail every thread's retry.
    if auth.kind != "oauth2_client_credentials":
        chaos.pop("chaos_revoke", None)
    return Api(seed, f"g{seed}", auth, timeout_s=2.0, chaos=chaos,
               chaos_rate=r.choice([0.03, 0.08]), streams=plans)


def _as_json(plan: StreamPlan) -> StreamPlan:
    plan.json_lines = plan.csv = False
    return plan


def _initial(form: str) -> str:
    return str(render(form, BASE_MS - 86_400_000))


def _until(form: str) -> str:
    return str(render(form, BASE_MS + 10 * 365 * 86_400_000))
