"""A declared ``auth`` as an ``httpx.Auth``: every request of a source's client carries it.

Kinds with a token (OAuth2 client credentials and refresh token, a login session, a JWT
signed here) get one before the first request, renew it ``renew_before_s`` before it
expires, and again when the API answers 401 (revoked or expired early). One token serves
every thread of the client: one renewal at a time, the threads that wait for it take its
token. Tokens are kept in memory only (a rotated OAuth2 refresh token also in Secrets
Manager, see ``RefreshToken``): never logged, never in the raw zone, never in an error.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from collections.abc import AsyncGenerator, Generator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus

import httpx
from pydantic import SecretStr

from tributary.extract.http import ApiError
from tributary.extract.mutex import Mutex, MutexTimeout
from tributary.log import get_logger
from tributary.sources.auth import (
    Auth,
    BasicAuth,
    BearerAuth,
    BodyAuth,
    CookieAuth,
    HeaderAuth,
    JwtAuth,
    NoAuth,
    OAuth2ClientCredentials,
    OAuth2RefreshToken,
    QueryAuth,
    SessionAuth,
)
from tributary.sources.paths import dig

log = get_logger("extract.auth")

Flow = Generator[httpx.Request, httpx.Response, None]


class AuthError(ApiError):
    """The credentials were refused; the message never holds a secret."""

    def __init__(self, message: str) -> None:
        super().__init__(401, "AUTH", message)


class AuthUnavailable(ApiError):
    """A token or login endpoint, or the refresh token's store, failed for now (5xx, 429, a
    throttled or unreachable Secrets Manager): a later try may pass."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(status, "AUTH_UNAVAILABLE", message)


class AuthUnfit(ApiError):
    """The declared auth cannot go on this request (a body key on a request without a JSON
    object body): a mistake of the declaration, not of the credentials."""

    def __init__(self, message: str) -> None:
        super().__init__(400, "AUTH_UNFIT", message)


class Headers(httpx.Auth):
    """Fixed headers on every request (API key header, bearer token, cookie)."""

    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = headers

    def auth_flow(self, request: httpx.Request) -> Flow:
        request.headers.update(self.headers)
        yield request


class QueryKey(httpx.Auth):
    def __init__(self, param: str, secret: str) -> None:
        self.param, self.secret = param, secret

    def auth_flow(self, request: httpx.Request) -> Flow:
        request.url = request.url.copy_merge_params({self.param: self.secret})
        yield request


class BodyKey(httpx.Auth):
    """An API key in the request's JSON object body, at a dotted path: the body is parsed,
    the field set, and the request sent again with the new body and its Content-Length."""

    def __init__(self, field: str, secret: str) -> None:
        self.path, self.secret = field.split("."), secret

    def auth_flow(self, request: httpx.Request) -> Flow:
        yield self.keyed(request)

    def keyed(self, request: httpx.Request) -> httpx.Request:
        where = f"{request.method} {request.url.path}"
        content = request.read()
        if not content.strip():
            raise AuthUnfit(f"{where}: auth kind body puts the key in the request's JSON body, "
                            "and this request has none (it suits endpoints that take a JSON "
                            "object, as POST does)")
        try:
            doc = json.loads(content)
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            raise AuthUnfit(f"{where}: auth kind body needs a JSON object body; this request's "
                            "body is not one")
        node = doc
        for i, part in enumerate(self.path[:-1]):
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise AuthUnfit(f"{where}: the body's {'.'.join(self.path[:i + 1])} is not an "
                                "object, so the key cannot go under it")
        node[self.path[-1]] = self.secret
        # As httpx writes json=: compact, UTF-8.
        body = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
        headers = request.headers.copy()
        headers.pop("Transfer-Encoding", None)
        headers["Content-Length"] = str(len(body))
        headers.setdefault("Content-Type", "application/json")
        return httpx.Request(request.method, request.url, headers=headers, content=body,
                             extensions=request.extensions)


class TokenAuth(httpx.Auth):
    """A token kept in memory and shared by every thread of the client: got before the first
    request, renewed ahead of expiry, and again when the API answers 401 (``retries`` times:
    a token revoked may be followed by one revoked as it was handed out; one more 401 is the
    answer). Subclasses say how a token is got (``_fetch``, which may
    yield requests to a token or login endpoint) and how a request carries it (``_apply``)."""

    requires_response_body = True
    retries = 2
    renew_before_s = 60.0
    share_renewals = True  # after a 401, take a token another thread just got

    def __init__(self) -> None:
        self._lock = threading.Lock()  # the token and its renewal time
        # One renewal at a time (held across the token request: the other threads wait for
        # it and take its token). A rotated refresh token must never be spent twice.
        self._renewing = threading.Lock()
        self._token: str | None = None
        self._renew_at = 0.0
        self.issued = 0  # tokens got, for tests and stats

    def auth_flow(self, request: httpx.Request) -> Flow:
        token = self._current()
        if token is None:
            token = yield from self._renewed(None)
        self._apply(request, token)
        response = yield request
        for _ in range(self.retries):
            if response.status_code != 401:
                return
            token = yield from self._renewed(token)  # revoked or expired early
            self._apply(request, token)
            response = yield request

    async def async_auth_flow(
            self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """Not for async clients: a renewal holds a thread lock across its request."""
        raise NotImplementedError("token auths serve sync httpx clients only")
        yield request  # an async generator, as httpx wants

    def _current(self) -> str | None:
        with self._lock:
            if self._token and time.monotonic() < self._renew_at:
                return self._token
            return None

    def _renewed(self, stale: str | None) -> Generator[httpx.Request, httpx.Response, str]:
        """A fresh token, unless another thread got one while this one waited: before the
        first request always, after a 401 (``stale``: the token refused) only where renewals
        must be shared (a rotating refresh token). Otherwise a refused request gets a token
        of its own, so one revocation does not fail every thread's retry at once."""
        with self._renewing:
            token = self._current()
            if token is not None and token != stale and (stale is None or self.share_renewals):
                return token
            # Its life counts from before the request: the token was issued after that, and a
            # slow answer or a slow keep of a rotated refresh token must not make it older.
            asked = time.monotonic()
            token, lifetime = yield from self._fetch()
            with self._lock:
                self._token = token
                # Renewed ahead of expiry: renew_before_s, or half its life for a short one.
                self._renew_at = float("inf") if lifetime is None else (
                    asked + lifetime - min(self.renew_before_s, lifetime / 2))
                self.issued += 1
            return token

    def _fetch(self) -> Generator[httpx.Request, httpx.Response, tuple[str, float | None]]:
        """A new token and its lifetime in seconds (``None``: until a 401)."""
        raise NotImplementedError

    def _apply(self, request: httpx.Request, token: str) -> None:
        request.headers["Authorization"] = f"Bearer {token}"


def _lifetime(value: Any, default: float | None) -> float | None:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return default
    return seconds if seconds > 0 else default


def _unavailable(status: int) -> bool:
    return status >= 500 or status == 429


class OAuth2Token(TokenAuth):
    """What the OAuth2 grants share: the token request's client authentication and reading
    the token endpoint's answer (RFC 6749 5.1, 5.2)."""

    def __init__(self, token_url: str, base_url: str, client_id: str, secret: str | None,
                 client_auth: str, scope: str | None) -> None:
        super().__init__()
        self.token_url = str(httpx.URL(base_url).join(token_url))
        self.client_id, self._secret = client_id, secret
        self.client_auth, self.scope = client_auth, scope

    def _token_request(self, form: dict[str, str]) -> httpx.Request:
        """The client authenticates with HTTP basic (RFC 6749 2.3.1, which every server must
        accept) or, if declared, in the form; a public client (no secret) names itself in the
        form (3.2.1)."""
        form = form | ({"scope": self.scope} if self.scope else {})
        headers = {"Accept": "application/json"}
        if self._secret is None:
            form |= {"client_id": self.client_id}
        elif self.client_auth == "post":
            form |= {"client_id": self.client_id, "client_secret": self._secret}
        else:
            pair = f"{quote_plus(self.client_id)}:{quote_plus(self._secret)}".encode()
            headers["Authorization"] = f"Basic {base64.b64encode(pair).decode()}"
        return httpx.Request("POST", self.token_url, data=form, headers=headers)

    def _granted(self, response: httpx.Response, refused: str) -> tuple[dict[str, Any], str]:
        """The token endpoint's answer and its access token; an error says the status and
        the OAuth error code (never the answer's text, which may echo what was sent)."""
        if response.status_code != 200:
            code = _oauth_error(response)
            status = f"{response.status_code}{' ' + code if code else ''}"
            if _unavailable(response.status_code):
                raise AuthUnavailable(response.status_code, f"the token endpoint "
                                      f"{self.token_url} answered {status}; it is tried again "
                                      "on the next request")
            raise AuthError(f"the token endpoint {self.token_url} answered {status}: {refused}")
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise AuthError(f"the token endpoint {self.token_url} answered no JSON object")
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise AuthError(f"the token endpoint {self.token_url} sent no access_token")
        return body, token


def _oauth_error(response: httpx.Response) -> str:
    """RFC 6749 5.2's ``error`` code (``invalid_grant``), if the answer has a plain one."""
    try:
        code = response.json().get("error")
    except (ValueError, AttributeError):
        return ""
    return code if isinstance(code, str) and re.fullmatch(r"[a-z_]{1,40}", code) else ""


class ClientCredentials(OAuth2Token):
    """OAuth 2.0 client credentials (RFC 6749 4.4)."""

    retries = 2
    share_renewals = False  # a new token costs nothing to spend: each refused request gets one

    def __init__(self, spec: OAuth2ClientCredentials, base_url: str) -> None:
        super().__init__(spec.token_url, base_url, spec.client_id,
                         spec.secret.get_secret_value(), spec.client_auth, spec.scope)
        self.spec = spec
        self.renew_before_s = spec.renew_before_s

    def _fetch(self) -> Generator[httpx.Request, httpx.Response, tuple[str, float | None]]:
        response = yield self._token_request({"grant_type": "client_credentials"})
        body, token = self._granted(response, "check the client id and secret")
        return token, _lifetime(body.get("expires_in"), 3600.0)


class RefreshToken(OAuth2Token):
    """OAuth 2.0 refresh token grant (RFC 6749 6), the refresh token kept in Secrets Manager.

    The current refresh token is read from the secret ``store`` before each refresh (the
    declared one while there is none, or when the declared one changed since the store's was
    got from it); another process that rotated it meanwhile is thus followed, and a refusal
    (``invalid_grant``) reads the store once more in case it rotated between the read and
    the refresh. Every refresh goes one at a time: the client's threads take turns
    (``TokenAuth._renewing``), and processes too (a ``Mutex`` in the checkpoints table).
    """

    def __init__(self, spec: OAuth2RefreshToken, base_url: str, store: str) -> None:
        super().__init__(spec.token_url, base_url, spec.client_id,
                         spec.secret.get_secret_value() if spec.secret else None,
                         spec.client_auth, spec.scope)
        self.spec, self.store = spec, store
        self.renew_before_s = spec.renew_before_s
        self._declared = spec.refresh_token.get_secret_value()
        # The store remembers which declared token its own descends from (a digest of it),
        # so a token declared anew (after authorizing again) is not shadowed by the store's.
        self._lineage = hashlib.sha256(self._declared.encode()).hexdigest()
        # A rotated token not yet kept in the store (its write failed): the newest there is,
        # used for the next refresh, and kept then.
        self._unsaved: str | None = None
        self._secrets: Any = None
        self._lock_item: Mutex | None = None

    def _fetch(self) -> Generator[httpx.Request, httpx.Response, tuple[str, float | None]]:
        # One refresh at a time across processes too: two function invocations reading the
        # same stored token would both spend it, and the second would be refused (some
        # servers then revoke every token descended from it).
        try:
            with self._mutex().held(wait_s=90.0):
                return (yield from self._spend())
        except MutexTimeout as exc:
            raise AuthUnavailable(503, f"the refresh token {self.store} is being refreshed by "
                                  f"another process ({exc}); tried again on the next request"
                                  ) from None

    def _mutex(self) -> Mutex:
        if self._lock_item is None:
            from tributary.clients import aws_resource
            from tributary.settings import get_settings

            table = aws_resource("dynamodb").Table(get_settings().checkpoints_table)
            # A refresh takes well under a second; a holder killed mid-refresh holds the
            # others up for hold_s. One that outlives it (a token endpoint slower than that)
            # loses nothing: the next refresh is refused, reads the store again and follows.
            self._lock_item = Mutex(table, f"refresh_token#{self.store}", hold_s=10.0)
        return self._lock_item

    def _spend(self) -> Generator[httpx.Request, httpx.Response, tuple[str, float | None]]:
        refresh = self._unsaved or self._stored() or self._declared
        response = yield self._refresh_request(refresh)
        if self._unsaved is None and _oauth_error(response) == "invalid_grant":
            again = self._stored()  # another process may have rotated it meanwhile
            if again is not None and again != refresh:
                refresh = again
                response = yield self._refresh_request(refresh)
        body, token = self._granted(
            response, "the refresh token was refused (revoked, expired or already used); "
            "authorize again and declare the new refresh token (it replaces the one kept in "
            f"Secrets Manager as {self.store})" if _oauth_error(response) == "invalid_grant"
            else "check the client id and secret")
        rotated = body.get("refresh_token")
        if isinstance(rotated, str) and rotated and rotated != refresh:
            # The order matters. The token endpoint has already retired `refresh`: `rotated`
            # is now the only refresh token that works, and it exists only in this process's
            # memory. It is written to Secrets Manager BEFORE the access token that came with
            # it is used: a process that dies after the write leaves the store holding the
            # valid token (the next process reads it), and one that dies before has made no
            # call with the new grant, so nothing depends on it. If the write fails, the
            # access token is not used and this raises; `rotated` stays in memory
            # (`_unsaved`), so the next request refreshes with it and tries the write again.
            self._unsaved = rotated
            self._keep(rotated)
            self._unsaved = None
        return token, _lifetime(body.get("expires_in"), 3600.0)

    def _refresh_request(self, refresh: str) -> httpx.Request:
        return self._token_request({"grant_type": "refresh_token", "refresh_token": refresh})

    def _client(self) -> Any:
        if self._secrets is None:
            from tributary.clients import aws_client

            self._secrets = aws_client("secretsmanager")
        return self._secrets

    def _store_failed(self, exc: Exception, doing: str) -> ApiError:
        """An error naming the secret and the AWS error code, never the value."""
        code = getattr(exc, "response", {}).get("Error", {}).get("Code") or type(exc).__name__
        message = f"could not {doing} in Secrets Manager as {self.store} ({code})"
        if code in ("AccessDeniedException", "AccessDenied", "InvalidRequestException",
                    "ValidationException", "DecryptionFailure"):
            return AuthError(message + ": the function needs secretsmanager:GetSecretValue, "
                             "PutSecretValue and CreateSecret on it, and it must not be "
                             "scheduled for deletion")
        return AuthUnavailable(503, message)

    def _stored(self) -> str | None:
        """The store's refresh token, if it holds one descended from the declared one."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            value = str(self._client().get_secret_value(SecretId=self.store)["SecretString"])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return None
            raise self._store_failed(exc, "read the refresh token") from None
        except BotoCoreError as exc:
            raise self._store_failed(exc, "read the refresh token") from None
        try:
            doc = json.loads(value)
        except ValueError:
            return value.strip() or None  # a bare token, put there by hand
        if not isinstance(doc, dict) or not isinstance(doc.get("refresh_token"), str):
            return value.strip() or None
        if doc.get("declared_sha256") not in (None, self._lineage):
            log.info("a new refresh token is declared: it replaces the one kept in Secrets "
                     "Manager", extra={"secret": self.store})
            return None
        return str(doc["refresh_token"]) or None

    def _keep(self, refresh: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        value = json.dumps({"refresh_token": refresh, "declared_sha256": self._lineage,
                            "rotated_at": datetime.now(UTC).isoformat(timespec="seconds")})
        client = self._client()
        try:
            try:
                client.put_secret_value(SecretId=self.store, SecretString=value)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                    raise
                try:
                    client.create_secret(
                        Name=self.store, SecretString=value,
                        Description="Tributary: the current OAuth2 refresh token of a source "
                        "(rotated by its token endpoint)")
                except ClientError as again:
                    if again.response.get("Error", {}).get("Code") != \
                            "ResourceExistsException":
                        raise
                    client.put_secret_value(SecretId=self.store, SecretString=value)
        except (ClientError, BotoCoreError) as exc:
            raise self._store_failed(exc, "keep the rotated refresh token") from None
        log.info("refresh token rotated; kept in Secrets Manager", extra={"secret": self.store})


class Session(TokenAuth):
    """A token from a login request (a JSON body), sent in a header or a cookie."""

    def __init__(self, spec: SessionAuth, base_url: str) -> None:
        super().__init__()
        self.spec = spec
        self.url = str(httpx.URL(base_url).join(spec.login.url))
        self.renew_before_s = spec.renew_before_s

    def _login_request(self) -> httpx.Request:
        body: dict[str, Any] = {}
        for key, value in self.spec.login.body.items():
            *parents, name = key.split(".")
            node = body
            for part in parents:
                node = node.setdefault(part, {})
            node[name] = value.get_secret_value() if isinstance(value, SecretStr) else value
        return httpx.Request(self.spec.login.method, self.url, json=body,
                             headers={"Accept": "application/json"})

    def _fetch(self) -> Generator[httpx.Request, httpx.Response, tuple[str, float | None]]:
        response = yield self._login_request()
        status = response.status_code
        if _unavailable(status):
            raise AuthUnavailable(status, f"the login at {self.url} answered {status}; it is "
                                  "tried again on the next request")
        if not 200 <= status < 300:
            raise AuthError(f"the login at {self.url} answered {status}: check the login's "
                            "credentials")
        try:
            doc = response.json()
        except ValueError:
            doc = None
        login = self.spec.login
        token = dig(doc, login.token_path) if isinstance(doc, dict) else None
        if isinstance(token, int | float) and not isinstance(token, bool):
            token = str(token)
        if not isinstance(token, str) or not token:
            raise AuthError(f"the login at {self.url} answered no token at "
                            f"{login.token_path!r}")
        lifetime = _lifetime(dig(doc, login.expires_in_path), login.ttl_s) \
            if login.expires_in_path else login.ttl_s
        return token, lifetime

    def _apply(self, request: httpx.Request, token: str) -> None:
        if self.spec.cookie is None:
            request.headers[self.spec.sent_header] = f"{self.spec.sent_prefix}{token}"
            return
        # The session's cookie replaces one of its name; others the request has stay.
        others = [c.strip() for c in request.headers.get("Cookie", "").split(";")
                  if c.strip() and c.strip().split("=", 1)[0] != self.spec.cookie]
        request.headers["Cookie"] = "; ".join([*others, f"{self.spec.cookie}={token}"])


class JwtBearer(TokenAuth):
    """A JWT signed here with PyJWT: the declared claims, ``iat`` and ``exp``."""

    def __init__(self, spec: JwtAuth) -> None:
        super().__init__()
        self.spec = spec
        self.renew_before_s = spec.renew_before_s
        key = spec.key.get_secret_value()
        if spec.algorithm == "RS256":
            from cryptography.hazmat.primitives.serialization import load_pem_private_key

            if "\\n" in key and "\n" not in key.strip():
                key = key.replace("\\n", "\n")  # a PEM kept on one line in the environment
            try:
                self._key: Any = load_pem_private_key(key.encode(), password=None)
            except (ValueError, TypeError):
                raise AuthError("auth kind jwt: the key is not a PEM private key without a "
                                "passphrase (RS256 signs with one)") from None
        else:
            self._key = key.encode()

    def _fetch(self) -> Generator[httpx.Request, httpx.Response, tuple[str, float | None]]:
        import jwt

        yield from ()  # signed here: no request
        now = int(time.time())
        token = jwt.encode(dict(self.spec.claims) | {"iat": now, "exp": now + self.spec.ttl_s},
                           self._key, algorithm=self.spec.algorithm,
                           headers={"kid": self.spec.kid} if self.spec.kid else None)
        return token, float(self.spec.ttl_s)


def auth_for(spec: Auth, base_url: str, owner: str | None = None) -> httpx.Auth | None:
    """The ``httpx.Auth`` a declared ``auth`` stands for (``None`` for none). ``owner`` names
    whose it is, ``<source>`` or ``<source>/<stream>``: an OAuth2 refresh token is kept as
    ``tributary/<owner>/refresh_token`` unless its declaration names a ``store``."""
    if isinstance(spec, NoAuth):
        return None
    if isinstance(spec, HeaderAuth):
        return Headers({spec.header: spec.secret.get_secret_value()})
    if isinstance(spec, BearerAuth):
        return Headers({"Authorization": f"Bearer {spec.secret.get_secret_value()}"})
    if isinstance(spec, CookieAuth):
        return Headers({"Cookie": f"{spec.cookie}={spec.secret.get_secret_value()}"})
    if isinstance(spec, QueryAuth):
        return QueryKey(spec.param, spec.secret.get_secret_value())
    if isinstance(spec, BasicAuth):
        return httpx.BasicAuth(spec.username, spec.secret.get_secret_value())
    if isinstance(spec, BodyAuth):
        return BodyKey(spec.field, spec.secret.get_secret_value())
    if isinstance(spec, OAuth2ClientCredentials):
        return ClientCredentials(spec, base_url)
    if isinstance(spec, OAuth2RefreshToken):
        store = spec.store or (f"tributary/{owner}/refresh_token" if owner else None)
        if store is None:
            raise ValueError("an oauth2_refresh_token auth needs its store: declare `store`, "
                             "or give auth_for its owner")
        return RefreshToken(spec, base_url, store)
    if isinstance(spec, SessionAuth):
        return Session(spec, base_url)
    return JwtBearer(spec)


def prepared(auth: httpx.Auth | None, url: str, client: httpx.Client) -> httpx.Request:
    """A GET of ``url`` as ``auth`` would send it (a token got through ``client`` first if
    one is needed: a token request or a login), for clients that are not httpx: the live
    sources' WebSocket. A body key has no body to go in (live sources refuse it)."""
    request = httpx.Request("GET", url)
    if auth is None:
        return request
    flow = auth.sync_auth_flow(request)
    try:
        step = next(flow)
        while step is not request:  # a token request or a login first
            response = client.send(step)
            response.read()
            step = flow.send(response)
    finally:
        flow.close()  # a renewal under way lets go of the client's renewal lock
    return request
