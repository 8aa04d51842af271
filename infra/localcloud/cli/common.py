"""What every command shares: the console, the ``--json`` flag, and how a user's mistake is
told: one line saying what to do, an exit code, no traceback (unless ``--debug``)."""

from __future__ import annotations

import sys
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

# Not a terminal (a pipe, a CI log): wide enough that no table cuts a stream's name.
console = Console(width=None if sys.stdout.isatty() else 200)
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def say(message: str, colour: str = "red") -> None:
    """``message`` as it is (``streams[orders]`` is not markup), in ``colour``."""
    console.print(f"[{colour}]{escape(message)}[/]", highlight=False, soft_wrap=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """Stop the command: ``message`` in red (on stdout, beside what the command printed),
    then exit ``code``."""
    say(message)
    raise typer.Exit(code)
