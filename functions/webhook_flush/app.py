"""Webhook flush: move kept events to the lake as partitioned Parquet batches."""

from typing import Any

from tributary.clients import aws_client, pg_connect
from tributary.settings import get_settings
from tributary.webhook.flush import flush


def handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    s = get_settings()
    with pg_connect() as conn:
        return flush(conn, aws_client("s3"), s.lake_bucket, max_rows=200_000,
                     min_rows=s.webhook_flush_rows, min_age_s=s.webhook_flush_age_s)
