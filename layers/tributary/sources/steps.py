"""Declared steps on records before they are validated: keep only those a condition holds
for (``filter``), and simple reshaping (``map``): a small set of operations, no code.

A filtered-out record is neither loaded nor a reject: the raw page still holds it, so a
change of the filter and a replay of the page bring it in.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import Field, model_validator

from tributary.sources.base import Strict
from tributary.sources.paths import dig

Scalar = str | int | float | bool | None


class Condition(Strict):
    """One test of the value at ``path`` (dotted): exactly one of the operators."""

    path: str
    equals: Scalar | list[Any] | dict[str, Any] = None
    not_equals: Scalar = None
    is_in: list[Scalar] | None = Field(None, alias="in")
    not_in: list[Scalar] | None = None
    present: bool | None = Field(None, description="true: the field is there and not null.")

    @model_validator(mode="after")
    def _one_operator(self) -> Condition:
        given = [k for k in ("equals", "not_equals", "is_in", "not_in", "present")
                 if k in self.model_fields_set]
        if len(given) != 1:
            raise ValueError("a condition names a path and exactly one of equals, not_equals, "
                             f"in, not_in, present (got {given or 'none'})")
        return self

    def holds(self, record: Any) -> bool:
        value = dig(record, self.path)
        if "equals" in self.model_fields_set:
            return bool(value == self.equals)
        if "not_equals" in self.model_fields_set:
            return bool(value != self.not_equals)
        if self.is_in is not None:
            return value in self.is_in
        if self.not_in is not None:
            return value not in self.not_in
        return (value is not None) is self.present


class RecordMap(Strict):
    """Applied in this order: ``rename`` (a dotted path becomes a top-level field), ``set``
    (fixed values), ``remove`` (top-level fields)."""

    rename: dict[str, str] = Field(default_factory=dict)
    set: dict[str, Scalar] = Field(default_factory=dict)
    remove: list[str] = Field(default_factory=list)

    def apply(self, record: Any) -> Any:
        if not isinstance(record, dict):
            return record  # not an object: the stream's validation rejects it, as it is
        out = dict(record)
        for path, name in self.rename.items():
            value = dig(record, path)
            if "." not in path:  # a top-level field moves; a nested one is copied out
                out.pop(path, None)
            if value is not None:
                out[name] = value
        out.update(self.set)
        for name in self.remove:
            out.pop(name, None)
        return out


def kept(conditions: Sequence[Condition], record: Any) -> bool:
    """Whether every condition holds (no conditions: every record is kept)."""
    return all(c.holds(record) for c in conditions)
