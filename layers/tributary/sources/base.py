"""What every part of a declaration is: strict (unknown fields refused) and frozen."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """A part of a declaration: unknown fields are refused, values never change."""

    model_config = ConfigDict(extra="forbid", frozen=True)
