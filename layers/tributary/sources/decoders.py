"""How a response body becomes something records can be read from: JSON (the default), JSON
lines or CSV with a header, optionally gzip-compressed (report and export files often are).

The raw zone keeps the body as the API sent it; the fetch (for paging and child partitions)
and the transform (for loading) both read it through the stream's decoder, so they always
agree on its records.
"""

from __future__ import annotations

import csv
import gzip
import io
from typing import Any, Literal

import orjson
from pydantic import Field

from tributary.sources.base import Strict

GZIP_MAGIC = b"\x1f\x8b"


class UndecodableBody(ValueError):
    """The body is not what the stream's decoder expects; the message says where."""


class Decoder(Strict):
    format: Literal["json", "jsonl", "csv"] = Field(
        "json", description="JSON: one document (records at ``records_path``); JSON lines "
        "and CSV (its first row names the columns): one record per line.")
    compression: Literal["auto", "gzip", "none"] = Field(
        "auto", description="auto: gunzipped when the body starts as gzip does.")
    delimiter: str = Field(",", min_length=1, max_length=1, description="CSV only.")

    @property
    def is_json(self) -> bool:
        return self.format == "json"


JSON = Decoder()


def decode(raw: bytes, decoder: Decoder = JSON) -> Any:
    """The body as a JSON value: the document, or the list of records of a line format."""
    if decoder.compression == "gzip" or (decoder.compression == "auto"
                                          and raw.startswith(GZIP_MAGIC)):
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise UndecodableBody(f"not gzip: {exc}") from None
    try:
        if decoder.format == "json":
            return orjson.loads(raw)
        if decoder.format == "jsonl":
            return [orjson.loads(line) for line in raw.splitlines() if line.strip()]
    except orjson.JSONDecodeError as exc:
        raise UndecodableBody(f"not {decoder.format}: {exc}") from None
    try:
        text = raw.decode("utf-8-sig")  # exports often begin with a byte-order mark
    except UnicodeDecodeError as exc:
        raise UndecodableBody(f"CSV that is not UTF-8: {exc}") from None
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=decoder.delimiter)
    rows = list(reader)
    if any(None in row for row in rows):  # more cells than the header names
        line = next(i for i, row in enumerate(rows) if None in row) + 2
        raise UndecodableBody(f"CSV line {line} has more cells than its header")
    # CSV cannot tell an empty text from a missing value: an empty cell reads as null.
    return [{k: v if v != "" else None for k, v in row.items()} for row in rows]
