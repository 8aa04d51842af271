"""One Starlette app serving every generated API under ``/<api name>/...``.

Each API answers as its ``Api`` says: its auth (OAuth2 tokens that expire, and are refused
early when chaos says so), its pagination style, its record shapes and body formats (JSON,
JSON lines, CSV), refused parents, the incremental bound read in its declared format, export
jobs, and per-API chaos. It counts the records each stream delivered, so a test can tell how
often the pipeline fetched what it already had, and the export jobs created.
"""

from __future__ import annotations

import asyncio
import base64
import csv
import email.utils
import gzip
import hashlib
import io
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, unquote_plus

import jwt
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from tests.generative.api import POST_BODY, Api, AuthPlan, Row, StreamPlan
from tributary.normalize.epoch import SECONDS_BELOW
from tributary.normalize.stamp_forms import render

_NEXT = "page_after"  # where a next-page link keeps its position
_FILE = "/{name}/files/{{job_id}}"  # an export job's file
# Undeclared CSV cells that need quoting (a comma, quotes, a line break), or are empty.
_NOTES = ("", "a, b", 'say "hi"', "two\nlines")


class CutShort(Response):
    """A 200 whose body stops halfway: the length promised, half of it sent, then the
    connection dropped (what a proxy timing out mid-body looks like)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = self.body
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body[:len(body) // 2],
                    "more_body": True})
        raise ConnectionAbortedError("body cut short on purpose (generative chaos)")


@dataclass
class _Job:
    version: int  # the data the job exports: as it was when the job was created
    polls: int = 0
    ready: bool = False


@dataclass
class _State:
    """What one API's server remembers: tokens, chaos spent, records served."""

    rng: random.Random
    tokens: dict[str, tuple[float, AuthPlan]] = field(default_factory=dict)
    chaos_spent: Counter[str] = field(default_factory=Counter)
    refresh: dict[int, str] = field(default_factory=dict)  # plan -> its newest refresh token
    lock: threading.Lock = field(default_factory=threading.Lock)


class Upstream:
    def __init__(self, apis: list[Api], chaos: bool = True) -> None:
        self.apis = {a.name: a for a in apis}
        self.states = {a.name: _State(random.Random(a.seed * 7919)) for a in apis}
        self.chaos = chaos
        self.served: Counter[tuple[str, str]] = Counter()  # (api, stream) -> records
        self.requests: Counter[tuple[str, str]] = Counter()
        self.chaos_done: Counter[tuple[str, str]] = Counter()  # (api, kind) -> times
        self.rotations: Counter[str] = Counter()  # api -> refresh tokens rotated
        self.jobs: Counter[tuple[str, str]] = Counter()  # (api, stream) -> export jobs made
        self._jobs: dict[tuple[str, str, str], _Job] = {}  # (api, stream, job id)

    @property
    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{api}/{path:path}", self.handle,
                                       methods=["GET", "POST"])])

    def reset_counts(self) -> None:
        self.served.clear()
        self.requests.clear()

    # -- dispatch ----------------------------------------------------------------------------
    async def handle(self, request: Request) -> Response:
        api = self.apis.get(request.path_params["api"])
        if api is None:
            return _error(404, "no such API")
        path = "/" + request.path_params["path"]
        if path == "/oauth/token" and request.method == "POST":
            return await self.token(api, request)
        if path == "/login" and request.method == "POST":
            return await self.login(api, request)
        for s in api.streams:
            what, params = "list", _match(s.endpoint, path)
            if params is None and s.export is not None:
                what, params = "poll", _match(s.export.poll, path)
                if params is None:
                    what, params = "file", _match(_FILE.format(name=s.name), path)
            if params is not None:
                break
        else:
            return _error(404, f"no route {path}")
        self.requests[api.name, s.name] += 1
        presigned = what == "file" and s.export is not None and s.export.url == "presigned"
        chaos = await self.chaos_for(api, request, s)
        if chaos is not None:
            return chaos
        if presigned:
            refused = _unsigned(api, s, request, params["job_id"])
        else:
            refused = await self.refuse(api, s.auth or api.auth, request)
        if refused is not None:
            return refused
        if s.export is not None:
            return await self.export(api, s, request, what, params.get("job_id", ""))
        sent = await _posted(s, request)
        if isinstance(sent, Response):
            return sent
        if s.child_of is not None:
            pkey = params[s.child_of.placeholder]
            status = s.child_of.refused.get(pkey)
            if status is not None:
                return _error(status, "not found" if status == 404 else "forbidden")
            rows = s.children.get(pkey)
            if rows is None:
                return _error(404, f"no parent {pkey}")
        else:
            rows = s.rows_at(api.version)
            if s.listed is not None:  # this partition's share: row i is values[i % n]'s
                param, where, values = s.listed
                value = params.get(param) if where == "path" else request.query_params.get(param)
                if value not in values:
                    return _error(400, f"{param} must be one of {list(values)}")
                rows = [row for i, row in enumerate(rows) if values[i % len(values)] == value]
            if s.incremental is not None:
                window = _window(s, sent if s.incremental.send_in == "body" and sent is not None
                                 else request.query_params)
                if isinstance(window, Response):
                    return window
                rows = [r for r in rows if window(r)]
        asked = sent if s.posted and sent is not None else request.query_params
        response, count = _page(api, s, rows, request, asked)
        self.served[api.name, s.name] += count
        return response

    # -- export jobs -------------------------------------------------------------------------
    async def export(self, api: Api, s: StreamPlan, request: Request, what: str,
                     job_id: str) -> Response:
        """Create a job (``what`` "list": the stream's own endpoint), poll it, or download
        its file."""
        e = s.export
        assert e is not None
        state = self.states[api.name]
        if what == "list":
            if request.method != "POST":
                return _error(405, "POST to create an export")
            try:
                body = orjson.loads(await request.body())
            except orjson.JSONDecodeError:
                return _error(400, "the body is not JSON")
            if body != e.body:
                return _error(400, f"the body must be {e.body}")
            with state.lock:
                self.jobs[api.name, s.name] += 1
                n = self.jobs[api.name, s.name]
                job = str(n) if e.int_ids else f"exp_{api.seed}_{n:04d}"
                self._jobs[api.name, s.name, job] = _Job(api.version)
            return JSONResponse(_job_answer(s, n if e.int_ids else job, e.pending[0]), 202)
        found = self._jobs.get((api.name, s.name, job_id))
        if found is None:
            return _error(404, f"no export job {job_id!r}")
        if what == "poll":
            with state.lock:
                found.polls += 1
                found.ready = found.ready or found.polls > e.polls
            if not found.ready:
                status = e.pending[min(found.polls, len(e.pending)) - 1]
                return JSONResponse(_job_answer(s, int(job_id) if e.int_ids else job_id,
                                                status))
            answer = _job_answer(s, int(job_id) if e.int_ids else job_id, e.done)
            _put(answer, e.url_path, _file_url(api, s, request, job_id))
            return JSONResponse(answer)
        if not found.ready:  # asked for before any poll said done
            return _error(404, "no such file (yet)")
        rows = s.rows_at(found.version)
        records = [_wire(s, r) for r in rows]
        body = _csv(s, records, e.bom) if e.file == "csv" else \
            b"".join(orjson.dumps(r) + b"\n" for r in records)
        self.served[api.name, s.name] += len(rows)
        if e.gzip:  # as a file (no Content-Encoding): the decoder finds the gzip itself
            return Response(gzip.compress(body), media_type="application/gzip")
        return Response(body, media_type="text/csv" if e.file == "csv" else
                        "application/x-ndjson")

    # -- chaos -------------------------------------------------------------------------------
    async def chaos_for(self, api: Api, request: Request, s: StreamPlan) -> Response | None:
        state = self.states[api.name]
        with state.lock:
            if not self.chaos or state.rng.random() >= api.chaos_rate:
                return None
            left = [k for k, most in sorted(api.chaos.items()) if state.chaos_spent[k] < most
                    and k != "chaos_revoke"]
            if not left:
                return None
            kind = state.rng.choice(left)
            state.chaos_spent[kind] += 1
        self.chaos_done[api.name, kind] += 1
        if kind == "chaos_429_seconds":
            return _error(429, "slow down", {"Retry-After": "1"})
        if kind == "chaos_429_date":
            when = datetime.now(UTC) + timedelta(seconds=2)
            return _error(429, "slow down",
                          {"Retry-After": email.utils.format_datetime(when, usegmt=True)})
        if kind == "chaos_5xx":
            return _error(state.rng.choice([500, 502, 503]), "upstream trouble")
        if kind == "chaos_stall":
            await asyncio.sleep(api.timeout_s + 1.0)
            return _error(503, "stalled past the client's timeout")
        if kind == "chaos_cut":
            return CutShort(orjson.dumps({"data": ["x" * 64] * 64}))
        if kind == "chaos_body_error" and s.body_format != "json":
            # No JSON document to hold errors, and no error_path declared to find them.
            return _error(503, "upstream trouble")
        if kind == "chaos_body_error":  # every JSON declaration says error_path: errors
            return JSONResponse({"data": None, "errors": [{"message": "try again later"}]})
        raise AssertionError(kind)

    # -- auth --------------------------------------------------------------------------------
    def _plans(self, api: Api, kind: str) -> list[AuthPlan]:
        return [p for p in [api.auth, *(s.auth for s in api.streams)]
                if p is not None and p.kind == kind]

    def _issue(self, api: Api, plan: AuthPlan, **extra: Any) -> Response:
        state = self.states[api.name]
        with state.lock:
            token = f"t{state.rng.getrandbits(64):x}"
            state.tokens[token] = (time.monotonic() + plan.expires_in, plan)
        return Response(orjson.dumps({"access_token": token, "token_type": "bearer",
                                      "expires_in": plan.expires_in} | extra),
                        media_type="application/json")

    async def token(self, api: Api, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        basic = _basic(request.headers.get("authorization", ""))
        grant = form.get("grant_type")
        for plan in self._plans(api, "oauth2_client_credentials") + \
                self._plans(api, "oauth2_refresh_token"):
            want = (plan.options["client_id"], plan.secret)
            told = basic if plan.options["client_auth"] == "basic" else (
                str(form.get("client_id", "")), str(form.get("client_secret", "")))
            if told != want:
                continue
            if plan.kind == "oauth2_client_credentials" and grant == "client_credentials":
                return self._issue(api, plan)
            if plan.kind == "oauth2_refresh_token" and grant == "refresh_token":
                # Rotation: only the newest refresh token works, and each use retires it.
                state = self.states[api.name]
                with state.lock:
                    current = state.refresh.setdefault(id(plan), plan.options["refresh_token"])
                    if form.get("refresh_token") != current:
                        return _error(400, "invalid_grant")
                    state.refresh[id(plan)] = f"r{state.rng.getrandbits(64):x}"
                    self.rotations[api.name] += 1
                return self._issue(api, plan, refresh_token=state.refresh[id(plan)])
        return _error(401, "invalid_client")

    async def login(self, api: Api, request: Request) -> Response:
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return _error(400, "the login body is JSON")
        for plan in self._plans(api, "session"):
            if body == {"user": plan.options["user"], "password": plan.secret}:
                issued = orjson.loads(self._issue(api, plan).body)
                answer: dict[str, Any] = {"expires_in": issued["expires_in"]}
                _put(answer, plan.options["token_path"], issued["access_token"])
                return Response(orjson.dumps(answer), media_type="application/json")
        return _error(401, "wrong user or password")

    async def refuse(self, api: Api, plan: AuthPlan, request: Request) -> Response | None:
        """401 unless the request proves what ``plan`` wants."""
        h, secret = request.headers, plan.secret
        sent = orjson.loads(await request.body() or b"null") if plan.kind == "body" else None
        proofs: dict[str, Callable[[], bool]] = {
            "none": lambda: True,
            "header": lambda: h.get(plan.options.get("header", "")) == secret,
            "bearer": lambda: h.get("authorization") == f"Bearer {secret}",
            "query": lambda: request.query_params.get(plan.options.get("param", "")) == secret,
            "cookie": lambda: request.cookies.get(plan.options.get("cookie", "")) == secret,
            "basic": lambda: _basic(h.get("authorization", "")) == (
                plan.options.get("username"), secret),
            "oauth2_client_credentials": lambda: self._bearer_ok(api, plan, request),
            "oauth2_refresh_token": lambda: self._bearer_ok(api, plan, request),
            "session": lambda: self._bearer_ok(api, plan, request, plan.options["cookie"]),
            "jwt": lambda: _jwt_ok(h.get("authorization", ""), secret, plan),
            "body": lambda: isinstance(sent, dict) and _dig(sent, plan.options["field"]) ==
            secret,
        }
        return None if proofs[plan.kind]() else _error(401, "unauthorized")

    def _bearer_ok(self, api: Api, plan: AuthPlan, request: Request,
                   cookie: str | None = None) -> bool:
        token = request.cookies.get(cookie, "") if cookie else \
            request.headers.get("authorization", "").removeprefix("Bearer ")
        state = self.states[api.name]
        with state.lock:
            expiry, issued_for = state.tokens.get(token, (0.0, None))
            if issued_for is not plan or time.monotonic() >= expiry:
                return False
            most = api.chaos.get("chaos_revoke", 0)
            if self.chaos and state.chaos_spent["chaos_revoke"] < most and \
                    state.rng.random() < api.chaos_rate:
                state.chaos_spent["chaos_revoke"] += 1
                del state.tokens[token]  # refused before its expiry
                self.chaos_done[api.name, "chaos_revoke"] += 1
                return False
            return True


# -- pages -------------------------------------------------------------------------------------
async def _posted(s: StreamPlan, request: Request) -> Mapping[str, str] | Response | None:
    """A POST listing's body, its values by dotted path (paging and incremental parameters
    sent in it are read there); it must also hold what the declaration's body says. None
    for a GET listing."""
    if not s.post:
        return None
    if request.method != "POST":
        return _error(405, "POST this listing")
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        return _error(400, "the body is not JSON")
    if not isinstance(body, dict) or any(body.get(k) != v for k, v in POST_BODY.items()):
        return _error(400, f"the body must hold {POST_BODY}")
    flat: dict[str, str] = {}

    def walk(node: Any, prefix: str) -> None:
        for k, v in node.items():
            if isinstance(v, dict):
                walk(v, f"{prefix}{k}.")
            else:
                flat[f"{prefix}{k}"] = str(v)
    walk(body, "")
    return flat


def _page(api: Api, s: StreamPlan, rows: list[Row], request: Request,
          q: Mapping[str, str]) -> tuple[Response, int]:
    """The page ``request`` asks for (``q``: its paging parameters), in ``s``'s style and
    shape; with how many records."""
    p, style = s.paging, s.style
    hints: dict[str, Any] = {}
    headers: dict[str, str] = {}
    told = q.get(p["cursor_param"]) if "cursor_param" in p else None
    if "initial_cursor" in p:  # the first page too is asked for with a cursor: the declared one
        if told is None:
            return _error(400, f"{p['cursor_param']} is required (the first is "
                          f"{p['initial_cursor']!r})"), 0
        told = None if told == p["initial_cursor"] else told
    if style in ("single", "snapshot"):
        start, size = 0, len(rows)
    elif style == "offset":
        start, size = int(q.get(p["offset_param"], 0)), _size(s, q)
    elif style == "page_number":
        size = _size(s, q)
        start = (int(q.get(p["page_param"], p["first_page"])) - p["first_page"]) * size
        if "total_pages_path" in p:
            hints[p["total_pages_path"]] = -(-len(rows) // size)
    elif "cursor_from_record" in p:  # after the record with this key
        keys = [str(r.key[0]) for r in rows]
        if told is not None and told not in keys:
            return _error(400, f"no such record: {told!r}"), 0
        start = keys.index(told) + 1 if told is not None else 0
        size = _size(s, q)
    elif style in ("cursor", "header_cursor"):
        start, size = _uncursor(told), _size(s, q)
    else:  # a next-page URL
        start, size = int(q.get(_NEXT, 0)), _size(s, request.query_params)
    if "stop_path" in p and 0 < start >= len(rows):
        return _error(400, f"the listing ended: its last page said {p['stop_path']}"), 0
    chunk = rows[start:start + size]
    more = start + size < len(rows)
    after = start + len(chunk)
    if style == "offset" and "next_offset_path" in p:
        hints[p["next_offset_path"]] = after if more else p.get("end_value")
    elif style == "cursor":
        # With has_more or a stop flag, the last page still names a cursor: the flag is what
        # ends it.
        if "next_cursor_path" in p:
            hints[p["next_cursor_path"]] = _cursor(after) if more or "has_more_path" in p \
                or "stop_path" in p else None
        if "has_more_path" in p:
            hints[p["has_more_path"]] = more
        if "stop_path" in p:
            hints[p["stop_path"]] = not more
    elif style == "header_cursor" and more:
        headers[p["cursor_header"]] = _cursor(after)
    elif style in ("header_link", "json_link"):
        link = _link(api, s, request, after) if more else None
        if style == "json_link" and (link or api.seed % 3):  # the end: absent, null or ""
            hints[p["next_url_path"]] = link or ("" if api.seed % 3 == 2 else None)
        elif link:
            headers["Link"] = f'<{link}>; rel="next", <{_link(api, s, request, 0)}>; rel="first"'
    if s.total_path:
        hints[s.total_path] = len(rows)
    records = [_wire(s, r) for r in chunk]
    if s.json_lines:  # a bare listing, one record per line
        lines = b"".join(orjson.dumps(r) + b"\n" for r in records)
        return Response(lines, media_type="application/x-ndjson", headers=headers), len(chunk)
    if s.csv:
        return Response(_csv(s, records, s.bom), media_type="text/csv",
                        headers=headers), len(chunk)
    body = orjson.dumps(_body(s, records, hints, api.seed))
    if style == "snapshot":
        etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
        headers["ETag"] = etag
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers), 0
    return Response(body, media_type="application/json", headers=headers), len(chunk)


def _size(s: StreamPlan, q: Mapping[str, str]) -> int:
    name = s.paging.get("limit_param")
    return min(int(q.get(name, s.limit)) if name else s.limit, 100)


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def _uncursor(token: str | None) -> int:
    if not token:
        return 0
    return int(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()[2:])


def _link(api: Api, s: StreamPlan, request: Request, offset: int) -> str:
    """The next page's absolute URL with every parameter but the credentials (which the
    client adds itself)."""
    params = {k: v for k, v in request.query_params.items()
              if k != (s.auth or api.auth).options.get("param")}
    params[_NEXT] = str(offset)
    if s.paging.get("limit_param"):
        params[s.paging["limit_param"]] = str(_size(s, request.query_params))
    return str(request.url.replace_query_params(**params))


def _wire(s: StreamPlan, row: Row) -> dict[str, Any]:
    rec: dict[str, Any] = {}
    for col, value in zip(s.key_cols, row.key, strict=True):
        if col.wire is not None:
            _put(rec, col.wire, value)
    _put(rec, s.name_path, row.name)
    rec[s.amount_field] = row.amount
    rec[s.at_field] = render(s.at_form, row.at_ms)
    if s.flat:  # kept in no column: must not matter
        rec["note"] = _NOTES[len(row.name) % len(_NOTES)]
    else:
        rec["tags"] = ["a", {"deep": [1, None]}]
    return rec


def _csv(s: StreamPlan, records: list[dict[str, Any]], bom: bool) -> bytes:
    """Records as CSV under a header (a page of none: the header alone)."""
    header = [k.wire for k in s.key_cols if k.wire] + [s.name_path, s.amount_field,
                                                       s.at_field, "note"]
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=header)
    writer.writeheader()
    writer.writerows(records)
    return ("\ufeff" if bom else "").encode() + out.getvalue().encode()


def _job_answer(s: StreamPlan, job: int | str, status: str) -> dict[str, Any]:
    assert s.export is not None
    answer: dict[str, Any] = {}
    _put(answer, s.export.job_id_path, job)
    _put(answer, s.export.status_path, status)
    return answer


def _signature(api: Api, job: str) -> str:
    return hashlib.sha256(f"{api.seed}/{job}".encode()).hexdigest()[:20]


def _file_url(api: Api, s: StreamPlan, request: Request, job: str) -> str:
    """A finished job's file: a path on the API, an absolute URL on its origin, or a signed
    URL on another origin (``localhost``, where the API is ``127.0.0.1``)."""
    assert s.export is not None
    path = _FILE.format(name=s.name).format(job_id=job)
    if s.export.url == "path":
        return path
    if s.export.url == "absolute":
        return f"{request.url.scheme}://{request.url.netloc}/{api.name}{path}"
    return f"http://localhost:{request.url.port}/{api.name}{path}?sig={_signature(api, job)}"


def _unsigned(api: Api, s: StreamPlan, request: Request, job: str) -> Response | None:
    """A pre-signed URL wants its signature, and none of the API's credentials (a client
    that sent them would hand them to whoever serves the file)."""
    if request.query_params.get("sig") != _signature(api, job):
        return _error(403, "bad signature")
    sent = [h for h in ("authorization", "cookie") if h in request.headers]
    for plan in (api.auth, s.auth):
        options = plan.options if plan is not None else {}
        if options.get("header") and options["header"] in request.headers:
            sent.append(options["header"])
        if options.get("param") and options["param"] in request.query_params:
            sent.append(options["param"])
    return _error(400, f"credentials sent to a pre-signed URL: {sent}") if sent else None


def _body(s: StreamPlan, records: list[dict[str, Any]], hints: dict[str, Any],
          seed: int) -> Any:
    if s.shape == "bare":
        return records
    body: dict[str, Any] = {}
    if s.shape == "gathered":  # split across groups, one of them empty
        cut = len(records) // 2
        body["groups"] = [{s.inner: records[:cut]}, {s.inner: []}, {s.inner: records[cut:]}]
    elif s.shape == "projected":
        body["result"] = {"items": [{s.inner: r, "etag": i} for i, r in enumerate(records)]}
    elif s.shape == "filtered":
        body["entries"] = [x for i, r in enumerate(records) for x in
                           ([{"type": "record", **r}] + ([{"type": "ad", "id": -i}]
                                                         if (i + seed) % 3 == 0 else []))]
    else:
        _put(body, s.records_path, records)
    for path, value in hints.items():
        _put(body, path, value)
    return body


def _jwt_ok(header: str, key: str, plan: AuthPlan) -> bool:
    """A bearer JWT signed with the plan's key, its claims as declared, not expired."""
    try:
        claims = jwt.decode(header.removeprefix("Bearer "), key, algorithms=["HS256"])
    except jwt.PyJWTError:
        return False
    return all(claims.get(k) == v for k, v in plan.options["claims"].items()) and \
        claims["exp"] - claims["iat"] == plan.options["ttl_s"]


def _dig(doc: Any, path: str) -> Any:
    for part in path.split("."):
        doc = doc.get(part) if isinstance(doc, dict) else None
    return doc


def _put(doc: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for part in parents:
        doc = doc.setdefault(part, {})
    doc[last] = value


def _match(template: str, path: str) -> dict[str, str] | None:
    pattern = "^" + re.sub(r"\\{(\w+)\\}", r"(?P<\1>[^/]+)", re.escape(template)) + "$"
    m = re.match(pattern, path)
    return m.groupdict() if m else None


def _window(s: StreamPlan, q: Mapping[str, str]) -> Callable[[Row], bool] | Response:
    """The incremental filter the request asks for (``q``: the query's parameters, or the
    body's), or a 400 naming what is wrong."""
    inc = s.incremental
    assert inc is not None
    since = q.get(inc.param)
    if since is None:
        return _error(400, f"{inc.param} is required")
    try:
        low = read_cursor(s, since)
        high = read_cursor(s, q[inc.end_param]) if inc.end_param else None
    except (ValueError, KeyError) as exc:
        return _error(400, f"bad bound: {exc}")

    def inside(r: Row) -> bool:
        at = _cursor_of(s, r)
        above = at >= low if inc.bound == "inclusive" else at > low
        return above and (high is None or at < high)
    return inside


_ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")


def read_cursor(s: StreamPlan, text: str) -> tuple[int, str]:
    """An incremental parameter read in the declared format, as (instant in ms, "") or, for
    ``text``, (0, the text); a ValueError when it is not written in that format."""
    assert s.incremental is not None
    fmt = s.incremental.reads
    if fmt == "text":  # compared as text: only the very form orders as the instants do
        if str(render(s.at_form, to_ms(s.at_form, text))) != text:
            raise ValueError(f"{text!r} is not written as {s.at_form}")
        return 0, text
    if fmt == "epoch_s" and re.fullmatch(r"-?\d+(\.\d+)?", text) and \
            abs(float(text)) < SECONDS_BELOW:
        return round(float(text) * 1000), ""
    if fmt == "epoch_ms" and re.fullmatch(r"-?\d+", text) and abs(int(text)) >= SECONDS_BELOW:
        return int(text), ""
    if fmt == "iso" and _ISO.fullmatch(text):
        return to_ms("iso_z", text), ""
    raise ValueError(f"{text!r} is not {fmt}")


def _cursor_of(s: StreamPlan, r: Row) -> tuple[int, str]:
    assert s.incremental is not None
    if s.incremental.reads == "text":
        return 0, str(render(s.at_form, r.at_ms))
    return r.at_ms, ""


def to_ms(form: str, text: str) -> int:
    """An instant as the API reads it back in its own form."""
    if form.startswith("epoch"):
        value = float(text)
        return round(value * 1000) if form.startswith("epoch_s") else round(value)
    return round(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps({"code": "GENERATED", "message": message}), status,
                    headers=headers, media_type="application/json")


def _basic(header: str) -> tuple[str, str] | None:
    if not header.startswith("Basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except ValueError:
        return None
    return unquote_plus(user), unquote_plus(password)
