"""Names: identifiers as a declaration takes them (snake case, 48 at most, unique), a resource's
singular, names compared loosely (``nextCursor`` is ``next_cursor``), and records paths."""

from __future__ import annotations

import re

IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")  # spec.Identifier's rule
MAX_IDENTIFIER = 48


def norm(name: str) -> str:
    """``next_cursor``, ``nextCursor`` and ``Next-Cursor`` alike: ``nextcursor``."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def identifier(text: str, fallback: str = "x") -> str:
    """``text`` as a declaration's identifier: snake case, ``[a-z][a-z0-9_]*``, 48 at most."""
    snake = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text)
    snake = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", snake)
    snake = re.sub(r"[^a-z0-9]+", "_", snake.lower()).strip("_")
    if not snake:
        snake = fallback
    if not snake[0].isalpha():
        snake = f"{fallback}_{snake}"
    return snake[:MAX_IDENTIFIER].rstrip("_")


def unique(base: str, taken: set[str]) -> str:
    name, n = base, 2
    while name in taken:
        suffix = f"_{n}"
        name = base[:MAX_IDENTIFIER - len(suffix)].rstrip("_") + suffix
        n += 1
    taken.add(name)
    return name


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
