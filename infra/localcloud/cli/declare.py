"""``tributary sources new NAME --from-openapi FILE | --sample URL|FILE``: a starting
declaration, from an OpenAPI document (``tributary.sources.openapi`` guesses it) or from one
sample answer (``tributary.schema.sample`` infers it), written to ``sources/NAME.yaml`` and
checked as ``tributary validate`` checks a declaration."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.markup import escape
from rich.table import Table

from localcloud.cli.common import console, fail, say
from localcloud.schedules import schedule_events, template_block
from localcloud.validate import check_declaration
from tributary.schema.sample import SampleError, declaration_from_sample
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


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {path}: {exc.strerror if isinstance(exc, OSError) else exc}")


def _from_openapi(path: Path, name: str, base_url: str | None
                  ) -> tuple[dict[str, Any], list[Note], str]:
    text = _read(path)
    try:
        document = load_document(text, str(path))
        declaration, notes = declaration_from_openapi(document, name, base_url=base_url)
    except OpenAPIError as exc:
        fail(f"{path}: {exc}" if not str(exc).startswith(str(path)) else str(exc))
    return declaration, notes, f"{path.name}, {describe(document)}"


def _from_sample(sample: str, name: str, url: str | None, headers: list[str]
                 ) -> tuple[dict[str, Any], list[Note], str]:
    fetched = sample.startswith(("http://", "https://"))
    if fetched:
        if url is not None:
            fail("--url is for a sample FILE: a sample URL is where the answer comes from", 2)
        sent: dict[str, str] = {}
        for h in headers:
            key, sep, value = h.partition(":")
            if not sep or not key.strip():
                fail(f"--header {key.strip() or '?'}: give it as 'Name: value'", 2)
            sent[key.strip()] = value.strip()
        try:
            answer = httpx.get(sample, headers=sent, timeout=30.0, follow_redirects=True)
        except httpx.HTTPError as exc:
            fail(f"GET {sample}: {type(exc).__name__}: {exc}")
        if answer.status_code != 200:
            fail(f"GET {sample} answered {answer.status_code}: a sample needs a 200 (is "
                 "--header missing the API's credentials?)")
        text, where, url = answer.text, sample, sample
    else:
        if url is None:
            fail("a sample FILE needs --url, the listing's URL it came from (base URL and "
                 "endpoint are read from it)", 2)
        text, where = _read(Path(sample)), sample
    try:
        body = json.loads(text)
    except ValueError as exc:
        fail(f"{where}: no JSON ({exc})")
    try:
        declaration, notes = declaration_from_sample(body, name, url)
    except SampleError as exc:
        fail(f"{where}: {exc}")
    return declaration, notes, f"a sample ({Path(sample).name if not fetched else sample})"


def new(name: Annotated[str, typer.Argument(
            help="The source's name (lower-case letters, digits and _): its file is "
                 "sources/NAME.yaml.")],
        from_openapi: Annotated[Path | None, typer.Option(
            "--from-openapi", help="The API's OpenAPI document, 3.0 or 3.1 (Swagger 2.0 "
                                   "too), JSON or YAML.")] = None,
        sample: Annotated[str | None, typer.Option(
            "--sample", help="A listing's URL (fetched once, GET) or a file holding one of "
                             "its answers (JSON): one stream, its columns inferred from the "
                             "records.")] = None,
        url: Annotated[str | None, typer.Option(
            help="With --sample FILE: the URL the answer came from.")] = None,
        header: Annotated[list[str] | None, typer.Option(
            help="With --sample URL: a header to send, 'Name: value' (repeatable); its "
                 "value is never written or printed.")] = None,
        out: Annotated[Path | None, typer.Option(
            help="Where to write it; default: NAME.yaml in the sources folder (the sources "
                 "setting).")] = None,
        base_url: Annotated[str | None, typer.Option(
            help="The API's base URL, for a document whose server is relative (or another "
                 "than its servers[0]).")] = None,
        force: Annotated[bool, typer.Option(
            "--force", help="Overwrite the file if there is one.")] = False) -> None:
    """Write a starting declaration from an OpenAPI document or a sample answer, and check it.

    From a document, a stream per GET operation that lists records; from a sample, one
    stream. Pagination, key, columns and auth are guessed, and each guess is said (in the
    file too, as comments). The file is checked as `tributary validate` checks a
    declaration: exit 0 only if it is valid."""
    if (from_openapi is None) == (sample is None):
        fail("give --from-openapi FILE or --sample URL|FILE (one of them)", 2)
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
    if from_openapi is not None:
        declaration, notes, origin = _from_openapi(from_openapi, name, base_url)
    else:
        assert sample is not None
        declaration, notes, origin = _from_sample(sample, name, url, header or [])
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
