"""dlt's side of the peer benchmark; runs inside dlt's own virtual environment.

    python dlt_run.py <upstream url> <api key> <postgres dsn> <dataset> [--typed]

Loads DataSync's ``events`` listing with dlt's ``rest_api`` source as its documentation
recommends for a cursor API: the cursor paginator, ``data`` as the selector, merge on ``id``
into PostgreSQL. ``--typed`` declares ``timestamp`` a timestamp column and freezes data types
(what a user who needs real timestamps does). Prints one JSON line: rows, seconds, error.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time

import dlt
from dlt.sources.rest_api import rest_api_source


def main() -> None:
    url, key, dsn, dataset = sys.argv[1:5]
    typed = "--typed" in sys.argv
    events: dict = {"name": "events", "endpoint": {"path": "api/v1/events"}}
    if typed:
        events["columns"] = {"timestamp": {"data_type": "timestamp"}}
        events["schema_contract"] = {"data_type": "freeze"}
    source = rest_api_source({
        "client": {"base_url": url, "headers": {"X-API-Key": key},
                   "paginator": {"type": "cursor", "cursor_path": "pagination.nextCursor",
                                 "cursor_param": "cursor"}},
        "resource_defaults": {"primary_key": "id", "write_disposition": "merge",
                              "endpoint": {"data_selector": "data",
                                           "params": {"limit": 5000}}},
        "resources": [events],
    })
    pipeline = dlt.pipeline(pipeline_name=f"peer_{dataset}", dataset_name=dataset,
                            destination=dlt.destinations.postgres(credentials=dsn),
                            pipelines_dir=tempfile.mkdtemp(prefix="dlt-peer-"))
    started = time.perf_counter()
    error = None
    try:
        pipeline.run(source)
    except Exception as exc:  # noqa: BLE001 - the benchmark reports how it failed
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        error = f"{type(exc).__name__}: {' / '.join(lines[:4])[:600]}"
    seconds = time.perf_counter() - started
    rows = 0
    try:
        with pipeline.sql_client() as client:
            # Qualified: unqualified, an absent dataset table falls through to public.events.
            table = client.make_qualified_table_name("events")
            rows = client.execute_sql(f"SELECT count(*) FROM {table}")[0][0]
    except Exception:  # noqa: BLE001 - no table: nothing was loaded
        rows = 0
    print(json.dumps({"rows": rows, "seconds": seconds, "error": error}))


if __name__ == "__main__":
    main()
