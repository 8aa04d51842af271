"""Webhook ingestion: validate pushed events, keep each once, land them as partitioned Parquet."""
