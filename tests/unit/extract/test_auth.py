"""Every declared auth kind on the wire, against a fake API (httpx.MockTransport)."""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import TypeAdapter, ValidationError

from tributary.extract.auth import (
    AuthError,
    AuthUnavailable,
    AuthUnfit,
    ClientCredentials,
    TokenAuth,
    auth_for,
    prepared,
)
from tributary.extract.checkpoints import Partition
from tributary.extract.http import RateLimitedClient, permanent
from tributary.extract.stream import DeclaredStream
from tributary.sources.auth import Auth
from tributary.sources.spec import Source

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
    with pytest.raises(AuthError, match="answered 401 invalid_client: check the client id "
                       "and secret") as err:
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


# -- session: a login request, its token in a header or a cookie ---------------------------------

PASSWORD = "pa55-w0rd-value"


class LoginServer:
    """A login endpoint (JSON in, a token at data.token out) and an API that wants it."""

    def __init__(self, ttl: float | None = 3600, refuse: int | None = None) -> None:
        self.ttl, self.refuse = ttl, refuse
        self.logins: list[Any] = []
        self.tokens: list[str] = []
        self.seen: list[httpx.Request] = []
        self.revoked = False
        self._lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            if request.url.path == "/auth/login":
                self.logins.append(json.loads(request.content))
                if self.refuse:
                    return httpx.Response(self.refuse, json={"message": "bad password "
                                                             + PASSWORD})
                if self.logins[-1] != {"user": "svc", "credentials": {"password": PASSWORD},
                                       "remember": True}:
                    return httpx.Response(401, json={"message": "who are you"})
                self.tokens.append(f"sess-{len(self.tokens)}")
                data: dict[str, Any] = {"token": self.tokens[-1]}
                if self.ttl is not None:
                    data["expires_in"] = self.ttl
                return httpx.Response(200, json={"data": data})
            self.seen.append(request)
            sent = request.headers.get("authorization", "").removeprefix("Bearer ") or \
                request.headers.get("cookie", "").rsplit("sid=", 1)[-1]
            if self.revoked or not self.tokens or sent != self.tokens[-1]:
                self.revoked = False
                return httpx.Response(401, json={"message": "log in"})
            return httpx.Response(200, json=[])


def _session(server: LoginServer, **extra: Any) -> RateLimitedClient:
    login = {"url": "/auth/login", "token_path": "data.token",
             "expires_in_path": "data.expires_in",
             "body": {"user": "svc", "credentials.password": PASSWORD, "remember": True}}
    spec = _auth(kind="session", login=login | extra.pop("login", {}), **extra)
    return RateLimitedClient(BASE, {}, 5, auth=auth_for(spec, BASE),
                             transport=httpx.MockTransport(server))


def test_a_session_logs_in_once_and_sends_its_token() -> None:
    server = LoginServer()
    client = _session(server)
    for _ in range(3):
        assert client.request("GET", "/items", "items").status_code == 200
    assert server.tokens == ["sess-0"]
    assert server.seen[-1].headers["authorization"] == "Bearer sess-0"
    cookie = LoginServer()
    client = _session(cookie, cookie="sid")
    client.http.cookies.set("lb", "node-2")  # a cookie of the API's own stays
    client.request("GET", "/items", "items")
    assert cookie.seen[-1].headers["cookie"] == "lb=node-2; sid=sess-0"
    assert "authorization" not in cookie.seen[-1].headers


def test_a_session_logs_in_again_ahead_of_expiry_and_on_a_401() -> None:
    server = LoginServer(ttl=0.02)  # renewed at half its life
    client = _session(server)
    client.request("GET", "/items", "items")
    time.sleep(0.02)
    client.request("GET", "/items", "items")
    assert server.tokens == ["sess-0", "sess-1"]
    server = LoginServer(ttl=None)  # no lifetime said, none declared: until a 401
    client = _session(server)
    client.request("GET", "/items", "items")
    server.revoked = True
    assert client.request("GET", "/items", "items").status_code == 200
    assert server.tokens == ["sess-0", "sess-1"]


def test_threads_share_one_login() -> None:
    server = LoginServer()
    client = _session(server)
    threads = [threading.Thread(target=client.request, args=("GET", "/items", "items"))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert server.tokens == ["sess-0"] and len(server.seen) == 8


@pytest.mark.timeout(20)
def test_a_refused_login_says_so_without_the_password(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client = _session(LoginServer(refuse=403))
    for _ in range(2):  # the client is not left waiting on the refused request's slot
        with pytest.raises(AuthError, match="the login at https://api.example.com/auth/login "
                           "answered 403: check the login's credentials") as err:
            client.request("GET", "/items", "items")
        assert PASSWORD not in str(err.value) and PASSWORD not in caplog.text
    with pytest.raises(AuthUnavailable) as down:
        _session(LoginServer(refuse=503)).request("GET", "/items", "items")
    assert not permanent(down.value)
    spec = _auth(kind="session", login={"url": "/l", "token_path": "t",
                                        "body": {"password": PASSWORD}})
    assert PASSWORD not in repr(spec) and PASSWORD not in str(spec.model_dump())
    server = LoginServer()
    with pytest.raises(AuthError, match="answered no token at 'data.access'"):
        _session(server, login={"token_path": "data.access"}).request("GET", "/items", "items")


# -- jwt: signed here ------------------------------------------------------------------------------

HMAC_KEY = "a-hmac-key-of-at-least-32-bytes!!"


class JwtApi:
    def __init__(self) -> None:
        self.tokens: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.tokens.append(request.headers["authorization"].removeprefix("Bearer "))
        return httpx.Response(200, json=[])


def _jwt(api: JwtApi, **spec: Any) -> tuple[RateLimitedClient, httpx.Auth | None]:
    auth = auth_for(_auth(kind="jwt", claims={"iss": "tributary", "sub": "svc-1",
                                              "aud": "https://api.example.com"}, **spec), BASE)
    return RateLimitedClient(BASE, {}, 5, auth=auth, transport=httpx.MockTransport(api)), auth


def test_a_hs256_jwt_verifies_with_the_secret_and_lasts_ttl() -> None:
    api = JwtApi()
    client, auth = _jwt(api, algorithm="HS256", key=HMAC_KEY, ttl_s=120)
    before = int(time.time())
    client.request("GET", "/items", "items")
    client.request("GET", "/items", "items")
    assert api.tokens[0] == api.tokens[1] and isinstance(auth, TokenAuth) and auth.issued == 1
    claims = jwt.decode(api.tokens[0], HMAC_KEY, algorithms=["HS256"],
                        audience="https://api.example.com", issuer="tributary")
    assert claims["sub"] == "svc-1"
    assert before <= claims["iat"] <= time.time() and claims["exp"] == claims["iat"] + 120
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(api.tokens[0], "another-key-of-at-least-32-bytes!!", algorithms=["HS256"],
                   audience="https://api.example.com")


def test_a_rs256_jwt_verifies_with_the_public_key_and_is_renewed() -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    api = JwtApi()
    client, auth = _jwt(api, algorithm="RS256", key=pem, kid="k-2026", ttl_s=1)
    client.request("GET", "/items", "items")
    assert jwt.get_unverified_header(api.tokens[0]) == {"alg": "RS256", "typ": "JWT",
                                                       "kid": "k-2026"}
    claims = jwt.decode(api.tokens[0], private.public_key(), algorithms=["RS256"],
                        audience="https://api.example.com")
    assert claims["exp"] - claims["iat"] == 1
    time.sleep(0.6)  # past half its life: signed again before the request
    client.request("GET", "/items", "items")
    assert isinstance(auth, TokenAuth) and auth.issued == 2
    one_line = pem.replace("\n", "\\n")  # as an environment variable may hold it
    assert isinstance(auth_for(_auth(kind="jwt", algorithm="RS256", key=one_line), BASE),
                      TokenAuth)


def test_a_bad_jwt_key_or_claim_is_named_without_the_key() -> None:
    with pytest.raises(AuthError, match="the key is not a PEM private key") as err:
        auth_for(_auth(kind="jwt", algorithm="RS256", key=SECRET), BASE)
    assert SECRET not in str(err.value)
    with pytest.raises(ValidationError, match=r"claims \['exp'\] are set when the token is "):
        _auth(kind="jwt", algorithm="HS256", key=SECRET, claims={"exp": 1})


# -- body: a key in the JSON request body ----------------------------------------------------------

def test_a_body_key_goes_into_the_json_body() -> None:
    got: list[httpx.Request] = []

    def api(request: httpx.Request) -> httpx.Response:
        got.append(request)
        return httpx.Response(200, json=[])

    auth = auth_for(_auth(kind="body", field="auth.api_key", secret=SECRET), BASE)
    client = RateLimitedClient(BASE, {}, 5, auth=auth, transport=httpx.MockTransport(api))
    client.request("POST", "/search", "search", json={"query": {"q": "ünï"}, "auth": {"v": 2}})
    sent = got[-1]
    assert json.loads(sent.content) == {"query": {"q": "ünï"},
                                        "auth": {"v": 2, "api_key": SECRET}}
    assert int(sent.headers["content-length"]) == len(sent.content)
    assert sent.headers["content-type"] == "application/json"
    flat = auth_for(_auth(kind="body", secret=SECRET), BASE)
    client = RateLimitedClient(BASE, {}, 5, auth=flat, transport=httpx.MockTransport(api))
    client.http.post("/search", content=b'{"page": 1}')  # JSON, whatever the content type
    assert json.loads(got[-1].content) == {"page": 1, "api_key": SECRET}


def test_a_body_key_refuses_a_request_without_a_json_object() -> None:
    auth = auth_for(_auth(kind="body", field="auth.key", secret=SECRET), BASE)
    client = RateLimitedClient(BASE, {}, 5, auth=auth,
                               transport=httpx.MockTransport(lambda r: httpx.Response(200)))
    with pytest.raises(AuthUnfit, match="GET /items: auth kind body puts the key in the "
                       "request's JSON body, and this request has none") as err:
        client.request("GET", "/items", "items")
    assert permanent(err.value) and SECRET not in str(err.value)
    with pytest.raises(AuthUnfit, match="needs a JSON object body"):
        client.http.post("/search", json=[1, 2])
    with pytest.raises(AuthUnfit, match="the body's auth is not an object"):
        client.http.post("/search", json={"auth": "x"})
    with httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200))) as tokens, \
            pytest.raises(AuthUnfit):
        prepared(auth, "wss://api.example.com/changes", tokens)


def test_sockets_get_sessions_and_jwts() -> None:
    with httpx.Client(transport=httpx.MockTransport(LoginServer())) as tokens:
        session = auth_for(_auth(kind="session", cookie="sid", login={
            "url": "/auth/login", "token_path": "data.token", "ttl_s": 600,
            "body": {"user": "svc", "credentials.password": PASSWORD, "remember": True}}), BASE)
        signed = prepared(session, "wss://api.example.com/changes", tokens)
        assert signed.headers["cookie"] == "sid=sess-0"
        assert prepared(session, "wss://api.example.com/changes", tokens).headers[
            "cookie"] == "sid=sess-0"  # the same session on reconnect
        signed = prepared(auth_for(_auth(kind="jwt", algorithm="HS256", key=HMAC_KEY), BASE),
                          "wss://api.example.com/changes", tokens)
        token = signed.headers["authorization"].removeprefix("Bearer ")
        assert jwt.decode(token, HMAC_KEY, algorithms=["HS256"])["exp"] > time.time()


def test_a_post_stream_s_every_page_carries_the_body_key() -> None:
    seen: list[dict[str, Any]] = []

    def api(request: httpx.Request) -> httpx.Response:
        ask = json.loads(request.content)
        seen.append(ask)
        after = int(ask["variables"].get("after") or 0)
        end = min(after + ask["variables"]["first"], 3)
        return httpx.Response(200, json={"data": {"items": {
            "nodes": [{"id": i} for i in range(after, end)],
            "pageInfo": {"endCursor": str(end), "hasNextPage": end < 3}}}})

    source = Source.model_validate({"name": "shop", "base_url": BASE, "streams": [{
        "name": "items", "endpoint": "/graphql", "method": "POST",
        "body": {"query": "{ items { ... } }"}, "records_path": "data.items.nodes",
        "primary_key": "id", "table": "items", "columns": {"id": {}},
        "pagination": {"style": "cursor", "send_in": "body", "cursor_param": "variables.after",
                       "limit_param": "variables.first", "limit": 2,
                       "next_cursor_path": "data.items.pageInfo.endCursor",
                       "has_more_path": "data.items.pageInfo.hasNextPage"},
        "auth": {"kind": "body", "field": "auth.key", "secret": SECRET}}]})
    client = RateLimitedClient(BASE, {}, 5, transport=httpx.MockTransport(api))
    client.auths["items"] = auth_for(source.streams[0].auth or _auth(kind="none"), BASE)
    stream = DeclaredStream(source, source.streams[0], client)
    pages = list(stream.pages(Partition("shop", "items", "all", "cursor")))
    assert [p.records for p in pages] == [2, 1]
    assert [s["auth"] for s in seen] == [{"key": SECRET}] * 2
    assert [s["variables"] for s in seen] == [{"first": 2}, {"first": 2, "after": "2"}]
