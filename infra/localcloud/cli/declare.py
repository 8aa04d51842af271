"""``tributary sources new NAME --from-openapi FILE``: a starting declaration, from an OpenAPI
document (``tributary.sources.openapi`` guesses it), written to ``sources/NAME.yaml`` and
checked as ``tributary validate`` checks a declaration."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from localcloud.cli.common import console, fail, say
from localcloud.schedules import schedule_events, template_block
from localcloud.validate import check_declaration
from tributary.settings import get_settings
from tributary.sources.loader import DeclarationError, parse
from tributary.sources.openapi import (
    IDENTIFIER,
    MAX_IDENTIFIER,
    Note,
    OpenAPIError,
    declaration_from_openapi,
    describe,
    identifier,
    load_document,
    render,
)


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _notes(title: str, notes: list[Note], colour: str | None = None) -> None:
    if not notes:
        return
    console.print(title, highlight=False)
    for n in notes:
        line = f"  {n}"
        if colour:
            say(line, colour)
        else:
            console.print(escape(line), highlight=False, soft_wrap=True)


def new(name: Annotated[str, typer.Argument(
            help="The source's name (lower-case letters, digits and _): its file is "
                 "sources/NAME.yaml.")],
        from_openapi: Annotated[Path, typer.Option(
            "--from-openapi", help="The API's OpenAPI document, 3.0 or 3.1 (Swagger 2.0 "
                                   "too), JSON or YAML.")],
        out: Annotated[Path | None, typer.Option(
            help="Where to write it; default: NAME.yaml in the sources folder (the sources "
                 "setting).")] = None,
        base_url: Annotated[str | None, typer.Option(
            help="The API's base URL, for a document whose server is relative (or another "
                 "than its servers[0]).")] = None,
        force: Annotated[bool, typer.Option(
            "--force", help="Overwrite the file if there is one.")] = False) -> None:
    """Write a starting declaration from an OpenAPI document, and check it.

    A stream per GET operation that lists records; pagination, key, columns and auth are
    guessed, and each guess is said (in the file too, as comments). The file is checked as
    `tributary validate` checks a declaration: exit 0 only if it is valid."""
    if not IDENTIFIER.match(name) or len(name) > MAX_IDENTIFIER:
        fail(f"{name!r} is no source name: lower-case letters, digits and _, a letter first, "
             f"{MAX_IDENTIFIER} at most (e.g. {identifier(name, 'source')!r})", 2)
    folder = get_settings().sources_path
    path = out if out is not None else folder / f"{name}.yaml"
    if out is None and not folder.is_dir():
        fail(f"no sources folder at {folder}: run this in the project's folder, set "
             "TRIBUTARY_SOURCES_DIR, or give --out")
    if path.exists() and not force:
        fail(f"{_shown(path)} exists: --force overwrites it (or write elsewhere with --out)")
    try:
        text = from_openapi.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {from_openapi}: {exc.strerror if isinstance(exc, OSError) else exc}")
    try:
        document = load_document(text, str(from_openapi))
        declaration, notes = declaration_from_openapi(document, name, base_url=base_url)
    except OpenAPIError as exc:
        fail(f"{from_openapi}: {exc}" if not str(exc).startswith(str(from_openapi))
             else str(exc))
    origin = f"{from_openapi.name}, {describe(document)}"
    written = render(declaration, notes, origin=origin)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(written, encoding="utf-8")

    streams = declaration["streams"]
    console.print(f"wrote {escape(_shown(path))}: {len(streams)} stream(s) from "
                  f"{escape(origin)}", highlight=False)
    t = Table("stream", "endpoint", "pagination", "key", "table")
    for s in streams:
        key = s["primary_key"]
        t.add_row(s["name"], s["endpoint"], s["pagination"]["style"],
                  key if isinstance(key, str) else ", ".join(key), s["table"])
    console.print(t)
    _notes("guessed:", [n for n in notes if n.kind == "guess"])
    _notes("warnings (check these before it runs):",
           [n for n in notes if n.kind == "warning"], "yellow")
    _notes("left out:", [n for n in notes if n.kind == "skipped"])

    problems = check_declaration(path)
    if problems:
        for p in problems:
            say(p)
        unset = sorted({v for v in re.findall(r"\$\{([A-Z0-9_]+)\}", written)
                        if v not in os.environ})
        live = path.resolve().parent == folder.resolve()
        fail(f"{_shown(path)} is written but not valid yet: "
             + (f"set {', '.join(unset)} (where its secrets come from), then "
                if unset else "fix what is named above, then ")
             + "run `tributary validate`"
             + (f". Until then no declaration in {folder} loads: `tributary sources`, "
                "deploy and the running stack's fetches fail (its functions see a variable "
                "set before `tributary stack up`, or `stack restart runtime`)"
                if live else ""))
    console.print(f"[green]{escape(_shown(path))} is valid[/] (the checks `tributary "
                  "validate` makes of a declaration)", highlight=False)
    try:
        source = parse(path.read_text(), str(path))
    except DeclarationError:
        return
    console.print("next: it is polled once template.yaml's FetchFunction has its schedule "
                  "(`tributary validate` asks for it too):", highlight=False)
    print(template_block(schedule_events({source.name: source})))
