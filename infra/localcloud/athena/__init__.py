"""Athena's API on the emulator's endpoint, answered by Tributary's own query engine.

The emulator forwards every ``AmazonAthena.*`` call here (``server``). ``service`` holds the
operations; ``dialect`` turns Athena's SQL (Trino) into DuckDB's and recognises what is
answered from the Glue catalog or written elsewhere (``SHOW``, ``DESCRIBE``, ``UNLOAD``);
``executions`` keeps every execution on disk; ``results`` writes and pages the results as
Athena does; ``types`` names columns and values in Athena's terms.
"""
