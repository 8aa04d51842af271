"""Athena's SQL (Trino) read into what this service runs.

- A query (``SELECT``, ``WITH``, ``VALUES``) is translated to DuckDB's dialect by sqlglot;
  ``awsdatacatalog.`` before a table is dropped, since the lake's tables are the engine's.
- ``UNLOAD (query) TO 's3://...' WITH (format = ...)`` becomes an ``Unload``.
- ``SHOW TABLES``, ``SHOW DATABASES`` (or ``SCHEMAS``), ``DESCRIBE t`` and ``SHOW COLUMNS
  FROM t`` become a ``CatalogQuery``, answered from the Glue catalog.
Anything else (writes, DDL) fails as Athena's ``NOT_SUPPORTED`` would: the lake is written by
the pipeline, never by a query.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Literal

import sqlglot
from sqlglot import exp

from localcloud.athena.errors import QueryFailed

CATALOG = "awsdatacatalog"
FORMATS = {"PARQUET", "TEXTFILE", "JSON"}
COMPRESSIONS = {"GZIP", "SNAPPY", "ZSTD", "NONE"}
# sqlglot logs a warning for every statement it keeps as a bare command (SHOW ...).
logging.getLogger("sqlglot").setLevel(logging.ERROR)

_UNLOAD = re.compile(r"^\s*UNLOAD\s*\((?P<query>.*)\)\s*TO\s*'(?P<to>[^']*)'\s*"
                     r"(?:WITH\s*\((?P<props>.*)\))?\s*;?\s*$", re.I | re.S)
_PROPERTY = re.compile(r"\s*(?P<key>\w+)\s*=\s*'(?P<value>(?:[^']|'')*)'\s*(?:,|$)", re.S)
_SHOW = re.compile(
    r"^\s*(?:SHOW\s+(?P<list>TABLES|DATABASES|SCHEMAS)(?:\s+(?:IN|FROM)\s+(?P<db>[\w\"`.]+))?"
    r"(?:\s+(?:LIKE\s+)?'(?P<like>[^']*)')?"
    r"|(?:DESCRIBE|DESC)\s+(?P<described>[\w\"`.]+)"
    r"|SHOW\s+COLUMNS\s+(?:IN|FROM)\s+(?P<columns>[\w\"`.]+))\s*;?\s*$", re.I | re.S)


@dataclass(frozen=True)
class Select:
    sql: str  # in DuckDB's dialect


@dataclass(frozen=True)
class Unload:
    query: Select
    location: str
    format: str
    compression: str
    delimiter: str


@dataclass(frozen=True)
class CatalogQuery:
    what: Literal["tables", "databases", "describe", "columns"]
    name: str | None = None  # a database for ``tables``, a table otherwise
    like: str | None = None


Statement = Select | Unload | CatalogQuery


def read(sql: str) -> Statement:
    """What ``sql`` asks; ``QueryFailed`` (``SYNTAX_ERROR``, ``NOT_SUPPORTED``) if it cannot
    run here."""
    unload = _UNLOAD.match(sql)
    if unload:
        return _unload(unload)
    show = _SHOW.match(sql)
    if show:
        return _catalog(show)
    return _select(sql)


def _select(sql: str) -> Select:
    try:
        trees = sqlglot.parse(sql, read="trino")
    except sqlglot.errors.ParseError as exc:
        raise QueryFailed(f"SYNTAX_ERROR: {_first_error(exc)}") from None
    found = [t for t in trees if t is not None]
    if len(found) != 1:
        raise QueryFailed(f"SYNTAX_ERROR: send exactly one statement (got {len(found)})")
    tree = found[0]
    if not isinstance(tree, exp.Query):
        raise QueryFailed(f"NOT_SUPPORTED: {tree.key.upper()} statements do not run here: "
                          "the lake is read-only to queries (SELECT, UNLOAD, SHOW and "
                          "DESCRIBE run)")
    for table in tree.find_all(exp.Table):
        if table.catalog.lower() == CATALOG:
            table.set("catalog", None)
    return Select(tree.sql(dialect="duckdb"))


def _first_error(exc: sqlglot.errors.ParseError) -> str:
    err = exc.errors[0] if exc.errors else {}
    where = f"line {err.get('line', 1)}:{err.get('col', 1)}: " if err else ""
    return where + str(err.get("description", exc)).strip()


def _unload(m: re.Match[str]) -> Unload:
    props = {k.lower(): v.replace("''", "'") for k, v in
             ((p["key"], p["value"]) for p in _PROPERTY.finditer(m["props"] or ""))}
    unknown = set(props) - {"format", "compression", "field_delimiter"}
    if unknown:
        raise QueryFailed(f"NOT_SUPPORTED: UNLOAD property {sorted(unknown)[0]!r} is not "
                          "supported here (format, compression and field_delimiter are)")
    fmt = props.get("format", "PARQUET").upper()
    if fmt not in FORMATS:
        raise QueryFailed(f"NOT_SUPPORTED: UNLOAD format {fmt!r}: use one of "
                          f"{', '.join(sorted(FORMATS))}")
    compression = props.get("compression", "GZIP").upper()
    if compression not in COMPRESSIONS:
        raise QueryFailed(f"INVALID_SESSION_PROPERTY: compression {compression!r}: use one "
                          f"of {', '.join(sorted(COMPRESSIONS))}")
    if not m["to"].startswith("s3://") or len(m["to"]) <= len("s3://"):
        raise QueryFailed(f"INVALID_TABLE_PROPERTY: UNLOAD goes TO an s3:// location, not "
                          f"{m['to']!r}")
    return Unload(_select(m["query"]), m["to"].rstrip("/") + "/", fmt, compression,
                  props.get("field_delimiter", "\x01"))


def _catalog(m: re.Match[str]) -> CatalogQuery:
    if m["list"]:
        what: Literal["tables", "databases"] = (
            "tables" if m["list"].upper() == "TABLES" else "databases")
        return CatalogQuery(what, _name(m["db"]), m["like"])
    if m["described"]:
        return CatalogQuery("describe", _name(m["described"]))
    return CatalogQuery("columns", _name(m["columns"]))


def _name(raw: str | None) -> str | None:
    """A possibly qualified, possibly quoted name, unquoted and lower-cased as Athena does."""
    return raw.replace('"', "").replace("`", "").lower() if raw else None
