"""Reading a value out of a JSON document by a declaration's path.

- ``dig``: a dotted path (``pagination.nextCursor``); ``''`` is the document itself.
- ``records_at``: a records path, dotted or JSONPath with ``[*]`` (``$.data.orders[*].lines``
  gathers every order's lines into one list). Plain dotted paths, the common case, take the
  fast way.
"""

from __future__ import annotations

from typing import Any


def dig(body: Any, path: str) -> Any:
    node = body
    for part in path.split(".") if path else ():
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def records_at(body: Any, path: str) -> list[Any] | None:
    """The records at ``path``; ``None`` when there is no list there."""
    path = path.removeprefix("$").removeprefix(".")
    if "[*]" not in path:
        found = dig(body, path)
        return found if isinstance(found, list) else None
    nodes: list[Any] = [body]
    for part in path.split("."):
        name, spread = part.removesuffix("[*]"), part.endswith("[*]")
        nodes = [n.get(name) if isinstance(n, dict) else None for n in nodes] if name else nodes
        if spread:
            nodes = [x for n in nodes if isinstance(n, list) for x in n]
    if path.endswith("[*]"):
        return nodes
    lists = [n for n in nodes if isinstance(n, list)]
    return [x for n in lists for x in n] if lists or not nodes else None
