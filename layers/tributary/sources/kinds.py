"""Every kind of source a declaration may be, as one pydantic union on ``kind``.

``kind`` defaults to ``pulled`` (fetched page by page: ``spec.Source``); ``live`` is a table
kept by its change stream (``live.LiveSource``). A new kind: a model with
``kind: Literal["<kind>"]``, tagged into ``Declaration`` below; the loader needs no change.
"""

from __future__ import annotations

from typing import Annotated, Any, get_args

from pydantic import Discriminator, Tag, TypeAdapter

from tributary.sources.live import LiveSource
from tributary.sources.spec import Source, pagination_styles


def _kind(value: Any) -> str:
    return str(value.get("kind", "pulled") if isinstance(value, dict) else value.kind)


Declaration = Annotated[
    Annotated[Source, Tag("pulled")] | Annotated[LiveSource, Tag("live")],
    Discriminator(_kind, custom_error_type="unknown_kind",
                  custom_error_message="kind is one of: pulled (the default), live"),
]
DECLARATION: TypeAdapter[Source | LiveSource] = TypeAdapter(Declaration)


def branch_labels() -> frozenset[str]:
    """The names pydantic puts in an error's location for a union's branch: every kind and
    every pagination style. They are not fields, so an error message leaves them out."""
    kinds = {get_args(branch)[1].tag for branch in get_args(get_args(Declaration)[0])}
    return frozenset(kinds | set(pagination_styles()))
