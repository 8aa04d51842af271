"""The dbt project in ``analytics/``: its DuckDB plugin and the runner behind ``models run``."""
