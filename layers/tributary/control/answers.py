"""What the sources API answers, as its OpenAPI document states it (``api.py`` sends these
shapes; the schemathesis test holds the two together)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class Reason(BaseModel):
    problem: str
    records: int
    example_key: str = Field(description="A raw page holding such a record")


class Freshness(BaseModel):
    last_changed_upstream: str | None = Field(description="ISO time a fetch last saw a change")
    last_fetched: str | None = Field(description="ISO time the last fetch pass ended")
    lag_s: float | None = Field(description="Seconds since that fetch: how stale the copy may be")


class StreamFigures(BaseModel):
    stream: str = Field(description="<source>/<stream>")
    upstream_total: int
    partitions: int
    partitions_done: int
    fetched: int
    pages_landed: int
    pages_loaded: int
    transformed: int
    changed: int
    rejected: int
    lake_pending: int
    paused: bool
    continuous: bool = Field(description="A snapshot: polled on and on, never finished")
    reject_threshold: float
    top_reasons: list[Reason]
    fetched_at: float | None
    changed_at: float | None
    reject_share: float
    failed: bool = Field(description="Rejects over the threshold")
    settled: bool
    freshness: Freshness


class PulledSource(BaseModel):
    kind: Literal["pulled"]
    paused: bool
    streams: dict[str, StreamFigures]


class LiveSource(BaseModel):
    kind: Literal["live"]
    paused: bool


class Queue(BaseModel):
    visible: int
    in_flight: int
    dead_letter: int


class Sources(BaseModel):
    sources: dict[str, PulledSource | LiveSource]
    settled: bool = Field(description="Every stream fetched to the end and loaded")
    queue: Queue


class Switched(BaseModel):
    source: str
    paused: bool
    schedule: Literal["ENABLED", "DISABLED"]


class Started(BaseModel):
    source: str
    started: Literal[True]
