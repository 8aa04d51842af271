"""Names: identifiers as a declaration takes them (snake case, 48 at most, unique), a resource's
singular, names compared loosely (``nextCursor`` is ``next_cursor``), and records paths."""

from __future__ import annotations

import re

from tributary.sources.identifiers import IDENTIFIER, MAX_IDENTIFIER, identifier, unique

__all__ = ["IDENTIFIER", "MAX_IDENTIFIER", "identifier", "norm", "rank_in", "records_path",
           "singular_of", "unique"]


def norm(name: str) -> str:
    """``next_cursor``, ``nextCursor`` and ``Next-Cursor`` alike: ``nextcursor``."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def singular_of(word: str) -> str:
    w = word.lower()
    if w.endswith("ies") and len(w) > 4:
        return word[:-3] + "y"
    if w.endswith(("sses", "xes", "ches", "shes", "zzes")):
        return word[:-2]
    if w.endswith("s") and not w.endswith(("ss", "us", "is")) and len(w) > 2:
        return word[:-1]
    return word


_SHORTHAND = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def records_path(parts: tuple[str, ...]) -> str:
    """Member names as the JSONPath a declaration takes: ``data.items``, or in brackets."""
    if all(_SHORTHAND.match(p) for p in parts):
        return ".".join(parts)
    quoted = ("'" + p.replace("\\", "\\\\").replace("'", "\\'") + "'" for p in parts)
    return "$" + "".join(f"[{q}]" for q in quoted)


def rank_in(name: str, names: tuple[str, ...]) -> int:
    n = norm(name)
    return names.index(n) if n in names else len(names)
