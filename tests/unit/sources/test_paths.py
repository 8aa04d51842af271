"""Records paths are RFC 9535 JSONPath: every form selects the records it says, a selection of
anything but objects is refused with its place, and a path that is not JSONPath is refused
with the character where it goes wrong."""

from __future__ import annotations

import dataclasses
import gzip
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tributary.extract.http import ApiError
from tributary.extract.stream import DeclaredStream, client_for
from tributary.load.tables import from_stream
from tributary.sources.loader import DeclarationError, parse
from tributary.sources.paths import NotRecords, compile_records_path, records_at
from tributary.transform import BadPage, _records

C1, C2, C3 = {"id": 1}, {"id": 2}, {"id": 3}
PAGE = {"result": {"items": [{"customer": C1, "type": "invoice", "n": 5},
                             {"customer": C2, "type": "refund", "n": 7},
                             {"customer": C3, "type": "invoice", "n": 9}]},
        "orders": [{"id": "o1", "lines": [{"no": 1}, {"no": 2}]}, {"id": "o2", "lines": []},
                   {"id": "o3", "lines": [{"no": 3}]}],
        "deep": {"x": {"orders": [{"id": "d1"}]}, "y": [{"orders": [{"id": "d2"}]}]}}
ITEMS = PAGE["result"]["items"]  # type: ignore[index]


@pytest.mark.parametrize(("path", "records"), [
    # the regression: standard JSONPath for "the customer of every item"
    ("result.items[*].customer", [C1, C2, C3]),
    ("$.result.items[*].customer", [C1, C2, C3]),
    # a singular path names the record list, as before
    ("result.items", ITEMS),
    ("$.result.items", ITEMS),
    ("$['result']['items']", ITEMS),
    ("result.items[*]", ITEMS),
    # a list selected past a wildcard gives its elements: every order's lines
    ("orders[*].lines", [{"no": 1}, {"no": 2}, {"no": 3}]),
    ("orders[*].lines[*]", [{"no": 1}, {"no": 2}, {"no": 3}]),
    # filters
    ("result.items[?@.type == 'invoice']", [ITEMS[0], ITEMS[2]]),
    ("result.items[?@.n > 6 && @.type != 'invoice'].customer", [C2]),
    ("result.items[?match(@.type, 'inv.*')]", [ITEMS[0], ITEMS[2]]),
    ("result.items[?@.type == 'credit']", []),  # the page has none of them
    # recursive descent, in document order
    ("$..orders[*]", PAGE["orders"] + [{"id": "d1"}, {"id": "d2"}]),  # type: ignore[operator]
    ("deep..orders", [{"id": "d1"}, {"id": "d2"}]),
    # indexes and slices
    ("result.items[1:]", ITEMS[1:]),
    ("result.items[-1:]", ITEMS[-1:]),
    ("result.items[0, 2].customer", [C1, C3]),
    ("orders[0].lines", [{"no": 1}, {"no": 2}]),
])
def test_each_form_selects_its_records(path: str, records: list[Any]) -> None:
    assert records_at(PAGE, path) == records


def test_a_bare_list_is_the_records() -> None:
    assert records_at([C1, C2], "") == records_at([C1, C2], "$") == [C1, C2]
    assert records_at([], "") == []
    assert records_at([C1, C2], "[*]") == records_at([C1, C2], "$[*]") == [C1, C2]
    assert records_at([C1, C2], "[?@.id > 1]") == [C2]


@pytest.mark.parametrize("path", [
    "result.missing", "missing[*].customer", "result.items[0]",  # an object, not a list
    "result.items[0].type[*]",  # a string where a container should be
    "missing..orders",
])
def test_no_record_list_where_the_path_says_is_none(path: str) -> None:
    """The fetcher's NO_RECORDS: the page is not a page of this stream."""
    assert records_at(PAGE, path) is None
    assert records_at({"result": None}, "result.items") is None


@pytest.mark.parametrize(("path", "says"), [
    ("result.items[*].type", "selects a string 'invoice' at $['result']['items'][0]['type']"),
    ("result.items[*].customer.id", "selects a number 1 at "
                                    "$['result']['items'][0]['customer']['id']"),
    ("$..id", "selects a number 1 at $['result']['items'][0]['customer']['id']"),
    ("result.items[*].n", "selects a number 5"),
])
def test_a_selection_of_non_objects_is_refused_where_it_is(path: str, says: str) -> None:
    with pytest.raises(NotRecords, match=r"records_path .* selects") as err:
        records_at(PAGE, path)
    assert says in str(err.value)
    with pytest.raises(NotRecords, match=r"selects null at \$\['a'\]\[0\]\['c'\]"):
        records_at({"a": [{"c": None}, {"c": None}]}, "a[*].c")
    with pytest.raises(NotRecords, match=r"selects a list \[1\] at \$\['a'\]\[0\]"):
        records_at({"a": [[1]]}, "a")


def test_a_non_object_among_records_is_rejected_alone() -> None:
    """One null customer is that record's fault: the page loads, the record is a reject."""
    records = records_at({"a": [{"c": {"id": 1}}, {"c": None}]}, "a[*].c")
    assert records == [{"id": 1}, None]
    src = parse(_declaration("a[*].c"), "publicish.yaml")
    norm = from_stream(src.stream("c")).normalize(records)
    assert norm.columns["id"] == ["1"]
    assert [(r.index, r.reason) for r in norm.rejects] == [
        (1, "record: Input should be a valid dictionary or instance of p_customers_row")]


@pytest.mark.parametrize(("path", "where"), [
    ("result.items[*", "at the end: unbalanced brackets"),
    ("items[?@.type ==]", "at character 17: unexpected end of expression"),
    ("data.my-items", "at character 8: expected '.', '..' or a bracketed selection, found '-'"),
    ("$.a b", "at character 5"),
    ("items[?nope(@)]", "at character 8"),
])
def test_a_path_that_is_not_jsonpath_is_refused_where_it_goes_wrong(path: str, where: str
                                                                    ) -> None:
    with pytest.raises(ValueError, match="is not JSONPath") as err:
        compile_records_path(path)
    assert f"{path!r} is not JSONPath (RFC 9535) {where}" in str(err.value)


def test_a_path_is_compiled_once_per_declaration() -> None:
    stream = parse(_declaration("result.items[*].customer"), "publicish.yaml").stream("c")
    assert stream.records is stream.records is compile_records_path("result.items[*].customer")
    assert from_stream(stream).records is stream.records


_JSON = st.recursive(st.none() | st.integers(0, 3) | st.just("s"),
                     lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.sampled_from("ab"), inner, max_size=2), max_leaves=12)


@given(doc=_JSON, steps=st.lists(st.sampled_from(["a", "b", "*"]), min_size=1, max_size=4))
def test_names_and_wildcards_walked_here_select_what_the_library_does(
        doc: Any, steps: list[str]) -> None:
    path = compile_records_path(".".join(s if s != "*" else "[*]" for s in steps)
                                .replace(".[*]", "[*]"))
    assert path.steps is not None
    by_library = dataclasses.replace(path, steps=None)
    assert _outcome(path.select, doc) == _outcome(by_library.select, doc)


def _outcome(select: Any, doc: Any) -> Any:
    try:
        return select(doc)
    except NotRecords as exc:
        return str(exc)


def _declaration(path: str) -> str:
    return f"""name: publicish
base_url: http://127.0.0.1:9
streams:
  - name: c
    endpoint: /customers
    records_path: "{path}"
    primary_key: id
    pagination: {{style: single}}
    table: p_customers
    columns: {{id: {{}}}}
"""


def test_validate_refuses_a_bad_path_naming_the_field_and_the_place() -> None:
    with pytest.raises(DeclarationError) as err:
        parse(_declaration("result.items[*].customer["), "sources/publicish.yaml")
    assert "sources/publicish.yaml: streams[c].records_path: Value error, " \
           "'result.items[*].customer[' is not JSONPath (RFC 9535) at the end" in str(err.value)


def test_the_fetcher_and_the_transform_refuse_a_page_of_non_objects() -> None:
    src = parse(_declaration("result.items[*].type"), "publicish.yaml")
    fetcher = DeclaredStream(src, src.stream("c"), client_for(src))
    raw = orjson.dumps(PAGE)
    with pytest.raises(ApiError, match="NOT_RECORDS: publicish/c: records_path "
                                       "'result.items\\[\\*\\].type' selects a string"):
        fetcher.page(raw, None, None)
    with pytest.raises(BadPage, match="k.json.gz: records_path .* selects a string"):
        _records(gzip.compress(raw), "k.json.gz", from_stream(src.stream("c")))


def test_the_fetcher_reads_records_through_a_projection() -> None:
    src = parse(_declaration("result.items[*].customer"), "publicish.yaml")
    page = DeclaredStream(src, src.stream("c"), client_for(src)).page(
        orjson.dumps(PAGE), None, None)
    assert (page.records, page.first_id, page.total) == (3, "1", 3)
    with pytest.raises(ApiError, match="NO_RECORDS"):
        DeclaredStream(src, src.stream("c"), client_for(src)).page(b'{"error": 1}', None,
                                                                   None)
