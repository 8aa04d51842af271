"""Athena's API on the emulator's endpoint, answered by Tributary's own query engine.

The emulator forwards every Athena request here (``server``), in either protocol SDKs speak
(``protocol``: JSON 1.1 or REST-JSON, read from botocore's model). ``service`` holds the
operations; ``dialect`` turns Athena's SQL (Trino) into DuckDB's and recognises what is
answered from the Glue catalog or written elsewhere (``SHOW``, ``DESCRIBE``, ``UNLOAD``);
``executions`` keeps every execution on disk; ``results`` writes and pages the results as
Athena does; ``types`` names columns and values in Athena's terms.
"""
