"""Source declarations: the shipped ones load; bad ones fail naming the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from tributary.sources.loader import DeclarationError, load_dir, parse, parse_any

ROOT = Path(__file__).resolve().parents[3]
GOOD = """
name: books
base_url: http://127.0.0.1:9
streams:
  - name: books
    endpoint: /v2/books
    records_path: results
    primary_key: isbn
    pagination: {style: offset, limit: 50}
    table: books
    columns:
      isbn: {required: true}
      title: {}
"""


def _error(text: str) -> str:
    with pytest.raises(DeclarationError) as err:
        parse(text, "sources/books.yaml")
    return str(err.value)


def test_the_shipped_declarations_load() -> None:
    sources = load_dir(ROOT / "sources")
    assert sorted(sources) == ["bazaar", "datasync", "hallow", "snapshots"]
    styles = {(src, s.name): s.pagination.style for src, v in sources.items() for s in v.streams}
    assert styles[("hallow", "users")] == "offset"
    assert styles[("hallow", "content")] == "single"
    assert styles[("snapshots", "prices")] == "snapshot"


def test_a_good_declaration_parses_with_defaults() -> None:
    src = parse(GOOD, "sources/books.yaml")
    stream = src.stream("books")
    assert stream.pagination.style == "offset" and src.interval(stream) == 300.0
    assert stream.columns["isbn"].required and stream.columns["title"].type == "text"


@pytest.mark.parametrize(("change", "message"), [
    (("limit: 50", "limit: 0"),
     "sources/books.yaml: streams[books].pagination.limit: Input should be greater than 0"),
    (("style: offset", "style: scroll"),
     "streams[books].pagination: Input tag 'scroll' found using 'style' does not match"),
    (("primary_key: isbn", "primary_key: id"),
     "streams[books]: Value error, primary_key 'id' is not among the columns"),
    (("base_url: http://127.0.0.1:9", "base_url: ftp://x"),
     "base_url: String should match pattern"),
    (("    table: books\n", ""), "streams[books].table: Field required"),
    (("title: {}", "title: {type: money}"),
     "streams[books].columns.title.type: Input should be 'text', 'bigint'"),
    (("title: {}", "title: {colour: red}"),
     "streams[books].columns.title.colour: Extra inputs are not permitted"),
])
def test_a_bad_declaration_names_the_field(change: tuple[str, str], message: str) -> None:
    assert message in _error(GOOD.replace(*change))


def test_unset_environment_variable_without_default_is_named(monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    monkeypatch.delenv("BOOKS_URL", raising=False)
    assert "environment variable BOOKS_URL is not set" in _error(
        GOOD.replace("http://127.0.0.1:9", "${BOOKS_URL}"))
    monkeypatch.setenv("BOOKS_URL", "http://books.example")
    assert parse(GOOD.replace("http://127.0.0.1:9", "${BOOKS_URL}"), "x").base_url == \
        "http://books.example"


def test_not_yaml_and_not_a_mapping_are_clear() -> None:
    assert "not valid YAML" in _error("name: [unclosed")
    assert "a declaration is a mapping" in _error("- just\n- a list\n")


def test_a_folder_rejects_a_misnamed_file_and_a_table_written_twice(tmp_path: Path) -> None:
    (tmp_path / "novels.yaml").write_text(GOOD)
    with pytest.raises(DeclarationError, match="name: 'books' must match the file name"):
        load_dir(tmp_path)
    (tmp_path / "novels.yaml").unlink()
    (tmp_path / "books.yaml").write_text(GOOD)
    (tmp_path / "zines.yaml").write_text(GOOD.replace("name: books\n", "name: zines\n", 1))
    with pytest.raises(DeclarationError, match=r"streams\[books\].table: 'books' is already "
                                               "written by books/books"):
        load_dir(tmp_path)


BAZAAR_STREAM = """name: shop
base_url: http://127.0.0.1:1
streams:
  - name: users
    endpoint: /users
    records_path: ""
    primary_key: id
    pagination: {style: header_link}
    table: shop_users
    columns: {id: {}}
  - name: orders
    endpoint: /users/{user_id}/orders
    parent: {stream: users, params: {user_id: id}}
    records_path: orders
    primary_key: id
    pagination: {style: single}
    table: shop_orders
    columns: {id: {}, n: {}}
"""


@pytest.mark.parametrize(("old", "new", "named"), [
    ("parent: {stream: users, params: {user_id: id}}",
     "parent: {stream: users, params: {uid: id}}", "streams[orders]: Value error, the "
     "endpoint's placeholders ['user_id'] must be exactly parent.params ['uid']"),
    ("parent: {stream: users,", "parent: {stream: buyers,", "its parent 'buyers' must be a "
     "stream declared before it"),
    ("primary_key: id\n    pagination: {style: single}",
     "primary_key: [id]\n    pagination: {style: single}", "a composite primary_key names two "
     "columns or more"),
    ("records_path: orders", "records_path: 'orders[0'", "streams[orders].records_path: "
     "Value error, 'orders[0' is not JSONPath (RFC 9535) at the end: unbalanced brackets"),
    ("pagination: {style: header_link}", "pagination: {style: header_link}\n    auth: "
     "{kind: oauth2_client_credentials, token_url: /t, secret: \"${SHOP_SECRET:-x}\"}",
     "streams[users].auth.oauth2_client_credentials.client_id: Field required"),
    ("pagination: {style: header_link}", "pagination: {style: header_link}\n    auth: "
     "{kind: bearer, secret: written-here}", "streams[users].auth.secret: a secret comes "
     "from the environment"),
    ("pagination: {style: header_link}", "pagination: {style: header_link}\n    auth: "
     "{kind: oauth2_refresh_token, token_url: /t, client_id: c, refresh_token: rt-written}",
     "streams[users].auth.refresh_token: a secret comes from the environment"),
    ("pagination: {style: header_link}", "pagination: {style: header_link}\n    auth: "
     "{kind: jwt, algorithm: HS256, key: written-here}", "streams[users].auth.key: a secret "
     "comes from the environment"),
    ("pagination: {style: header_link}", "pagination: {style: header_link}\n    auth: "
     "{kind: session, login: {url: /login, token_path: t, body: {user: me, password: pw}}}",
     "streams[users].auth.login.body.password: a secret comes from the environment"),
    ("pagination: {style: header_link}", "pagination: {style: header_link}\n    auth: "
     "{kind: session, cookie: sid, header: X-Token, login: {url: /login, token_path: t}}",
     "the token goes in a header (header, prefix) or a cookie, not both"),
    ("pagination: {style: header_link}", "pagination: {style: header_link}\n    auth: "
     "{kind: oauth2_refresh_token, token_url: /t, client_id: c, refresh_token: \"${RT:-r}\", "
     "store: other/rt}", "streams[users].auth.oauth2_refresh_token.store: String should match"),
    ("pagination: {style: single}", "pagination: {style: single}\n    response_actions: "
     "{404: ignore}", "streams[orders].response_actions.404"),
    ("pagination: {style: single}", "pagination: {style: single}\n    incremental: "
     "{param: since}", "streams[orders].incremental.cursor_path: Field required"),
])
def test_each_new_capability_names_its_mistakes(old: str, new: str, named: str) -> None:
    assert old in BAZAAR_STREAM
    parse(BAZAAR_STREAM, "shop.yaml")  # the unbroken one loads
    with pytest.raises(DeclarationError) as err:
        parse(BAZAAR_STREAM.replace(old, new, 1), "shop.yaml")
    assert named in str(err.value)


@pytest.mark.parametrize("auth", [
    "{kind: oauth2_refresh_token, token_url: /oauth/token, client_id: c, "
    "secret: \"${SHOP_SECRET:-s}\", refresh_token: \"${SHOP_RT:-rt}\", client_auth: post}",
    "{kind: session, login: {url: /login, token_path: data.token, ttl_s: 600, "
    "body: {user: me, password: \"${SHOP_PASSWORD:-pw}\"}}, cookie: sid}",
    "{kind: jwt, algorithm: HS256, key: \"${SHOP_JWT_KEY:-k}\", claims: {iss: me, aud: [a, b]}}",
])
def test_each_new_auth_kind_loads(auth: str) -> None:
    old = "pagination: {style: header_link}"
    source = parse(BAZAAR_STREAM.replace(old, f"{old}\n    auth: {auth}", 1), "shop.yaml")
    assert source.stream("users").auth is not None


def test_a_body_key_wants_streams_that_send_a_body() -> None:
    post = "pagination: {style: header_link}\n    method: POST\n    body: {q: users}"
    key = "auth: {kind: body, secret: \"${SHOP_KEY:-k}\"}"
    old = "pagination: {style: header_link}"
    with pytest.raises(DeclarationError, match=r"streams\[users\]: Value error, auth kind body "
                       "puts the key in a JSON request body, which a GET has not"):
        parse(BAZAAR_STREAM.replace(old, f"{old}\n    {key}", 1), "shop.yaml")
    assert parse(BAZAAR_STREAM.replace(old, f"{post}\n    {key}", 1), "shop.yaml")
    with pytest.raises(DeclarationError, match=r"streams \['orders'\]: auth kind body"):
        parse(BAZAAR_STREAM.replace(old, post, 1).replace("streams:", f"{key}\nstreams:", 1),
              "shop.yaml")


def test_a_live_source_refuses_a_body_key() -> None:
    text = (ROOT / "sources" / "timeline.yaml").read_text().replace(
        "kind: live\n", "kind: live\nauth: {kind: body, secret: \"${K:-k}\"}\n", 1)
    with pytest.raises(DeclarationError, match="a live source reads with GET and a WebSocket"):
        parse_any(text, "timeline.yaml")
