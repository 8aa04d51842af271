"""``Candidate``: what the reader makes of one GET operation that lists records; the
declaration then names it, finds its parent and gives it a table."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from tributary.sources.openapi.document import NoteKind


@dataclass
class Candidate:
    """A GET operation that lists records, before it has a name and a parent."""

    order: int
    path: str
    segments: list[str]
    item: dict[str, Any]
    records_path: str
    pagination: dict[str, Any]
    total_path: str | None
    params: dict[str, Any]
    security: list[Any] | None
    has_404: bool
    columns: dict[str, dict[str, Any]]
    column_of: dict[str, str]  # property -> column
    key: str
    key_type: str
    notes: list[tuple[NoteKind, str]] = field(default_factory=list)
    name: str = ""
    parent: Candidate | None = None
    parent_params: dict[str, str] = field(default_factory=dict)
    include: dict[str, str] = field(default_factory=dict)
    table: str = ""
    parent_how: str = ""  # how the parent was found, when not at the path above

    @property
    def op(self) -> str:
        return f"GET {self.path}"

    @property
    def static(self) -> list[str]:
        return [s for s in self.segments if "{" not in s]

    @property
    def resource(self) -> str:
        return self.static[-1] if self.static else ""

    @property
    def placeholders(self) -> list[str]:
        return re.findall(r"{([^}]+)}", self.path)

    @property
    def key_prop(self) -> str:
        """The key's field in a record (the key column may be renamed)."""
        return next((p for p, c in self.column_of.items() if c == self.key), self.key)
