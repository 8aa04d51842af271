"""Every declared auth kind on the wire, against a fake API (httpx.MockTransport)."""

from __future__ import annotations

import base64
import logging
import time
from typing import Any

import httpx
import pytest
from pydantic import TypeAdapter, ValidationError

from tributary.extract.auth import AuthError, ClientCredentials, auth_for, prepared
from tributary.extract.http import RateLimitedClient
from tributary.sources.auth import Auth

BASE = "https://api.example.com"
SECRET = "s3cr3t-value"


def _auth(**spec: Any) -> Auth:
    return TypeAdapter(Auth).validate_python(spec)


def _seen(spec: Auth) -> httpx.Request:
    """The request the API receives."""
    got: list[httpx.Request] = []

    def api(request: httpx.Request) -> httpx.Response:
        got.append(request)
        return httpx.Response(200, json=[])

    client = RateLimitedClient(BASE, {}, 5, auth=auth_for(spec, BASE),
                               transport=httpx.MockTransport(api))
    client.request("GET", "/items", "items", params={"limit": 10})
    return got[-1]


@pytest.mark.parametrize(("spec", "check"), [
    ({"kind": "header", "header": "X-Key", "secret": SECRET},
     lambda r: r.headers["x-key"] == SECRET),
    ({"kind": "bearer", "secret": SECRET},
     lambda r: r.headers["authorization"] == f"Bearer {SECRET}"),
    ({"kind": "query", "param": "api_key", "secret": SECRET},
     lambda r: r.url.params["api_key"] == SECRET and r.url.params["limit"] == "10"),
    ({"kind": "cookie", "cookie": "session", "secret": SECRET},
     lambda r: r.headers["cookie"] == f"session={SECRET}"),
    ({"kind": "basic", "username": "me", "secret": SECRET},
     lambda r: r.headers["authorization"] == "Basic " + base64.b64encode(
         f"me:{SECRET}".encode()).decode()),
])
def test_each_kind_reaches_the_api(spec: dict[str, Any], check: Any) -> None:
    assert check(_seen(_auth(**spec)))


class TokenServer:
    """A token endpoint whose tokens last ``ttl`` seconds, and an API that wants them."""

    def __init__(self, ttl: float = 3600, revoke_first: bool = False) -> None:
        self.ttl, self.revoke_first = ttl, revoke_first
        self.issued: list[str] = []
        self.token_forms: list[bytes] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            self.token_forms.append(request.content)
            if request.headers.get("authorization") != "Basic " + base64.b64encode(
                    f"client-1:{SECRET}".encode()).decode():
                return httpx.Response(401, json={"error": "invalid_client"})
            self.issued.append(f"tok-{len(self.issued)}")
            return httpx.Response(200, json={"access_token": self.issued[-1],
                                             "token_type": "bearer", "expires_in": self.ttl})
        wanted = f"Bearer {self.issued[-1]}" if self.issued else None
        if self.revoke_first and len(self.issued) == 1 or \
                request.headers.get("authorization") != wanted:
            return httpx.Response(401, json={"message": "token expired"})
        return httpx.Response(200, json=[])


def _oauth(server: TokenServer, **extra: Any) -> RateLimitedClient:
    spec = _auth(kind="oauth2_client_credentials", token_url="/oauth/token",
                 client_id="client-1", secret=SECRET, scope="read", **extra)
    return RateLimitedClient(BASE, {}, 5, auth=auth_for(spec, BASE),
                             transport=httpx.MockTransport(server))


def test_oauth2_fetches_a_token_once_and_reuses_it() -> None:
    server = TokenServer()
    client = _oauth(server)
    for _ in range(3):
        assert client.request("GET", "/items", "items").status_code == 200
    assert server.issued == ["tok-0"]
    assert b"grant_type=client_credentials" in server.token_forms[0]
    assert b"scope=read" in server.token_forms[0]


def test_oauth2_renews_before_expiry_and_after_a_401() -> None:
    lasting = TokenServer(ttl=30)
    client = _oauth(lasting, renew_before_s=60)  # a short life: renewed at half of it
    client.request("GET", "/items", "items")
    client.request("GET", "/items", "items")
    assert lasting.issued == ["tok-0"]
    server = TokenServer(ttl=0.01)
    client = _oauth(server)
    client.request("GET", "/items", "items")
    time.sleep(0.02)  # past half its life: a new one before the request
    client.request("GET", "/items", "items")
    assert server.issued == ["tok-0", "tok-1"]
    revoked = TokenServer(revoke_first=True)
    assert _oauth(revoked).request("GET", "/items", "items").status_code == 200
    assert revoked.issued == ["tok-0", "tok-1"]


def test_refused_credentials_say_so_without_the_secret(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    spec = _auth(kind="oauth2_client_credentials", token_url="/oauth/token",
                 client_id="client-1", secret="wrong-" + SECRET)
    client = RateLimitedClient(BASE, {}, 5, auth=auth_for(spec, BASE),
                               transport=httpx.MockTransport(TokenServer()))
    with pytest.raises(AuthError, match="answered 401: check the client id and secret") as err:
        client.request("GET", "/items", "items")
    assert SECRET not in str(err.value) and SECRET not in caplog.text
    assert SECRET not in repr(spec) and SECRET not in str(spec.model_dump())


def test_a_socket_gets_the_same_credentials() -> None:
    server = TokenServer()
    with httpx.Client(transport=httpx.MockTransport(server)) as tokens:
        oauth = auth_for(_auth(kind="oauth2_client_credentials", token_url="/oauth/token",
                               client_id="client-1", secret=SECRET), BASE)
        assert isinstance(oauth, ClientCredentials)
        signed = prepared(oauth, "wss://api.example.com/changes", tokens)
        assert signed.headers["authorization"] == "Bearer tok-0"
        keyed = prepared(auth_for(_auth(kind="query", param="key", secret=SECRET), BASE),
                         "wss://api.example.com/changes", tokens)
        assert keyed.url.params["key"] == SECRET


def test_an_unknown_kind_or_a_missing_field_is_named() -> None:
    with pytest.raises(ValidationError, match="oauth2_client_credentials"):
        _auth(kind="digest", secret=SECRET)
    with pytest.raises(ValidationError, match="client_id"):
        _auth(kind="oauth2_client_credentials", token_url="/t", secret=SECRET)
