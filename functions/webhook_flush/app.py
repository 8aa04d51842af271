"""Webhook flush: move kept events to the lake as batches appended to its Delta table."""

from typing import Any

from tributary.clients import pg_connect
from tributary.load.lake import Lake
from tributary.settings import get_settings
from tributary.webhook.flush import flush


def handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    s = get_settings()
    with pg_connect() as conn:
        return flush(conn, Lake.from_env(), max_rows=200_000,
                     min_rows=s.webhook_flush_rows, min_age_s=s.webhook_flush_age_s)
