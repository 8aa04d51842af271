"""OAuth2 refresh token grant with rotation: the current refresh token kept in Secrets
Manager (moto, in process) before its access token is used, and taken up by the next
process; against a token endpoint that rotates (httpx.MockTransport)."""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from pydantic import TypeAdapter

from tests.conftest import checkpoints_table
from tributary.clients import aws_client, aws_resource
from tributary.extract.auth import AuthError, AuthUnavailable, RefreshToken, auth_for, prepared
from tributary.extract.http import ApiError, RateLimitedClient, permanent
from tributary.extract.stream import client_for
from tributary.settings import get_settings
from tributary.sources.auth import Auth
from tributary.sources.loader import parse

BASE = "https://api.example.com"
CLIENT_SECRET = "client-s3cr3t"
STORE = "tributary/shop/refresh_token"


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Secrets Manager, in process; ``aws_client`` made anew inside the mock."""
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    aws_client.cache_clear()
    with mock_aws():
        # The checkpoints table: refreshes take turns across processes under a lease in it.
        checkpoints_table(aws_resource("dynamodb"), get_settings().checkpoints_table)
        yield aws_client("secretsmanager")
    aws_client.cache_clear()


def _stored(secrets: Any, name: str = STORE) -> str | None:
    try:
        value = secrets.get_secret_value(SecretId=name)["SecretString"]
    except ClientError:
        return None
    return str(json.loads(value)["refresh_token"])


class RotatingServer:
    """A token endpoint that rotates the refresh token on every refresh (the one used stops
    working), and an API that wants the latest access token. The API notes what the store
    held when each access token was first used."""

    def __init__(self, secrets: Any, first: str = "rt-0", ttl: float = 3600) -> None:
        self.secrets, self.current, self.ttl = secrets, first, ttl
        self.refreshes: list[dict[str, list[str]]] = []
        self.basic: list[str | None] = []
        self.access: list[str] = []
        self.store_at_first_use: dict[str, str | None] = {}
        self.api_calls = 0
        self.refuse_all = False  # the API refuses every token (revoked grants)
        self.before_refresh: Any = None  # a hook, run once, as a refresh arrives
        self.refresh_s = 0.0  # how long a refresh takes (for refreshes that overlap)
        self._lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            if self.before_refresh is not None:
                hook, self.before_refresh = self.before_refresh, None
                hook()
            time.sleep(self.refresh_s)
            return self._refresh(request)
        with self._lock:
            self.api_calls += 1
            token = request.headers.get("authorization", "").removeprefix("Bearer ")
            if self.refuse_all or not self.access or token != self.access[-1]:
                return httpx.Response(401, json={"message": "token expired"})
            if token not in self.store_at_first_use:
                self.store_at_first_use[token] = _stored(self.secrets)
        return httpx.Response(200, json=[])

    def _refresh(self, request: httpx.Request) -> httpx.Response:
        form = parse_qs(request.content.decode())
        with self._lock:
            self.refreshes.append(form)
            self.basic.append(request.headers.get("authorization"))
            if form.get("grant_type") != ["refresh_token"] or \
                    form.get("refresh_token") != [self.current]:
                return httpx.Response(400, json={
                    "error": "invalid_grant",
                    "error_description": f"refresh token {form.get('refresh_token')} unknown"})
            n = len(self.access)
            self.access.append(f"at-{n}")
            self.current = f"rt-{n + 1}"
            return httpx.Response(200, json={
                "access_token": self.access[-1], "token_type": "bearer",
                "expires_in": self.ttl, "refresh_token": self.current})


def _spec(**extra: Any) -> Auth:
    fields = {"kind": "oauth2_refresh_token", "token_url": "/oauth/token",
              "client_id": "client-1", "secret": CLIENT_SECRET, "refresh_token": "rt-0",
              "scope": "read"} | extra
    return TypeAdapter(Auth).validate_python(fields)


def _client(server: RotatingServer, **extra: Any) -> RateLimitedClient:
    return RateLimitedClient(BASE, {}, 5, auth=auth_for(_spec(**extra), BASE, owner="shop"),
                             transport=httpx.MockTransport(server))


def test_a_rotated_token_is_kept_before_its_access_token_is_used(secrets: Any) -> None:
    server = RotatingServer(secrets)
    client = _client(server)
    for _ in range(3):
        assert client.request("GET", "/items", "items").status_code == 200
    assert server.access == ["at-0"]  # one refresh, its token reused
    assert server.refreshes[0]["refresh_token"] == ["rt-0"]  # the declared one: none stored
    assert server.refreshes[0]["scope"] == ["read"]
    assert server.basic[0] == "Basic " + base64.b64encode(
        f"client-1:{CLIENT_SECRET}".encode()).decode()
    # When the API first saw at-0, the store already held the token that came with it.
    assert server.store_at_first_use == {"at-0": "rt-1"}
    kept = json.loads(secrets.get_secret_value(SecretId=STORE)["SecretString"])
    assert kept["refresh_token"] == "rt-1" and "declared_sha256" in kept


def test_a_restarted_process_refreshes_with_the_stored_token(secrets: Any) -> None:
    server = RotatingServer(secrets)
    _client(server).request("GET", "/items", "items")  # rt-0 -> rt-1, then the process dies
    # The YAML still says rt-0, which the server no longer takes.
    again = _client(server)
    assert again.request("GET", "/items", "items").status_code == 200
    assert [f["refresh_token"] for f in server.refreshes] == [["rt-0"], ["rt-1"]]
    assert _stored(secrets) == "rt-2" and server.store_at_first_use["at-1"] == "rt-2"
    # Authorized again: a new declared token replaces the store's (whose lineage it is not).
    server.current = "rt-fresh"
    fresh = _client(server, refresh_token="rt-fresh")
    assert fresh.request("GET", "/items", "items").status_code == 200
    assert server.refreshes[-1]["refresh_token"] == ["rt-fresh"]
    assert _stored(secrets) == server.current


def test_a_refused_refresh_token_is_a_clear_error_without_secrets(
        secrets: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    server = RotatingServer(secrets, first="rt-other")
    client = _client(server)
    with pytest.raises(AuthError, match=r"the token endpoint https://api.example.com/oauth/"
                       r"token answered 400 invalid_grant: the refresh token was refused") as err:
        client.request("GET", "/items", "items")
    assert permanent(err.value) and server.api_calls == 0
    for secret in ("rt-0", CLIENT_SECRET):
        assert secret not in str(err.value) and secret not in caplog.text
    assert "rt-0" not in repr(_spec()) and CLIENT_SECRET not in str(_spec().model_dump())


def test_a_failed_write_withholds_the_access_token_and_is_tried_again(secrets: Any) -> None:
    server = RotatingServer(secrets)
    auth = auth_for(_spec(), BASE, owner="shop")
    assert isinstance(auth, RefreshToken)
    client = RateLimitedClient(BASE, {}, 5, auth=auth, transport=httpx.MockTransport(server))

    class Throttled:
        def __getattr__(self, name: str) -> Any:
            if name in ("put_secret_value", "create_secret"):
                def refuse(**_: Any) -> None:
                    raise ClientError({"Error": {"Code": "ThrottlingException"}}, name)
                return refuse
            return getattr(secrets, name)

    auth._secrets = Throttled()
    with pytest.raises(AuthUnavailable, match=f"could not keep the rotated refresh token in "
                       f"Secrets Manager as {STORE} \\(ThrottlingException\\)") as err:
        client.request("GET", "/items", "items")
    assert not permanent(err.value)
    assert server.api_calls == 0 and _stored(secrets) is None  # at-0 never used
    auth._secrets = secrets
    assert client.request("GET", "/items", "items").status_code == 200
    # The next refresh spent rt-1, the rotated token that only memory held, and kept rt-2.
    assert server.refreshes[-1]["refresh_token"] == ["rt-1"] and _stored(secrets) == "rt-2"


def test_threads_share_one_refresh(secrets: Any) -> None:
    server = RotatingServer(secrets)
    client = _client(server)
    codes: list[int] = []
    threads = [threading.Thread(target=lambda: codes.append(
        client.request("GET", "/items", "items").status_code)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes == [200] * 8 and len(server.refreshes) == 1


def test_processes_take_turns_and_never_spend_a_retired_token(secrets: Any) -> None:
    """Two processes (two clients, each its own token) whose refreshes would overlap: the
    second waits for the first's lease, then reads the token the first kept."""
    server = RotatingServer(secrets)
    server.refresh_s = 0.3
    clients = [_client(server), _client(server)]
    codes: list[int] = []
    threads = [threading.Thread(target=lambda c=c: codes.append(
        c.request("GET", "/items", "items").status_code)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes == [200, 200]
    # Each refresh spent the newest token (none refused); a 401 of the API for an access
    # token the other's refresh superseded may add one more, never a retired token.
    sent = [f["refresh_token"] for f in server.refreshes]
    assert len(sent) >= 2 and sent == [[f"rt-{i}"] for i in range(len(sent))]
    assert _stored(secrets) == server.current
    # The lease is given up: nothing of it is left in the checkpoints table.
    table = aws_resource("dynamodb").Table(get_settings().checkpoints_table)
    assert table.scan()["Items"] == []


def test_a_rotation_outside_the_lease_meanwhile_is_followed(secrets: Any) -> None:
    server = RotatingServer(secrets)

    def rotated_by_hand() -> None:
        # Between this process's read of the store (empty: rt-0) and its refresh, rt-0 is
        # spent elsewhere (a process whose lease lapsed, or by hand) and its successor stored.
        server.current = "rt-by-hand"
        secrets.create_secret(Name=STORE,
                              SecretString=json.dumps({"refresh_token": "rt-by-hand"}))

    server.before_refresh = rotated_by_hand
    mine = _client(server)
    assert mine.request("GET", "/items", "items").status_code == 200
    assert [f["refresh_token"] for f in server.refreshes] == [["rt-0"], ["rt-by-hand"]]
    assert _stored(secrets) == "rt-1"


def test_a_401_refreshes_twice_more_at_most(secrets: Any) -> None:
    server = RotatingServer(secrets)
    client = _client(server)
    client.request("GET", "/items", "items")
    server.access.append("at-revoked")  # the API wants a token it never handed out: at-0 is 401
    assert client.request("GET", "/items", "items").status_code == 200  # after a refresh
    assert len(server.refreshes) == 2 and _stored(secrets) == server.current
    server.refuse_all = True
    with pytest.raises(ApiError, match="HTTP 401"):  # two refreshes more, then the answer
        client.request("GET", "/items", "items")
    assert len(server.refreshes) == 4


def test_a_public_client_names_itself_and_a_declared_store_is_used(secrets: Any) -> None:
    server = RotatingServer(secrets)
    client = _client(server, secret=None, store="tributary/crm/rt")
    client.request("GET", "/items", "items")
    assert server.basic == [None] and server.refreshes[0]["client_id"] == ["client-1"]
    assert _stored(secrets, "tributary/crm/rt") == "rt-1" and _stored(secrets) is None
    with pytest.raises(ValueError, match="needs its store"):
        auth_for(_spec(), BASE)


def test_a_socket_gets_a_refreshed_token(secrets: Any) -> None:
    server = RotatingServer(secrets)
    with httpx.Client(transport=httpx.MockTransport(server)) as tokens:
        signed = prepared(auth_for(_spec(), BASE, owner="shop"), "wss://api.example.com/c",
                          tokens)
    assert signed.headers["authorization"] == "Bearer at-0" and _stored(secrets) == "rt-1"


SOURCE = """
name: shop
base_url: https://api.example.com
auth: {kind: oauth2_refresh_token, token_url: /oauth/token, client_id: c,
       refresh_token: "${SHOP_RT}"}
streams:
  - {name: a, endpoint: /a, records_path: "", primary_key: id, pagination: {style: single},
     table: shop_a, columns: {id: {}},
     auth: {kind: oauth2_refresh_token, token_url: /oauth/token, client_id: c,
            refresh_token: "${SHOP_RT}"}}
  - {name: b, endpoint: /b, records_path: "", primary_key: id, pagination: {style: single},
     table: shop_b, columns: {id: {}},
     auth: {kind: oauth2_refresh_token, token_url: /oauth/token, client_id: c,
            refresh_token: "${SHOP_RT_B}"}}
"""


def test_a_source_and_its_streams_share_one_refresh_token(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOP_RT", "rt-0")
    monkeypatch.setenv("SHOP_RT_B", "rt-b")
    client = client_for(parse(SOURCE, "shop.yaml"))
    source, a, b = client.http.auth, client.auths["a"], client.auths["b"]
    assert isinstance(source, RefreshToken) and isinstance(b, RefreshToken)
    assert a is source and source.store == STORE and b.store == "tributary/shop/b/refresh_token"
    assert get_settings().region  # the store's region is the stack's
