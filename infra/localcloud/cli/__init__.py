"""``tributary``: run the local cloud and the functions on it.

Commands live by job: ``stack`` (the cloud's lifecycle and addresses), ``pipeline``
(ingesting, sources, functions), ``declare`` (``sources new``: a declaration from an OpenAPI
document), ``data`` (SQL, rejects, the lake, dbt), ``checks`` (``validate``), ``ship``
(``build``). ``app.py`` holds the app and turns a user's mistake into one line.
"""

from __future__ import annotations

from localcloud.cli import checks, data, declare, pipeline, ship, stack
from localcloud.cli.app import app, main

app.add_typer(stack.stack_app, name="stack")
app.add_typer(data.models_app, name="models")
app.add_typer(pipeline.sources_app, name="sources")
pipeline.sources_app.command("new")(declare.new)
for command in (stack.endpoints, stack.viewer, stack.subscribe, pipeline.deploy, pipeline.invoke,
                pipeline.heartbeat, pipeline.ingest, pipeline.pause, pipeline.resume,
                pipeline.status, pipeline.stats, data.query, data.replay,
                data.compact, data.relake, checks.validate, ship.build):
    app.command()(command)
app.command("rejects")(data.rejects_cmd)

__all__ = ["app", "main"]
