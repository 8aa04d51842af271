"""``tributary sources new NAME --from-openapi FILE``: a declaration guessed from an OpenAPI
document, for three APIs shaped like the ones people connect (Stripe's cursor lists, GitHub's
bare arrays and Link headers, a generic one with offsets, an API key, reference loops and
operations no stream can be made of) and a Swagger 2.0 one. Every generated declaration
loads with the real loader; bad documents fail with one clear message and write nothing."""

from __future__ import annotations

import copy
import os
import random
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from localcloud.cli import app
from localcloud.validate import check_declaration
from tests.unit.conftest import run_cli
from tributary.extract.paginators import paginator_for
from tributary.sources.loader import DeclarationError, load_dir, parse_any
from tributary.sources.openapi import (
    Note,
    OpenAPIError,
    declaration_from_openapi,
    identifier,
    load_document,
    render,
)
from tributary.sources.spec import Source

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "tests" / "fixtures" / "openapi"
DOCUMENTS = {"stripe": "stripe.json", "github": "github.yaml", "warehouse": "warehouse.yaml",
             "petstore": "petstore-swagger2.json"}


def _document(name: str) -> dict[str, Any]:
    path = FIXTURES / DOCUMENTS[name]
    return load_document(path.read_text(), str(path))


def _generated(name: str) -> tuple[dict[str, Any], list[Note]]:
    return declaration_from_openapi(_document(name), name)


def _streams(declaration: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in declaration["streams"]}


def _said(notes: list[Note], kind: str = "guess", subject: str | None = None) -> list[str]:
    return [n.text if subject else str(n) for n in notes
            if n.kind == kind and (subject is None or n.subject == subject)]


def _secrets(text: str) -> set[str]:
    return set(re.findall(r"\$\{([A-Z0-9_]+)\}", text))


def _loaded(declaration: dict[str, Any], notes: list[Note],
            monkeypatch: pytest.MonkeyPatch) -> Source:
    """The declaration as written, through the real loader (its secrets set)."""
    text = render(declaration, notes, origin="a test")
    assert yaml.safe_load(text) == declaration  # the comments change nothing
    for var in _secrets(text):
        monkeypatch.setenv(var, "set-for-the-test")
    source = parse_any(text, f"sources/{declaration['name']}.yaml")
    assert isinstance(source, Source)
    return source


# -- Stripe-like: cursor (starting_after), has_more, records under data ----------------------

def test_a_stripe_like_api(monkeypatch: pytest.MonkeyPatch) -> None:
    declaration, notes = _generated("stripe")
    assert list(declaration) == ["name", "base_url", "auth", "streams"]
    assert declaration["base_url"] == "https://api.stripe.example.com"
    assert declaration["auth"] == {"kind": "bearer", "secret": "${TRIBUTARY_STRIPE_TOKEN}"}
    streams = _streams(declaration)
    assert [(s["name"], s["endpoint"], s["records_path"], s["primary_key"], s["table"])
            for s in streams.values()] == [
        ("customers", "/v1/customers", "data", "id", "stripe_customers"),
        ("balance_transactions", "/v1/customers/{customer}/balance_transactions", "data", "id",
         "stripe_balance_transactions"),
        ("charges", "/v1/charges", "data", "id", "stripe_charges"),
        ("events", "/v1/events", "data", "id", "stripe_events")]
    for s in streams.values():
        assert s["pagination"] == {"style": "cursor", "cursor_param": "starting_after",
                                   "limit_param": "limit", "limit": 100,
                                   "cursor_from_record": "id", "has_more_path": "has_more"}
    child = streams["balance_transactions"]
    assert child["parent"] == {"stream": "customers", "params": {"customer": "id"},
                               "include": {"customer_id": "id"}}
    assert child["response_actions"] == {404: "empty"}
    assert streams["customers"]["columns"] == {
        "address": {"type": "json"}, "balance": {"type": "bigint"},
        "created": {"type": "timestamp"},  # integer, format unix-time
        "currency": {}, "delinquent": {"type": "boolean"}, "email": {},
        "id": {"required": True}, "livemode": {"type": "boolean"},
        "metadata": {"type": "json"}, "name": {}, "object": {},
        "preferred_locales": {"type": "json"}}
    assert streams["charges"]["columns"]["customer"] == {"type": "json"}  # an id or an object
    assert _said(notes, subject="customers") == [
        "records: data (the list in the 200 response's body)",
        "pagination: cursor (the starting_after parameter takes the last record's id, while "
        "has_more)",
        "page size: limit=100 (the parameter says no maximum or default: check the API's)"]
    assert _said(notes, "warning") == []
    assert _said(notes, subject="balance_transactions")[:4] == [
        "parent: customers, the listing at /v1/customers",
        "for every record of customers: {customer} = id",
        "each record gets customer_id, its parent's key (parent.include)",
        "a 404 (its parent gone) is a page of none (response_actions)"]
    assert _said(notes) [:3] == [
        "base_url: https://api.stripe.example.com (servers[0])",
        "auth: a bearer token (security scheme bearerAuth), from ${TRIBUTARY_STRIPE_TOKEN}",
        "auth: the API also accepts basicAuth"]
    assert _said(notes, "skipped") == [
        "GET /v1/customers/{customer}: it answers one object (it has an id), not a list of them",
        "GET /v1/charges/search: it needs the query parameter 'query', which cannot be guessed",
        "GET /v1/balance: it answers one object, not a list of them (no list in it is a "
        "page's)"]
    source = _loaded(declaration, notes, monkeypatch)
    assert source.stream("balance_transactions").parent is not None
    pages = paginator_for(source.stream("customers").pagination)  # as the fetcher pages it
    assert pages.params(None) == {"limit": 100}
    assert pages.next_position({"has_more": True}, None, 2, last={"id": "cus_2"}) == "cus_2"
    assert pages.params("cus_2") == {"limit": 100, "starting_after": "cus_2"}
    assert pages.next_position({"has_more": False}, "cus_2", 1, last={"id": "cus_3"}) is None


def test_an_opaque_cursor_with_only_has_more_is_taken_from_the_last_record_and_said() -> None:
    document = _document("warehouse")
    entries = document["paths"]["/audit-log"]["get"]["responses"]["200"]["content"][
        "application/json"]["schema"]["properties"]["meta"]["properties"]
    del entries["next_cursor"]
    declaration, notes = declaration_from_openapi(document, "warehouse")
    assert _streams(declaration)["audit_log"]["pagination"] == {
        "style": "cursor", "cursor_param": "cursor", "limit_param": "limit", "limit": 1000,
        "cursor_from_record": "id", "has_more_path": "meta.has_more"}
    assert "audit_log: no field of the body holds the next cursor: check that cursor takes " \
           "the last record's id (cursor_from_record)" in _said(notes, "warning")


# -- GitHub-like: bare arrays, Link headers, page/per_page, children by owner and name -------

def test_a_github_like_api(monkeypatch: pytest.MonkeyPatch) -> None:
    declaration, notes = _generated("github")
    assert declaration["auth"] == {
        "kind": "oauth2_client_credentials",
        "token_url": "https://github.example.com/login/oauth/access_token",
        "client_id": "${TRIBUTARY_GITHUB_CLIENT_ID}",
        "secret": "${TRIBUTARY_GITHUB_CLIENT_SECRET}", "scope": "repo read:user"}
    streams = _streams(declaration)
    assert [(s["name"], s["endpoint"], s["pagination"]["style"], s.get("parent"))
            for s in streams.values()] == [
        ("users", "/users", "header_link", None),
        ("users_repos", "/users/{username}/repos", "header_link",
         {"stream": "users", "params": {"username": "login"}, "include": {"user_id": "id"}}),
        ("repos", "/user/repos", "header_link", None),
        ("issues", "/repos/{owner}/{repo}/issues", "page_number",
         {"stream": "repos", "params": {"owner": "owner.login", "repo": "name"},
          "include": {"repo_id": "id"}}),
        ("repositories", "/repositories", "header_link", None)]
    assert all(s["records_path"] == "" and s["primary_key"] == "id" for s in streams.values())
    assert streams["users"]["pagination"] == {"style": "header_link", "limit_param": "per_page",
                                              "limit": 100}
    # /repositories takes no page size: none is sent
    assert streams["repositories"]["pagination"] == {"style": "header_link",
                                                     "limit_param": None}
    assert streams["issues"]["pagination"] == {"style": "page_number", "page_param": "page",
                                               "limit_param": "per_page", "limit": 100}
    assert streams["issues"]["columns"] == {
        "id": {"type": "bigint", "required": True}, "node_id": {}, "url": {},
        "number": {"type": "bigint"}, "state": {}, "state_reason": {}, "title": {},
        "body": {}, "user": {"type": "json"}, "labels": {"type": "json"},
        "comments": {"type": "bigint"},
        "closed_at": {"type": "timestamp"},  # 3.1: type [string, "null"], format date-time
        "created_at": {"type": "timestamp"}, "pull_request": {"type": "json"},
        "repository_url": {}, "repo_id": {"type": "bigint"}}
    # an allOf of the minimal repository and its own fields, one of them the same schema
    assert list(streams["repos"]["columns"])[-4:] == [
        "default_branch", "open_issues_count", "permissions", "template_repository"]
    assert _said(notes, subject="issues")[:2] == [
        "parent: repos, the listing at /user/repos (none lists at /repos; this one is named "
        "repos: a guess)",
        "for every record of repos: {owner} = owner.login, {repo} = name"]
    assert "pagination: header_link (the response has a Link header: its rel=\"next\" is " \
           "followed)" in _said(notes, subject="users")
    assert _said(notes, "warning") == []
    assert _said(notes, "skipped") == [
        "GET /users/{username}: it answers one object (it has an id), not a list of them",
        "GET /repos/{owner}/{repo}/issues/{issue_number}/comments: its path parameter {owner} "
        "is no field of the records of GET /repos/{owner}/{repo}/issues, its parent",
        "GET /orgs/{org}/repos: no listing gives its path parameters ({org}): none at /orgs, "
        "and none named orgs (a fixed list of them can be declared: partitions: {param: org, "
        "values: [...]})",
        "GET /search/repositories: it needs the query parameter 'q', which cannot be guessed",
        "GET /rate_limit: it answers one object, not a list of them (no list in it is a "
        "page's)"]
    source = _loaded(declaration, notes, monkeypatch)
    assert [s.name for s in source.streams].index("repos") < \
        [s.name for s in source.streams].index("issues")  # a parent before its child


# -- generic: offset, an API key, reference loops, operations left out -----------------------

def test_a_generic_api_with_offsets_an_api_key_and_reference_loops(
        monkeypatch: pytest.MonkeyPatch) -> None:
    declaration, notes = _generated("warehouse")
    assert declaration["base_url"] == "https://eu.warehouse.example.com/api/v2"
    assert declaration["auth"] == {"kind": "query", "param": "api_key",
                                   "secret": "${TRIBUTARY_WAREHOUSE_API_KEY}"}
    streams = _streams(declaration)
    assert {n: (s["pagination"]["style"], s["records_path"], s["primary_key"])
            for n, s in streams.items()} == {
        "products": ("offset", "items", "product_id"),
        "categories": ("offset", "results", "id"),
        "categories_tree": ("single", "data", "id"),
        "warehouses": ("single", "", "site_id"),
        "warehouses_stock": ("json_link", "data", "id"),
        "partners": ("page_number", "records", "id"),
        "audit_log": ("cursor", "entries", "id"),
        "shipments": ("header_cursor", "", "shipment_id")}
    products = streams["products"]
    assert products["pagination"] == {"style": "offset", "offset_param": "offset",
                                      "limit_param": "limit", "limit": 200}
    assert products["total_path"] == "total"
    assert products["columns"] == {
        "product_id": {"type": "bigint", "required": True}, "sku": {}, "name": {},
        "price": {"type": "double"}, "in_stock": {"type": "boolean", "from": "inStock"},
        "tags": {"type": "json"}, "dimensions": {"type": "json"},
        "category": {"type": "json"},  # a Category, which holds Categories: kept whole
        "created_at": {"type": "timestamp", "from": "createdAt"},  # format date
        "updated_at": {"type": "timestamp"}}  # weight.kg left out, secret_note is writeOnly
    assert streams["categories"]["columns"]["parent"] == {"type": "json"}
    assert streams["categories_tree"]["columns"] == {
        "id": {"type": "bigint", "required": True}, "name": {}, "parent": {"type": "json"},
        "children": {"type": "json"}, "path": {"type": "json"},
        "subtree": {"type": "json"}, "depth": {"type": "bigint"}}
    stock = streams["warehouses_stock"]
    assert stock["parent"] == {"stream": "warehouses", "params": {"warehouse_id": "site_id"},
                               "include": {"warehouse_site_id": "site_id"}}
    assert stock["pagination"] == {"style": "json_link", "next_url_path": "next",
                                   "limit_param": "limit", "limit": 200}
    assert streams["partners"]["pagination"] == {
        "style": "page_number", "page_param": "page", "limit_param": "page_size",
        "limit": 500, "total_pages_path": "total_pages"}
    assert streams["partners"]["auth"] == {
        "kind": "header", "header": "X-Partner-Key",
        "secret": "${TRIBUTARY_WAREHOUSE_PARTNER_KEY_API_KEY}"}
    assert streams["partners"]["columns"]["attributes"] == {"type": "json"}  # any value
    assert streams["audit_log"]["pagination"] == {
        "style": "cursor", "cursor_param": "cursor", "limit_param": "limit", "limit": 1000,
        "next_cursor_path": "meta.next_cursor", "has_more_path": "meta.has_more"}
    assert streams["audit_log"]["columns"]["user_agent"] == {"from": "user-agent"}
    shipments = streams["shipments"]
    assert shipments["params"] == {"format": "full"}
    assert shipments["pagination"] == {"style": "header_cursor",
                                       "cursor_header": "X-Next-Cursor", "cursor_param": "after",
                                       "limit_param": "limit", "limit": 100}
    assert shipments["columns"]["shipment_id"] == {"from": "shipmentId", "required": True}
    assert shipments["columns"]["weight"] == {"type": "double"}  # oneOf integer, number
    assert _said(notes, subject="products") == [
        "records: items (the list in the 200 response's body)",
        "pagination: offset (the offset and limit parameters; a page shorter than the limit "
        "is the last)",
        "page size: limit=200 (its maximum)",
        "the upstream's count: total (total_path)",
        "primary key: product_id (no id field; named after the resource)",
        "columns renamed to identifiers (from: keeps the field): inStock -> in_stock, "
        "createdAt -> created_at"]
    assert _said(notes, subject="warehouses")[-1] == \
        "primary key: site_id (the first required field named like an id: check it is unique)"
    assert _said(notes, "warning") == [
        "products: fields left out (a '.' in a name cannot be a path): weight.kg"]
    assert _said(notes, "skipped") == [
        "GET /orders: it needs the query parameter 'status', which cannot be guessed",
        "GET /reports/summary: it answers one object, not a list of them (no list in it is a "
        "page's)",
        "GET /exports/products.csv: its 200 response has no JSON body",
        "GET /loops: $ref #/components/schemas/LoopA -> #/components/schemas/LoopB -> "
        "#/components/schemas/LoopA is a loop",
        "GET /tags: its items are no object (a list of values, not records)"]
    _loaded(declaration, notes, monkeypatch)


def test_swagger_2(monkeypatch: pytest.MonkeyPatch) -> None:
    declaration, notes = _generated("petstore")
    assert declaration["base_url"] == "https://petstore.example.com/v1"
    assert declaration["auth"] == {"kind": "basic", "username": "${TRIBUTARY_PETSTORE_USERNAME}",
                                   "secret": "${TRIBUTARY_PETSTORE_PASSWORD}"}
    streams = _streams(declaration)
    assert streams["pets"]["pagination"] == {"style": "single"}
    assert streams["visits"]["parent"] == {"stream": "pets", "params": {"petId": "id"},
                                           "include": {"pet_id": "id"}}
    assert streams["visits"]["pagination"] == {"style": "page_number", "page_param": "page",
                                               "limit_param": "per_page", "limit": 50}
    assert _said(notes, "warning") == [
        "pets: it takes limit, yet nothing in the response says where the next page is: one "
        "request fetches the first page only; check the API's docs"]
    _loaded(declaration, notes, monkeypatch)


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_every_generated_declaration_validates_as_tributary_validate_checks_it(
        name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    document = _document(name)
    before = copy.deepcopy(document)
    declaration, notes = declaration_from_openapi(document, name)
    assert document == before  # a pure function: the document is left as it was
    folder = tmp_path / "sources"
    folder.mkdir()
    for shipped in (ROOT / "sources").glob("*.yaml"):  # beside the project's own
        (folder / shipped.name).write_text(shipped.read_text())
    path = folder / f"{name}.yaml"
    path.write_text(render(declaration, notes, origin=DOCUMENTS[name]))
    [problem] = check_declaration(path)  # its secrets come from the environment
    assert re.fullmatch(rf"{re.escape(str(path))}: environment variable TRIBUTARY_"
                        rf"{name.upper()}_\w+ is not set and has no default", problem)
    for var in _secrets(path.read_text()):
        monkeypatch.setenv(var, "set")
    assert check_declaration(path) == []
    assert name in load_dir(folder)


def test_the_yaml_reads_in_order_with_its_guesses_as_comments() -> None:
    declaration, notes = _generated("warehouse")
    text = render(declaration, notes, origin="warehouse.yaml")
    keys = [line.split(":")[0] for line in text.splitlines() if re.match(r"^[a-z]", line)]
    assert keys == ["name", "base_url", "auth", "streams"]
    assert "# auth: an API key in the query parameter api_key (security scheme api_key), " \
           "from\n#   ${TRIBUTARY_WAREHOUSE_API_KEY}\nauth: {kind: query" in text
    assert "  # GET /products\n  # records: items" in text
    assert "  # WARNING: fields left out (a '.' in a name cannot be a path): weight.kg\n" \
           "  - name: products\n" in text
    assert "# - GET /loops: $ref #/components/schemas/LoopA" in text
    assert all(len(line) <= 100 for line in text.splitlines() if line.lstrip().startswith("#"))
    assert "    pagination:\n      style: cursor\n      cursor_param: cursor\n" in text


# -- what cannot be read -------------------------------------------------------------------

@pytest.mark.parametrize(("text", "message"), [
    ('{"hello": "world"}', "not an OpenAPI document (no 'openapi: 3.x' or 'swagger: \"2.0\"'"),
    ("- a\n- list\n", "not an OpenAPI document"),
    ("openapi: [3.0\n", "neither JSON nor YAML"),
])
def test_what_is_no_openapi_document_is_said(text: str, message: str) -> None:
    with pytest.raises(OpenAPIError, match=re.escape(message)):
        load_document(text, "api.yaml")


@pytest.mark.parametrize(("change", "message"), [
    ({"openapi": "2.0"}, "OpenAPI 2.0 is not read here: 3.0, 3.1 and Swagger 2.0 are"),
    ({"paths": {}}, "the document has no paths: nothing to fetch"),
    ({"servers": [{"url": "/api/v2"}]},
     "the document's server is relative ('/api/v2', servers[0]): it is wherever the document "
     "is served from; give the API's URL with --base-url https://..."),
    ({"paths": {"/reports/summary": {"get": {"responses": {"200": {
        "description": "x", "content": {"application/json": {"schema": {
            "type": "object", "properties": {"n": {"type": "integer"}}}}}}}}},
      "/products": {"post": {"responses": {"201": {"description": "created"}}}}}},
     "no GET operation lists records (a list of objects, or an object holding one) that a "
     "stream could fetch; left out:\n  GET /reports/summary: it answers one object"),
])
def test_a_document_that_gives_no_declaration_is_said(change: dict[str, Any],
                                                      message: str) -> None:
    document = _document("warehouse") | change
    with pytest.raises(OpenAPIError, match="^" + re.escape(message)):
        declaration_from_openapi(document, "warehouse")


def test_a_relative_server_takes_the_base_url_given() -> None:
    document = _document("warehouse") | {"servers": [{"url": "/api/v2"}]}
    declaration, notes = declaration_from_openapi(document, "warehouse",
                                                  base_url="https://wh.example.com")
    assert declaration["base_url"] == "https://wh.example.com/api/v2"
    assert _said(notes)[0] == "base_url: https://wh.example.com/api/v2: the given base URL, " \
                              "then the document's relative server /api/v2"
    declaration, _ = declaration_from_openapi(document, "warehouse",
                                              base_url="https://wh.example.com/v9")
    assert declaration["base_url"] == "https://wh.example.com/v9"


def test_a_reference_to_another_document_leaves_its_operation_out() -> None:
    document = _document("warehouse")
    document["paths"]["/partners"]["get"]["responses"]["200"] = {
        "$ref": "common.yaml#/responses/Partners"}
    _, notes = declaration_from_openapi(document, "warehouse")
    assert "GET /partners: $ref 'common.yaml#/responses/Partners' is in another document " \
           "(only #/... is followed)" in _said(notes, "skipped")


def test_names_become_identifiers() -> None:
    assert identifier("audit-log") == "audit_log"
    assert identifier("createdAt") == "created_at"
    assert identifier("HTTPStatus") == "http_status"
    assert identifier("2fa") == "x_2fa"
    assert identifier("@type") == "type"
    assert identifier("a" * 60) == "a" * 48
    with pytest.raises(OpenAPIError, match="'Stripe-API' is no source name.*'stripe_api'"):
        declaration_from_openapi(_document("stripe"), "Stripe-API")


def test_tables_stay_unique_when_names_are_cut() -> None:
    document = _document("warehouse")
    long = "a_rather_long_resource_name_that_goes_on_and_on"
    document["paths"] = {f"/{long}_{i}": document["paths"]["/warehouses"] for i in (1, 2)}
    declaration, _ = declaration_from_openapi(document, "warehouse")
    names = [s["name"] for s in declaration["streams"]]
    tables = [s["table"] for s in declaration["streams"]]
    assert len(set(names)) == len(set(tables)) == 2
    assert all(len(t) <= 48 for t in names + tables)


def test_names_of_children_and_versions_say_where_they_are() -> None:
    listing = {"get": {"responses": {"200": {"description": "x", "content": {
        "application/json": {"schema": {"type": "array", "items": {
            "type": "object", "properties": {"id": {"type": "string"}}}}}}}}}}
    document = {"openapi": "3.0.3", "servers": [{"url": "https://x.example.com"}],
                "paths": {p: listing for p in ("/services", "/actions", "/actions/{id}/services",
                                               "/v3/services", "/v3/services/{id}/services")}}
    declaration, _ = declaration_from_openapi(document, "x")
    assert [(s["name"], s["endpoint"]) for s in declaration["streams"]] == [
        ("services", "/services"), ("actions", "/actions"),
        ("actions_services", "/actions/{id}/services"), ("v3_services", "/v3/services"),
        ("v3_services_services", "/v3/services/{id}/services")]


def _junk(document: dict[str, Any], rnd: random.Random) -> dict[str, Any]:
    """``document`` with one to three of its values replaced by something no document should
    hold there."""
    out = copy.deepcopy(document)
    places: list[tuple[Any, Any]] = []

    def walk(node: Any) -> None:
        for key, value in (node.items() if isinstance(node, dict) else enumerate(node)):
            places.append((node, key))
            if isinstance(value, dict | list):
                walk(value)
    walk(out)
    junk = [None, 1, "x", [], {}, True, [1], {"$ref": "#/nowhere"}, {"$ref": 5},
            {"type": ["null"]}, {"type": 7}, 2.5, "https://{nope}"]
    for _ in range(rnd.randint(1, 3)):
        node, key = rnd.choice(places)
        node[key] = copy.deepcopy(rnd.choice(junk))
    return out


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_a_broken_document_gives_a_valid_declaration_or_says_why(
        name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever a document holds, the answer is a declaration that loads, or OpenAPIError:
    never another exception."""
    rnd = random.Random(name)
    document = _document(name)
    for _ in range(60):
        broken = _junk(document, rnd)
        try:
            declaration, notes = declaration_from_openapi(broken, name)
        except OpenAPIError:
            continue
        _loaded(declaration, notes, monkeypatch)


# -- the command -------------------------------------------------------------------------------

def test_the_command_writes_says_and_validates(sources_dir: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("TRIBUTARY_WAREHOUSE_API_KEY", "TRIBUTARY_WAREHOUSE_PARTNER_KEY_API_KEY"):
        monkeypatch.setenv(var, "k")
    code, out = run_cli("sources", "new", "warehouse", "--from-openapi",
                     str(FIXTURES / "warehouse.yaml"))
    assert code == 0, out
    path = sources_dir / "warehouse.yaml"
    assert "8 stream(s) from warehouse.yaml, Warehouse API 2.3 (OpenAPI 3.0.1)" in out
    assert "guessed: base_url: https://eu.warehouse.example.com/api/v2" in out
    assert "products: pagination: offset (the offset and limit parameters;" in out
    assert "warnings (check these before it runs): products: fields left out" in out
    assert "left out: GET /orders: it needs the query parameter 'status'" in out
    assert "is valid (the checks `tributary validate` makes of a declaration)" in out
    assert "PollWarehouse:" in out
    assert parse_any(path.read_text(), str(path)).name == "warehouse"

    code, out = run_cli("sources", "new", "warehouse", "--from-openapi",
                     str(FIXTURES / "warehouse.yaml"))
    assert (code, path.exists()) == (1, True)
    assert "warehouse.yaml exists: --force overwrites it (or write elsewhere with --out)" in out
    path.write_text("# edited\n" + path.read_text())
    code, _ = run_cli("sources", "new", "warehouse", "--from-openapi",
                   str(FIXTURES / "warehouse.yaml"), "--force")
    assert code == 0 and not path.read_text().startswith("# edited")


def test_an_unset_secret_is_named_and_the_exit_is_1(sources_dir: Path) -> None:
    assert "TRIBUTARY_STRIPE_TOKEN" not in os.environ
    code, out = run_cli("sources", "new", "stripe", "--from-openapi",
                     str(FIXTURES / "stripe.json"))
    assert code == 1
    assert (sources_dir / "stripe.yaml").exists()
    assert "environment variable TRIBUTARY_STRIPE_TOKEN is not set and has no default" in out
    assert "is written but not valid yet: set TRIBUTARY_STRIPE_TOKEN (where its secrets come " \
           "from), then run `tributary validate`. Until then no declaration in" in out


def test_the_command_writes_where_it_is_told(tmp_path: Path, sources_dir: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIBUTARY_PETSTORE_USERNAME", "me")
    monkeypatch.setenv("TRIBUTARY_PETSTORE_PASSWORD", "pw")
    out_path = tmp_path / "drafts" / "petstore.yaml"
    code, out = run_cli("sources", "new", "petstore", "--from-openapi",
                     str(FIXTURES / "petstore-swagger2.json"), "--out", str(out_path))
    assert code == 0, out
    assert out_path.exists() and list(sources_dir.iterdir()) == []


@pytest.mark.parametrize(("args", "code", "told"), [
    (["Bad-Name", "--from-openapi", "x.json"], 2, "'Bad-Name' is no source name"),
    (["x", "--from-openapi", "/nowhere/x.json"], 1, "cannot read /nowhere/x.json"),
])
def test_the_command_refuses_what_it_cannot_use(sources_dir: Path, args: list[str], code: int,
                                                 told: str) -> None:
    result, out = run_cli("sources", "new", *args)
    assert (result, list(sources_dir.iterdir())) == (code, [])
    assert told in out


def test_bad_input_writes_no_file(sources_dir: Path, tmp_path: Path) -> None:
    not_openapi = tmp_path / "not.json"
    not_openapi.write_text('{"swagger_ui": true}')
    code, out = run_cli("sources", "new", "nope", "--from-openapi", str(not_openapi))
    assert code == 1 and "not an OpenAPI document" in out
    nothing = tmp_path / "nothing.yaml"
    nothing.write_text("openapi: 3.1.0\ninfo: {title: t, version: '1'}\nservers: "
                       "[{url: 'https://x.example.com'}]\npaths:\n  /things:\n    post:\n"
                       "      responses: {'201': {description: made}}\n")
    code, out = run_cli("sources", "new", "nothing", "--from-openapi", str(nothing))
    assert code == 1 and "no GET operation lists records" in out
    assert list(sources_dir.iterdir()) == []


def test_as_a_user_runs_it(tmp_path: Path) -> None:
    """``tributary sources new``, then ``tributary sources`` lists what it wrote."""
    folder = tmp_path / "sources"
    folder.mkdir()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path),
           "TRIBUTARY_HOME": str(tmp_path), "TRIBUTARY_SOURCES_DIR": str(folder),
           "PYTHONPATH": os.pathsep.join([str(ROOT / "layers"), str(ROOT / "infra")]),
           "TRIBUTARY_GITHUB_CLIENT_ID": "id", "TRIBUTARY_GITHUB_CLIENT_SECRET": "secret"}

    def tributary(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "localcloud.cli", *args], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=120, check=False)

    made = tributary("sources", "new", "github", "--from-openapi",
                     str(FIXTURES / "github.yaml"))
    assert made.returncode == 0, made.stdout + made.stderr
    assert "Traceback" not in made.stdout + made.stderr
    listed = tributary("sources")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "github_issues" in listed.stdout and "page_number" in listed.stdout
    broken = tributary("sources", "new", "other", "--from-openapi", str(ROOT / "README.md"))
    assert broken.returncode == 1 and "Traceback" not in broken.stdout + broken.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["github.yaml"]


def test_a_broken_folder_does_not_stop_new_but_still_stops_the_listing(
        sources_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (sources_dir / "broken.yaml").write_text("name: broken\nstreams: 3\n")
    monkeypatch.setenv("TRIBUTARY_GITHUB_CLIENT_ID", "id")
    monkeypatch.setenv("TRIBUTARY_GITHUB_CLIENT_SECRET", "secret")
    code, out = run_cli("sources", "new", "github", "--from-openapi",
                     str(FIXTURES / "github.yaml"))
    assert code == 0, out  # the broken one is its own problem: validate names it
    result = CliRunner().invoke(app, ["sources"])
    assert isinstance(result.exception, DeclarationError)
