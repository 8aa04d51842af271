"""``tributary sources new NAME --sample URL|FILE``: a declaration inferred from one answer,
fetched over real HTTP (a local server that wants a header) or read from a file; it loads
with the real loader, and its normalizer takes every sampled record."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.unit.conftest import run_cli
from tributary.normalize.declared import normalizer
from tributary.schema.sample import SampleError, declaration_from_sample, find_records
from tributary.sources.loader import parse

ORDERS = {
    "object": "list", "has_more": True, "url": "/v1/orders",
    "data": [
        {"id": "ord_1", "customerName": "Ann", "total": 1200, "paid": True,
         "created": "2024-05-01T10:00:00Z", "lines": [{"sku": "a", "qty": 1}],
         "shipping": {"city": "Oslo"}, "coupon": None},
        {"id": "ord_2", "customerName": "Bo", "total": 99.5, "paid": False,
         "created": "2024-05-02T11:30:00+02:00", "lines": [], "shipping": None,
         "coupon": "SPRING"},
        {"id": "ord_3", "customerName": "Cy", "total": "n/a", "paid": True,
         "created": "Thu, 02 May 2024 12:00:00 GMT", "lines": [], "coupon": None},
    ],
}


@pytest.fixture
def api() -> Iterator[str]:
    """A listing that answers only with its key header."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
            ok = self.headers.get("X-Api-Key") == "k-123"
            body = json.dumps(ORDERS if ok else {"error": "unauthorized"}).encode()
            self.send_response(200 if ok else 401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_the_declaration_takes_every_sampled_record() -> None:
    declaration, notes = declaration_from_sample(ORDERS, "shop",
                                                 "https://api.example.com/v1/orders?limit=3")
    source = parse(json.dumps(declaration), "inferred")
    stream = source.streams[0]
    assert (source.base_url, stream.endpoint, stream.params) == (
        "https://api.example.com", "/v1/orders", {"limit": "3"})
    assert (stream.records_path, stream.primary_key, stream.table) == ("data", "id",
                                                                       "shop_orders")
    assert {n: (c.type, c.source) for n, c in stream.columns.items()} == {
        "id": ("text", None), "customer_name": ("text", "customerName"),
        "total": ("text", None),  # 1200, 99.5 and "n/a": text takes them all
        "paid": ("boolean", None), "created": ("timestamp", None), "lines": ("json", None),
        "shipping": ("json", None), "coupon": ("text", None)}
    said = [str(n) for n in notes]
    assert any("column total: mostly double, but 1 text in the sample" in s for s in said)
    assert any("the body has has_more, so it likely pages" in s for s in said)
    normalized = normalizer(stream)(ORDERS["data"])
    assert normalized.rejects == []
    assert normalized.columns["total"] == ["1200", "99.5", "n/a"]
    assert normalized.columns["created"] == [1714557600000, 1714642200000, 1714651200000]


def test_records_are_found_where_they_are() -> None:
    assert find_records([{"a": 1}])[0] == ""
    assert find_records({"result": {"items": [{"a": 1}]}, "tags": [{"t": 1}, {"t": 2}]}) == (
        "result.items", [{"a": 1}])  # the record name wins over the longer list
    assert find_records({"x": {"y": [{"a": 1}]}, "z": [{"b": 1}, {"b": 2}]})[0] == "z"
    with pytest.raises(SampleError, match="no list of objects"):
        find_records({"count": 3, "names": ["a"]})
    with pytest.raises(SampleError, match="no http"):
        declaration_from_sample([{"id": 1}], "x", "/v1/things")


def test_a_sample_url_is_fetched_with_its_header_and_validated(sources_dir: Path,
                                                               api: str) -> None:
    code, out = run_cli("sources", "new", "shop", "--sample", f"{api}/v1/orders",
                     "--header", "X-Api-Key: k-123")
    assert code == 0, out
    assert "wrote" in out and "1 stream(s) from a sample" in out and "is valid" in out
    text = (sources_dir / "shop.yaml").read_text()
    assert "k-123" not in text and "k-123" not in out  # a header's value is never kept
    source = parse(text, "shop.yaml")
    assert source.base_url == api and source.streams[0].endpoint == "/v1/orders"

    code, out = run_cli("sources", "new", "other", "--sample", f"{api}/v1/orders")
    assert code == 1 and "answered 401: a sample needs a 200" in out
    assert not (sources_dir / "other.yaml").exists()


def test_a_sample_file_needs_the_url_it_came_from(sources_dir: Path, tmp_path: Path) -> None:
    sample = tmp_path / "orders.json"
    sample.write_text(json.dumps(ORDERS))
    code, out = run_cli("sources", "new", "shop", "--sample", str(sample))
    assert code == 2 and "a sample FILE needs --url" in out
    code, out = run_cli("sources", "new", "shop", "--sample", str(sample), "--url",
                     "https://api.example.com/v1/orders")
    assert code == 0, out
    assert parse((sources_dir / "shop.yaml").read_text(), "x").streams[0].name == "orders"
    sample.write_text("{not json")
    code, out = run_cli("sources", "new", "bad", "--sample", str(sample), "--url",
                     "https://api.example.com/v1/orders")
    assert code == 1 and "no JSON" in out and not (sources_dir / "bad.yaml").exists()
    code, out = run_cli("sources", "new", "both", "--sample", str(sample), "--from-openapi",
                     str(sample))
    assert code == 2 and "one of them" in out
