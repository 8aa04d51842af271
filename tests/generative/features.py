"""What a generated API may use, as named features a run switches on and off.

The pagination styles and auth kinds are read from the declaration model itself, so a style
or kind added to ``spec.py`` shows up here (and fails the generator's coverage test until the
generator serves it). ``TRIBUTARY_GEN_FEATURES`` edits the defaults: ``-chaos_stall,-children``
turns features off, ``+projected`` forces one on; a failing run isolates a defect that way.
"""

from __future__ import annotations

import os
from typing import Any, get_args

from pydantic import ValidationError

from tributary.sources.auth import Auth
from tributary.sources.paths import records_at
from tributary.sources.spec import Stream, pagination_styles

STYLES = frozenset(pagination_styles())
AUTH_KINDS = frozenset(get_args(m.model_fields["kind"].annotation)[0]
                       for m in get_args(get_args(Auth)[0]))
# Where records are in a body: a bare list, under a key, under several, gathered from nested
# lists (``groups[*].rows``), projected out of wrappers (``items[*].record``), filtered.
SHAPES = frozenset({"bare", "wrapped", "nested", "gathered", "projected", "filtered"})
# typed_int_key: a scalar number key declared ``type: bigint`` (else ``text``).
KEYS = frozenset({"int_key", "str_key", "composite_key", "typed_int_key"})
# child_include: a child's key starts with its parent's key, copied by ``parent.include``.
# post_body: a POST whose paging parameters travel in its JSON body; last_record_cursor: the
# next cursor is the last record's key (Stripe's ``starting_after``); listed: a top-level
# stream read per value of a declared list (``partitions``); json_lines: a bare listing sent
# as JSON lines; csv_body: a listing sent as CSV with a header (every value text, typed by the
# declared columns). export_job: a stream read through an asynchronous export (create, poll,
# download a CSV or JSON-lines file, sometimes gzip). stop_path: a cursor listing whose last
# page still names a next cursor and says stop; initial_cursor: one whose first request
# carries a declared cursor. Of an incremental listing: lookback (``lookback_s``), inc_format
# (a declared ``format`` the server reads the parameter in), inc_body (the parameter in a
# POST's body).
STREAMS = frozenset({"children", "child_errors", "child_include", "stream_auth",
                     "incremental", "inclusive", "exclusive", "edits", "end_param",
                     "total_path", "post_body", "last_record_cursor", "listed",
                     "json_lines", "csv_body", "export_job", "stop_path", "initial_cursor",
                     "lookback", "inc_format", "inc_body"})
# chaos_body_error: a 200 holding only ``errors`` (GraphQL's way of failing).
CHAOS = frozenset({"chaos_429_seconds", "chaos_429_date", "chaos_5xx", "chaos_stall",
                   "chaos_cut", "chaos_revoke", "chaos_body_error"})
ALL = STYLES | AUTH_KINDS | SHAPES | KEYS | STREAMS | CHAOS
ENV = "TRIBUTARY_GEN_FEATURES"

# A path each shape needs the declaration model and ``records_at`` to understand.
_PROBES: dict[str, tuple[str, Any, list[Any]]] = {
    "projected": ("a[*].b", {"a": [{"b": {"x": 1}}, {"b": {"x": 2}}]}, [{"x": 1}, {"x": 2}]),
    "filtered": ("a[?@.t == 'r']", {"a": [{"t": "r", "x": 1}, {"t": "n"}]}, [{"t": "r", "x": 1}]),
}


def understood(shape: str) -> bool:
    """Whether today's code takes ``shape``'s path: the model accepts it as a records_path
    and ``records_at`` finds the records through it. Asked, never assumed."""
    path, body, want = _PROBES[shape]
    try:
        Stream.model_validate({"name": "s", "endpoint": "/s", "records_path": path,
                               "primary_key": "x", "pagination": {"style": "single"},
                               "table": "t", "columns": {"x": {}}})
        return records_at(body, path) == want
    except (ValidationError, ValueError, TypeError, KeyError):
        return False


def defaults() -> frozenset[str]:
    return ALL - {shape for shape in _PROBES if not understood(shape)}


def parse(text: str, base: frozenset[str] | None = None) -> frozenset[str]:
    """``base`` (the defaults) edited by ``-name`` and ``+name`` items, comma-separated."""
    on = set(defaults() if base is None else base)
    for item in filter(None, (part.strip() for part in text.split(","))):
        sign, name = (item[0], item[1:]) if item[0] in "+-" else ("+", item)
        if name not in ALL:
            raise ValueError(f"{ENV}: unknown feature {name!r}; known: {sorted(ALL)}")
        (on.add if sign == "+" else on.discard)(name)
    return frozenset(on)


def from_env() -> frozenset[str]:
    return parse(os.environ.get(ENV, ""))
