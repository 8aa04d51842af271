"""Identifiers as a declaration takes them: snake case, ``[a-z][a-z0-9_]*``, 48 at most,
unique among their siblings. Generated declarations (from an OpenAPI document, from sample
records) name their streams and columns with these."""

from __future__ import annotations

import re

IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")  # spec.Identifier's rule
MAX_IDENTIFIER = 48


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
