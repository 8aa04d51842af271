"""Text no API can take, by one rule for every HTTP API, the webhook's events and the live
WebSocket API's messages.

- Data (a string anywhere in a JSON body) may hold any Unicode character PostgreSQL can keep:
  not NUL (text and jsonb cannot hold it; psycopg refuses to send one) and not a lone UTF-16
  surrogate (not Unicode text: it has no UTF-8 form, so neither PostgreSQL, DuckDB nor Parquet
  can take it). Other control characters (a tab, a newline) are data and are kept as sent.
- A parameter (query, path, header, a subscription's stream) is one line that names or
  filters something: no control character at all (Unicode's Cc: C0, DEL and C1) either.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

BAD_TEXT = ("text no request can hold: a NUL character or a lone UTF-16 surrogate anywhere, "
            "or any other control character (U+0000-U+001F, U+007F-U+009F) in a query, path "
            "or header parameter")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def data_problem(text: str) -> str | None:
    """Why ``text`` cannot be stored, or None."""
    at = text.find("\x00")
    if at >= 0:
        return f"a NUL character (U+0000) at position {at}, which text cannot hold"
    try:
        text.encode()
    except UnicodeEncodeError as exc:
        return (f"a lone UTF-16 surrogate (U+{ord(text[exc.start]):04X}) at position "
                f"{exc.start}, which is not Unicode text")
    return None


def parameter_problem(text: str) -> str | None:
    """Why ``text`` cannot be a parameter, or None."""
    control = _CONTROL.search(text)
    if control and control.group() != "\x00":
        return (f"a control character (U+{ord(control.group()):04X}) at position "
                f"{control.start()}; a parameter is one line of printable text")
    return data_problem(text)


def shown(text: str) -> str:
    """``text`` for a message: quoted and escaped when it holds what it should not."""
    return repr(text) if parameter_problem(text) else text


def first_problem(value: Any, where: str = "",
                  problem: Callable[[Any], str | None] | None = None) -> str | None:
    """``where: why`` for the first value in a JSON document (names included) that
    ``problem`` (by default: text that cannot be stored) finds wrong, or None."""
    check = problem or (lambda v: data_problem(v) if isinstance(v, str) else None)
    found = check(value)
    if found:
        return f"{where or 'value'}: {found}"
    items = value.items() if isinstance(value, dict) else \
        enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        here = f"{where}[{key}]" if isinstance(key, int) else \
            f"{where}.{shown(key)}" if where else shown(key)
        found = (first_problem(key, f"{here} (its name)", check) if isinstance(key, str)
                 else None) or first_problem(item, here, check)
        if found:
            return found
    return None
