"""Athena's SQL read into what the service runs."""

from __future__ import annotations

import pytest

from localcloud.athena import dialect
from localcloud.athena.errors import QueryFailed


def test_trino_functions_become_duckdb_ones_and_the_catalog_name_goes() -> None:
    read = dialect.read("SELECT date_format(occurred_at, '%Y-%m-%d'), approx_distinct(id) "
                        "FROM awsdatacatalog.tributary.events")
    assert isinstance(read, dialect.Select)
    assert "STRFTIME(occurred_at" in read.sql and "APPROX_COUNT_DISTINCT(id)" in read.sql
    assert "FROM tributary.events" in read.sql and "awsdatacatalog" not in read.sql.lower()


def test_a_postgres_table_keeps_its_catalog() -> None:
    read = dialect.read("SELECT * FROM pg.public.sessions")
    assert isinstance(read, dialect.Select) and "pg.public.sessions" in read.sql


def test_unload_with_its_properties_and_athenas_defaults() -> None:
    read = dialect.read("UNLOAD (SELECT id FROM events WHERE type = 'click') "
                        "TO 's3://b/out' WITH (format = 'TEXTFILE', field_delimiter = '|', "
                        "compression = 'none')")
    assert read == dialect.Unload(dialect.Select("SELECT id FROM events WHERE type = 'click'"),
                                  "s3://b/out/", "TEXTFILE", "NONE", "|")
    default = dialect.read("unload (select 1) to 's3://b/x/'")
    assert isinstance(default, dialect.Unload)
    assert (default.format, default.compression) == ("PARQUET", "GZIP")


@pytest.mark.parametrize(("sql", "words"), [
    ("UNLOAD (SELECT 1) TO 's3://b/x/' WITH (format = 'ORC')", "NOT_SUPPORTED: UNLOAD format"),
    ("UNLOAD (SELECT 1) TO 's3://b/x/' WITH (partitioned_by = 'x')", "'partitioned_by'"),
    ("UNLOAD (SELECT 1) TO '/tmp/x' WITH (format = 'JSON')", "TO an s3:// location"),
    ("UNLOAD (SELECT 1) TO 's3://b/x/' WITH (compression = 'lz4')", "compression 'LZ4'"),
    ("INSERT INTO events VALUES (1)", "NOT_SUPPORTED: INSERT"),
    ("DROP TABLE events", "NOT_SUPPORTED: DROP"),
    ("SELECT 1; SELECT 2", "exactly one statement (got 2)"),
    ("SELEC 1", "SYNTAX_ERROR: line 1:"),
])
def test_what_cannot_run_here_says_why(sql: str, words: str) -> None:
    with pytest.raises(QueryFailed, match=words.replace("(", r"\(").replace(")", r"\)")):
        dialect.read(sql)


@pytest.mark.parametrize(("sql", "expected"), [
    ("SHOW TABLES", dialect.CatalogQuery("tables")),
    ("show tables in tributary 'ev*'", dialect.CatalogQuery("tables", "tributary", "ev*")),
    ("SHOW SCHEMAS", dialect.CatalogQuery("databases")),
    ("SHOW DATABASES;", dialect.CatalogQuery("databases")),
    ('DESCRIBE "tributary"."events"', dialect.CatalogQuery("describe", "tributary.events")),
    ("SHOW COLUMNS FROM Events", dialect.CatalogQuery("columns", "events")),
])
def test_catalog_statements(sql: str, expected: dialect.CatalogQuery) -> None:
    assert dialect.read(sql) == expected
