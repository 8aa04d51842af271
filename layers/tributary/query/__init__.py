"""Read-only SQL over the lake and PostgreSQL (DuckDB)."""
