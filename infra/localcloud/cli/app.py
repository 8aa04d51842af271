"""The ``tributary`` app and how it ends: a user's mistake (the stack not running, an unknown
source, a broken declaration, a refused AWS call) is one line saying what to do and exit 1;
a traceback is for a real bug, or for anything with ``--debug``."""

from __future__ import annotations

import os
import sys
import traceback
from typing import Annotated

import botocore.exceptions
import httpx
import psycopg
import typer

from localcloud.cli.common import say
from localcloud.endpoints import masked
from tributary.control.sources import NotPulled, Paused
from tributary.settings import get_settings
from tributary.sources.loader import DeclarationError

app = typer.Typer(help="Tributary: own copies of your third-party data.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
_debug = {"on": False}
START = "is the local cloud running? start it with `tributary stack up`"


@app.callback()
def _options(debug: Annotated[bool, typer.Option(
        "--debug", help="Show the traceback of any error.")] = False) -> None:
    _debug["on"] = debug


def explain(exc: BaseException) -> str | None:
    """One line for a user's mistake; None for anything else (a bug)."""
    settings = get_settings()
    if isinstance(exc, botocore.exceptions.EndpointConnectionError):
        return f"cannot reach the AWS emulator at {settings.emulator_url}: {START}"
    if isinstance(exc, httpx.ConnectError):
        return f"cannot reach the function runtime at {settings.runtime_url}: {START}"
    if isinstance(exc, psycopg.OperationalError):
        return f"cannot reach PostgreSQL at {masked(settings.pg_dsn.get_secret_value())}: " \
               f"{START} ({str(exc).strip().splitlines()[-1]})"
    if isinstance(exc, DeclarationError | NotPulled):
        return str(exc)
    if isinstance(exc, Paused):
        return f"{exc} (`tributary resume {exc.name}`)"
    if isinstance(exc, botocore.exceptions.ClientError):
        err = exc.response.get("Error", {})
        return f"{exc.operation_name} refused: {err.get('Code')}: {err.get('Message')}"
    return None


def main() -> None:
    """Run a command, then leave without interpreter finalization.

    With deltalake's native runtime and DuckDB's loaded in one process, tearing the
    interpreter down sometimes aborts ("terminate called without an active exception"),
    which loses buffered output and turns success into SIGABRT. Everything a command does is
    finished and flushed by the time it returns, so skipping finalization loses nothing.
    """
    try:
        app()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except Exception as exc:  # noqa: BLE001 - every error ends here, told or traced
        message = explain(exc)
        if message is None or _debug["on"]:
            traceback.print_exc()
        if message is not None:
            say(message)
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
