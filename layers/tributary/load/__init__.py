"""Load: upsert into PostgreSQL and write curated Parquet to the lake."""
