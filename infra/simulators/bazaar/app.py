"""The bazaar's HTTP API: one endpoint per way real APIs page, filter and authenticate.

- ``GET /users``: ``Link: <...>; rel="next"`` (``page``, ``per_page``); OAuth2.
- ``GET /users/{id}/orders``: one response; 404 for a deleted user, 403 a private one; OAuth2.
- ``GET /products``: ``links.next`` in the body, records at ``data.items``; ``?api_key=``.
- ``GET /reviews``: the ``X-Next-Cursor`` header (``cursor``, ``limit``); cookie ``session``.
- ``GET /articles``: ``page``/``per_page`` until a short page, ``updated_since`` filter;
  HTTP basic.
- ``POST /graphql``: ``invoices(first, after)`` with ``pageInfo``; a share of answers
  (``graphql_error_rate``) are a 200 holding only ``errors``; OAuth2.
- ``GET /charges``: ``starting_after`` the last id, ``has_more`` (Stripe); OAuth2.
- ``GET /orgs/{org}/members``: ``page``/``per_page``, one organisation of a fixed list; OAuth2.
- ``GET /incremental/tickets``: ``start_time`` (inclusive, epoch s) answered with
  ``end_time`` and ``end_of_stream``; edited with the articles; OAuth2.
- ``POST /exports`` starts an export job; ``GET /exports/{id}`` says ``queued``, ``running``
  and, ``export_job_s`` later, ``completed`` with the file's URL; ``GET /exports/{id}/file``
  is a gzip CSV of the payments; OAuth2.

``POST /oauth/token`` issues tokens (client id and secret by HTTP basic) that last
``token_ttl_s``, for client credentials or a refresh token (which rotates: each works
once); a share of requests (``revoke_rate``) refuse a valid token with 401. Every data
endpoint has a budget per 1 s window (``X-RateLimit-*`` headers, 429 with ``Retry-After``
past it) and chaos: 429s, 5xx and stalls at the configured rates.
``POST /_edit`` edits ``edits_per_tick`` articles (their ``updated_at`` moves forward);
``GET /stats`` is the truth a test compares with.
"""

from __future__ import annotations

import asyncio
import base64
import random
import secrets
import threading
import time
from typing import Any
from urllib.parse import parse_qs, urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from simulators.bazaar import data, ledger
from simulators.settings import BazaarSettings


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(body, status, headers=headers)


class Bazaar:
    def __init__(self, cfg: BazaarSettings) -> None:
        self.cfg = cfg
        self.started = time.time()
        self.users = data.users(cfg.seed, cfg.users)
        self.products = data.products(cfg.seed, cfg.products)
        self.reviews = data.reviews(cfg.seed, cfg.reviews)
        self.invoices = ledger.invoices(cfg.seed, cfg.invoices)
        self.charges = ledger.charges(cfg.seed, cfg.charges)
        self.exports: dict[str, float] = {}  # job id -> when it was started
        self.downloads: dict[str, int] = {}  # job id -> its file's downloads
        self.refresh_token = cfg.refresh_token.get_secret_value()  # the one that works now
        self.manual_ticks = 0
        self.tokens: dict[str, float] = {}  # token -> expiry
        self.rng = random.Random(cfg.seed)
        self.windows: dict[str, tuple[int, int]] = {}  # endpoint -> (window, used)
        self.counts: dict[str, int] = {"tokens_issued": 0, "refused_401": 0, "rate_limited": 0,
                                       "server_errors": 0, "stalls": 0, "requests": 0,
                                       "graphql_errors": 0, "refreshes": 0,
                                       "invalid_grant": 0}
        self._lock = threading.Lock()

    # -- the truth ----------------------------------------------------------------------------
    @property
    def ticks(self) -> int:
        auto = int((time.time() - self.started) / self.cfg.edit_every_s) \
            if self.cfg.edit_every_s else 0
        return self.manual_ticks + auto

    def articles(self) -> list[dict[str, Any]]:
        return data.articles(self.cfg.seed, self.cfg.articles, self.ticks,
                             self.cfg.edits_per_tick)

    def tickets(self) -> list[dict[str, Any]]:
        return ledger.tickets(self.cfg.seed, self.cfg.tickets, self.ticks,
                              self.cfg.edits_per_tick)

    def stats(self) -> dict[str, Any]:
        visible = [u["id"] for u in self.users if data.user_status(u["id"]) == 200]
        orders = [o for uid in visible for o in data.orders(self.cfg.seed, uid)]
        return {"users": len(self.users), "orders": len(orders),
                "order_lines": sum(len(o["lines"]) for o in orders),
                "products": len(self.products), "reviews": len(self.reviews),
                "articles": self.cfg.articles, "ticks": self.ticks,
                "invoices": len(self.invoices), "charges": len(self.charges),
                "members": ledger.org_sizes(self.cfg.members_scale),
                "tickets": self.cfg.tickets, "payments": self.cfg.payments,
                "export_jobs": len(self.exports), "export_downloads": dict(self.downloads),
                **self.counts}

    # -- gates --------------------------------------------------------------------------------
    async def _gate(self, request: Request, endpoint: str, authorized: bool) -> Response | None:
        """Auth, the rate budget and chaos; None when the request may be answered."""
        with self._lock:
            self.counts["requests"] += 1
            self.counts[f"requests_{endpoint}"] = self.counts.get(f"requests_{endpoint}", 0) + 1
            roll = self.rng.random()
            window = int(time.time())
            start, used = self.windows.get(endpoint, (window, 0))
            used = used + 1 if start == window else 1
            self.windows[endpoint] = (window, used)
        if not authorized:
            self.counts["refused_401"] += 1
            return _json({"message": "unauthorized"}, 401)
        reset = f"{window + 1 - time.time():.3f}"
        if used > self.cfg.requests_per_s:
            self.counts["rate_limited"] += 1
            return _json({"message": "rate limited"}, 429, {
                "Retry-After": reset, **self._limits(0, reset)})
        if roll < self.cfg.rate_429:
            self.counts["rate_limited"] += 1
            return _json({"message": "slow down"}, 429, {"Retry-After": "0.2"})
        if roll < self.cfg.rate_429 + self.cfg.rate_5xx:
            self.counts["server_errors"] += 1
            return _json({"message": "internal error"}, 503)
        if roll < self.cfg.rate_429 + self.cfg.rate_5xx + self.cfg.stall_rate:
            self.counts["stalls"] += 1
            await asyncio.sleep(self.cfg.stall_s)
        request.state.limits = self._limits(self.cfg.requests_per_s - used, reset)
        return None

    def _limits(self, remaining: int, reset: str) -> dict[str, str]:
        return {"X-RateLimit-Limit": str(self.cfg.requests_per_s),
                "X-RateLimit-Remaining": str(max(0, remaining)), "X-RateLimit-Reset": reset}

    def _bearer_ok(self, request: Request) -> bool:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        with self._lock:
            live = self.tokens.get(token, 0) > time.time()
            if live and self.rng.random() < self.cfg.revoke_rate:
                del self.tokens[token]  # revoked early: the client must ask again
                return False
        return live

    def _basic(self, request: Request, user: str, password: str) -> bool:
        want = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        return secrets.compare_digest(request.headers.get("authorization", ""), want)

    # -- endpoints ----------------------------------------------------------------------------
    async def token(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        if not self._basic(request, self.cfg.client_id,
                           self.cfg.client_secret.get_secret_value()):
            return _json({"error": "invalid_client"}, 401)
        grant = form.get("grant_type")
        rotated: dict[str, str] = {}
        if grant == "refresh_token":
            # Rotation: each refresh token works once; the answer carries its successor.
            with self._lock:
                if form.get("refresh_token") != self.refresh_token:
                    self.counts["invalid_grant"] += 1
                    return _json({"error": "invalid_grant"}, 400)
                self.refresh_token = secrets.token_urlsafe(16)
                self.counts["refreshes"] += 1
                rotated = {"refresh_token": self.refresh_token}
        elif grant != "client_credentials":
            return _json({"error": "unsupported_grant_type"}, 400)
        token = secrets.token_urlsafe(16)
        with self._lock:
            self.tokens[token] = time.time() + self.cfg.token_ttl_s
            self.counts["tokens_issued"] += 1
        return _json({"access_token": token, "token_type": "bearer",
                      "expires_in": self.cfg.token_ttl_s} | rotated)

    async def list_users(self, request: Request) -> Response:
        if (refused := await self._gate(request, "users", self._bearer_ok(request))):
            return refused
        page, per_page = _int(request, "page", 1), min(100, _int(request, "per_page", 30))
        rows = self.users[(page - 1) * per_page: page * per_page]
        headers = dict(request.state.limits)
        if page * per_page < len(self.users):
            nxt = f"{request.base_url}users?{urlencode({'page': page + 1, 'per_page': per_page})}"
            last = -(-len(self.users) // per_page)
            headers["Link"] = (f'<{nxt}>; rel="next", <{request.base_url}users?'
                               f'{urlencode({"page": last, "per_page": per_page})}>; rel="last"')
        return _json(rows, headers=headers)

    async def user_orders(self, request: Request) -> Response:
        if (refused := await self._gate(request, "orders", self._bearer_ok(request))):
            return refused
        user_id = int(request.path_params["user_id"])
        status = data.user_status(user_id) if 1 <= user_id <= self.cfg.users else 404
        if status != 200:
            return _json({"message": {404: "no such user", 403: "private"}[status]}, status)
        return _json({"orders": data.orders(self.cfg.seed, user_id)},
                     headers=request.state.limits)

    async def list_products(self, request: Request) -> Response:
        key_ok = secrets.compare_digest(request.query_params.get("api_key", ""),
                                        self.cfg.api_key.get_secret_value())
        if (refused := await self._gate(request, "products", key_ok)):
            return refused
        after, limit = request.query_params.get("after", ""), min(100, _int(request, "limit", 50))
        rows = [p for p in self.products if p["sku"] > after][:limit]
        more = rows and rows[-1]["sku"] < self.products[-1]["sku"]
        nxt = f"/products?{urlencode({'after': rows[-1]['sku'], 'limit': limit})}" if more else None
        return _json({"data": {"items": rows}, "links": {"next": nxt}},
                     headers=request.state.limits)

    async def list_reviews(self, request: Request) -> Response:
        cookie_ok = secrets.compare_digest(request.cookies.get("session", ""),
                                           self.cfg.session.get_secret_value())
        if (refused := await self._gate(request, "reviews", cookie_ok)):
            return refused
        start, limit = _int(request, "cursor", 0), min(100, _int(request, "limit", 50))
        rows = self.reviews[start:start + limit]
        headers = dict(request.state.limits)
        if start + limit < len(self.reviews):
            headers["X-Next-Cursor"] = str(start + limit)
        return _json({"reviews": rows}, headers=headers)

    async def list_articles(self, request: Request) -> Response:
        ok = self._basic(request, self.cfg.basic_user, self.cfg.basic_password.get_secret_value())
        if (refused := await self._gate(request, "articles", ok)):
            return refused
        since = request.query_params.get("updated_since", "")
        page, per_page = _int(request, "page", 1), min(100, _int(request, "per_page", 50))
        rows = sorted((a for a in self.articles() if a["updated_at"] > since),
                      key=lambda a: (a["updated_at"], a["id"]))
        return _json(rows[(page - 1) * per_page: page * per_page],
                     headers=request.state.limits)

    async def graphql(self, request: Request) -> Response:
        if (refused := await self._gate(request, "graphql", self._bearer_ok(request))):
            return refused
        try:
            ask = await request.json()
            query, variables = str(ask["query"]), dict(ask.get("variables") or {})
            first = max(1, min(100, int(variables.get("first", 20))))
        except (ValueError, KeyError, TypeError):
            return _json({"errors": [{"message": "a GraphQL request has a query and "
                                                 "variables"}]}, 400)
        if "invoices" not in query:
            return _json({"data": None, "errors": [{"message": "unknown field"}]},
                         headers=request.state.limits)
        with self._lock:
            failed = self.rng.random() < self.cfg.graphql_error_rate
            self.counts["graphql_errors"] += failed
        if failed:  # GraphQL's way: a 200 that says it failed
            return _json({"data": None, "errors": [{"message": "throttled: try again",
                                                   "extensions": {"code": "THROTTLED"}}]},
                         headers=request.state.limits)
        after = variables.get("after")
        start = int(str(after).removeprefix("inv:")) if after else 0
        rows = self.invoices[start:start + first]
        end = start + len(rows)
        return _json({"data": {"invoices": {
            "totalCount": len(self.invoices), "nodes": rows,
            "pageInfo": {"endCursor": f"inv:{end}" if rows else after,
                         "hasNextPage": end < len(self.invoices)}}}},
            headers=request.state.limits)

    async def list_charges(self, request: Request) -> Response:
        if (refused := await self._gate(request, "charges", self._bearer_ok(request))):
            return refused
        limit = max(1, min(100, _int(request, "limit", 10)))
        after = request.query_params.get("starting_after")
        ids = [c["id"] for c in self.charges]
        if after is not None and after not in ids:
            return _json({"error": {"message": f"No such charge: '{after}'"}}, 400)
        start = ids.index(after) + 1 if after else 0
        rows = self.charges[start:start + limit]
        return _json({"object": "list", "data": rows,
                      "has_more": start + limit < len(self.charges)},
                     headers=request.state.limits)

    async def org_members(self, request: Request) -> Response:
        if (refused := await self._gate(request, "members", self._bearer_ok(request))):
            return refused
        org = request.path_params["org"]
        if org not in ledger.ORGS:
            return _json({"message": "no such organisation"}, 404)
        page, per_page = max(1, _int(request, "page", 1)), min(100, _int(request, "per_page", 25))
        rows = ledger.members(org, self.cfg.members_scale)[(page - 1) * per_page:
                                                          page * per_page]
        return _json({"members": rows}, headers=request.state.limits)

    async def export_tickets(self, request: Request) -> Response:
        if (refused := await self._gate(request, "tickets", self._bearer_ok(request))):
            return refused
        if "start_time" not in request.query_params:
            return _json({"message": "start_time is required"}, 400)
        start, per_page = _int(request, "start_time", 0), min(1000, _int(request, "per_page", 100))
        rows = [t for t in self.tickets() if t["updated_at"] >= start][:per_page]
        return _json({"tickets": rows, "count": len(rows),
                      "end_time": rows[-1]["updated_at"] if rows else start,
                      "end_of_stream": len(rows) < per_page}, headers=request.state.limits)

    async def start_export(self, request: Request) -> Response:
        if (refused := await self._gate(request, "exports", self._bearer_ok(request))):
            return refused
        try:
            kind = (await request.json()).get("type")
        except ValueError:
            kind = None
        if kind != "payments":
            return _json({"message": "type must be 'payments'"}, 400)
        with self._lock:
            job = f"exp_{len(self.exports) + 1:04d}"
            self.exports[job] = time.time()
        return _json({"id": job, "status": "queued"}, 202, headers=request.state.limits)

    async def export_status(self, request: Request) -> Response:
        if (refused := await self._gate(request, "exports", self._bearer_ok(request))):
            return refused
        job = request.path_params["job"]
        if job not in self.exports:
            return _json({"message": "no such export"}, 404)
        age = time.time() - self.exports[job]
        if age < self.cfg.export_job_s:
            state = "queued" if age < self.cfg.export_job_s / 3 else "running"
            return _json({"id": job, "status": state}, headers=request.state.limits)
        return _json({"id": job, "status": "completed",
                      "result": {"url": f"/exports/{job}/file", "rows": self.cfg.payments}},
                     headers=request.state.limits)

    async def export_file(self, request: Request) -> Response:
        if (refused := await self._gate(request, "exports", self._bearer_ok(request))):
            return refused
        job = request.path_params["job"]
        if time.time() - self.exports.get(job, time.time()) < self.cfg.export_job_s:
            return _json({"message": "no such file (yet)"}, 404)
        with self._lock:
            self.downloads[job] = self.downloads.get(job, 0) + 1
        body = ledger.payments_csv(ledger.payments(self.cfg.seed, self.cfg.payments))
        return Response(body, 200, media_type="application/gzip",
                        headers={**request.state.limits,
                                 "Content-Disposition": f'attachment; filename="{job}.csv.gz"'})

    async def edit(self, request: Request) -> Response:
        with self._lock:
            self.manual_ticks += 1
        return _json({"ticks": self.ticks})

    async def get_stats(self, request: Request) -> Response:
        return _json(self.stats())

    async def health(self, request: Request) -> Response:
        return _json({"status": "ok"})

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/oauth/token", self.token, methods=["POST"]),
            Route("/users", self.list_users), Route("/users/{user_id}/orders", self.user_orders),
            Route("/products", self.list_products), Route("/reviews", self.list_reviews),
            Route("/articles", self.list_articles), Route("/_edit", self.edit, methods=["POST"]),
            Route("/graphql", self.graphql, methods=["POST"]),
            Route("/charges", self.list_charges), Route("/orgs/{org}/members", self.org_members),
            Route("/incremental/tickets", self.export_tickets),
            Route("/exports", self.start_export, methods=["POST"]),
            Route("/exports/{job}", self.export_status),
            Route("/exports/{job}/file", self.export_file),
            Route("/stats", self.get_stats), Route("/health", self.health)])


def _int(request: Request, name: str, default: int) -> int:
    try:
        return max(0, int(request.query_params.get(name, default)))
    except ValueError:
        return default
