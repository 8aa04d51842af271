"""One Starlette app serving every generated API under ``/<api name>/...``.

Each API answers as its ``Api`` says: its auth (OAuth2 tokens that expire, and are refused
early when chaos says so), its pagination style, its record shapes, refused parents, the
incremental bound, and per-API chaos. It counts the records each stream delivered, so a
test can tell how often the pipeline fetched what it already had.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import hashlib
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
from tributary.normalize.stamp_forms import render

_NEXT = "page_after"  # where a next-page link keeps its position


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
            params = _match(s.endpoint, path)
            if params is not None:
                break
        else:
            return _error(404, f"no route {path}")
        self.requests[api.name, s.name] += 1
        chaos = await self.chaos_for(api, request, s)
        if chaos is not None:
            return chaos
        refused = await self.refuse(api, s.auth or api.auth, request)
        if refused is not None:
            return refused
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
                window = _window(s, request)
                if isinstance(window, Response):
                    return window
                rows = [r for r in rows if window(r)]
        asked = await _asked(s, request)
        if isinstance(asked, Response):
            return asked
        response, count = _page(api, s, rows, request, asked)
        self.served[api.name, s.name] += count
        return response

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
        if kind == "chaos_body_error" and s.json_lines:  # no JSON document to hold errors
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
async def _asked(s: StreamPlan, request: Request) -> Mapping[str, str] | Response:
    """The paging parameters: the query's, or a POST body's (by dotted path), which must
    also hold what the declaration's body says."""
    if not s.posted:
        return request.query_params
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
        after_key = q.get(p["cursor_param"])
        keys = [str(r.key[0]) for r in rows]
        if after_key is not None and after_key not in keys:
            return _error(400, f"no such record: {after_key!r}"), 0
        start = keys.index(after_key) + 1 if after_key is not None else 0
        size = _size(s, q)
    elif style in ("cursor", "header_cursor"):
        start, size = _uncursor(q.get(p["cursor_param"])), _size(s, q)
    else:  # a next-page URL
        start, size = int(q.get(_NEXT, 0)), _size(s, request.query_params)
    chunk = rows[start:start + size]
    more = start + size < len(rows)
    after = start + len(chunk)
    if style == "offset" and "next_offset_path" in p:
        hints[p["next_offset_path"]] = after if more else p.get("end_value")
    elif style == "cursor":
        # With has_more, the last page still names a cursor: has_more is what ends it.
        if "next_cursor_path" in p:
            hints[p["next_cursor_path"]] = _cursor(after) if more or "has_more_path" in p \
                else None
        if "has_more_path" in p:
            hints[p["has_more_path"]] = more
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
    rec["tags"] = ["a", {"deep": [1, None]}]  # kept in no column: must not matter
    return rec


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


def _window(s: StreamPlan, request: Request) -> Any:
    """The incremental filter the request asks for, or a 400 naming what is wrong."""
    inc = s.incremental
    assert inc is not None
    since = request.query_params.get(inc.param)
    if since is None:
        return _error(400, f"{inc.param} is required")
    try:
        low = to_ms(s.at_form, since)
        high = to_ms(s.at_form, request.query_params[inc.end_param]) if inc.end_param else None
    except (ValueError, KeyError) as exc:
        return _error(400, f"bad bound: {exc}")

    def inside(r: Row) -> bool:
        above = r.at_ms >= low if inc.bound == "inclusive" else r.at_ms > low
        return above and (high is None or r.at_ms < high)
    return inside


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
