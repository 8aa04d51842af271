"""Live sources: a table upstream keeps and broadcasts each change to over a WebSocket.

A declaration says where the table is read in time windows (``GET <endpoint>?start=&stop=``,
every row with ``start <= time < stop``) and where its change stream is (``socket``), which
column is the key and which the time (epoch seconds), and how the copy is kept exact:
windows of ``window_s`` over ``plan_s`` around now (plus the open ends), re-read
``repair_windows`` at a time every ``repair_every_s`` and all of them after a gap.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from tributary.sources.auth import Auth, BodyAuth, NoAuth
from tributary.sources.spec import Column, HookRef, Identifier, Strict


class ChangeStream(Strict):
    name: Identifier
    style: Literal["change_stream"] = "change_stream"
    endpoint: str = Field(pattern=r"^/", description="Rows in a time window (GET).")
    socket: str = Field(pattern=r"^/", description="The WebSocket path of the changes.")
    start_param: str = "start"
    stop_param: str = "stop"
    primary_key: Identifier
    time_column: Identifier = Field(description="Epoch seconds; windows are ranges of it.")
    table: Identifier
    columns: dict[Identifier, Column]
    window_s: int = Field(86_400, gt=0)
    plan_s: tuple[int, int] = Field((-86_400, 31 * 86_400), description="The windows cover "
                                    "now + this range (seconds); two open-ended windows "
                                    "cover the rest.")
    repair_every_s: float = Field(60.0, gt=0)
    repair_windows: int = Field(4, gt=0, description="Windows re-read per periodic repair.")
    message: HookRef | None = Field(None, description="A parser for another message shape; "
                                    "default: {type: insert|delete, ...row} and "
                                    "{type: mutate, old, new}.")

    @model_validator(mode="after")
    def _columns_agree(self) -> ChangeStream:
        for attr in ("primary_key", "time_column"):
            if getattr(self, attr) not in self.columns:
                raise ValueError(f"{attr} {getattr(self, attr)!r} is not among the columns")
        if self.columns[self.time_column].type != "timestamp":
            raise ValueError(f"time_column {self.time_column!r} must be a timestamp column")
        if self.plan_s[0] >= self.plan_s[1]:
            raise ValueError("plan_s must be (from, to) with from < to")
        return self

    @property
    def changes_table(self) -> str:
        return f"{self.table}_changes"


class LiveSource(Strict):
    name: Identifier
    kind: Literal["live"]
    base_url: str = Field(pattern=r"^https?://")
    auth: Auth = NoAuth()
    timeout_s: float = Field(30.0, gt=0)
    streams: list[ChangeStream] = Field(min_length=1, max_length=1)

    @field_validator("auth")
    @classmethod
    def _no_body(cls, auth: Auth) -> Auth:
        if isinstance(auth, BodyAuth):
            raise ValueError("a live source reads with GET and a WebSocket, which have no body "
                             "for a key: use header, query, cookie or a token kind")
        return auth

    @property
    def stream(self) -> ChangeStream:
        return self.streams[0]

    @property
    def socket_url(self) -> str:
        return "ws" + self.base_url.removeprefix("http").rstrip("/") + self.stream.socket
