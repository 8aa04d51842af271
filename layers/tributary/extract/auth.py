"""A declared ``auth`` as an ``httpx.Auth``: every request of a source's client carries it.

OAuth2 client credentials fetch a token before the first request, renew it
``renew_before_s`` before it expires, and again when the API answers 401 (revoked or
expired early). Tokens are kept in memory only: never logged, never in the raw zone.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Generator
from typing import Any
from urllib.parse import quote_plus

import httpx

from tributary.extract.http import ApiError
from tributary.sources.auth import (
    Auth,
    BasicAuth,
    BearerAuth,
    CookieAuth,
    HeaderAuth,
    NoAuth,
    OAuth2ClientCredentials,
    QueryAuth,
)


class AuthError(ApiError):
    """The credentials were refused; the message never holds a secret."""

    def __init__(self, message: str) -> None:
        super().__init__(401, "AUTH", message)


class Headers(httpx.Auth):
    """Fixed headers on every request (API key header, bearer token, cookie)."""

    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = headers

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers.update(self.headers)
        yield request


class QueryKey(httpx.Auth):
    def __init__(self, param: str, secret: str) -> None:
        self.param, self.secret = param, secret

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.url = request.url.copy_merge_params({self.param: self.secret})
        yield request


class ClientCredentials(httpx.Auth):
    """OAuth 2.0 client credentials, one token shared by every thread of the client."""

    requires_response_body = True

    def __init__(self, spec: OAuth2ClientCredentials, base_url: str) -> None:
        self.spec = spec
        self.token_url = str(httpx.URL(base_url).join(spec.token_url))
        self._lock = threading.Lock()
        self._token: str | None = None
        self._renew_at = 0.0
        self.issued = 0  # tokens fetched, for tests and stats

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self._current()
        if token is None:
            token = self._store((yield self._token_request()))
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        # Revoked or expired early: a fresh token, twice at most (a third 401 is the answer).
        for _ in range(2):
            if response.status_code != 401:
                return
            self._forget(token)
            token = self._store((yield self._token_request()))
            request.headers["Authorization"] = f"Bearer {token}"
            response = yield request

    def _current(self) -> str | None:
        with self._lock:
            if self._token and time.monotonic() < self._renew_at:
                return self._token
            return None

    def _forget(self, token: str) -> None:
        with self._lock:
            if self._token == token:
                self._token = None

    def _token_request(self) -> httpx.Request:
        """RFC 6749 4.4.2; the client authenticates with HTTP basic (2.3.1, which every
        server must accept) or, if declared, in the form."""
        form = {"grant_type": "client_credentials"} | (
            {"scope": self.spec.scope} if self.spec.scope else {})
        secret = self.spec.secret.get_secret_value()
        headers = {"Accept": "application/json"}
        if self.spec.client_auth == "post":
            form |= {"client_id": self.spec.client_id, "client_secret": secret}
        else:
            pair = f"{quote_plus(self.spec.client_id)}:{quote_plus(secret)}".encode()
            headers["Authorization"] = f"Basic {base64.b64encode(pair).decode()}"
        return httpx.Request("POST", self.token_url, data=form, headers=headers)

    def _store(self, response: httpx.Response) -> str:
        if response.status_code != 200:
            raise AuthError(f"the token endpoint {self.token_url} answered "
                            f"{response.status_code}: check the client id and secret")
        body: dict[str, Any] = response.json()
        token = str(body.get("access_token") or "")
        if not token:
            raise AuthError(f"the token endpoint {self.token_url} sent no access_token")
        with self._lock:
            lifetime = float(body.get("expires_in") or 3600)
            # Renewed ahead of expiry: renew_before_s, or half its life for a short one.
            self._token = token
            self._renew_at = time.monotonic() + lifetime - min(self.spec.renew_before_s,
                                                               lifetime / 2)
            self.issued += 1
        return token


def auth_for(spec: Auth, base_url: str) -> httpx.Auth | None:
    """The ``httpx.Auth`` a declared ``auth`` stands for (``None`` for none)."""
    if isinstance(spec, NoAuth):
        return None
    secret = spec.secret.get_secret_value()
    if isinstance(spec, HeaderAuth):
        return Headers({spec.header: secret})
    if isinstance(spec, BearerAuth):
        return Headers({"Authorization": f"Bearer {secret}"})
    if isinstance(spec, CookieAuth):
        return Headers({"Cookie": f"{spec.cookie}={secret}"})
    if isinstance(spec, QueryAuth):
        return QueryKey(spec.param, secret)
    if isinstance(spec, BasicAuth):
        return httpx.BasicAuth(spec.username, secret)
    return ClientCredentials(spec, base_url)


def prepared(auth: httpx.Auth | None, url: str, client: httpx.Client) -> httpx.Request:
    """A GET of ``url`` as ``auth`` would send it (a token fetched through ``client`` if one
    is needed), for clients that are not httpx: the live sources' WebSocket."""
    request = httpx.Request("GET", url)
    if auth is None:
        return request
    flow = auth.sync_auth_flow(request)
    step = next(flow)
    while step is not request:  # a token request first
        response = client.send(step)
        response.read()
        step = flow.send(response)
    return request
