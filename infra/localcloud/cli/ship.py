"""``tributary build``: every function as AWS would run it, checked and measured."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from localcloud.build import Artifact, BuildError, check
from localcloud.build import build as build_all
from localcloud.cli.common import JsonFlag, console, fail, say
from localcloud.config import lambda_environment
from localcloud.images import ImageError
from localcloud.template import load_template
from tributary.settings import get_settings


def build(zip_only: Annotated[bool, typer.Option(
              help="Build the zip functions and layers only (no container engine needed).")]
          = False,
          image_base: Annotated[str | None, typer.Option(
              help="The image functions' base image, e.g. public.ecr.aws/lambda/python:3.13; "
                   "default: one made here (no registry needed).")] = None,
          as_json: JsonFlag = False) -> None:
    """Build every function of template.yaml (zip: SAM CLI, images: Podman), load each
    handler inside its own artifact, and print each one's size against Lambda's limit.
    Exit 1 naming any artifact over its limit or any handler that cannot load."""
    settings = get_settings()
    source = settings.template.resolve()
    template = load_template(source, region=settings.region)
    out = settings.home_dir / "build"
    try:
        artifacts = build_all(template, source, out, settings.build_tools,
                              images_too=not zip_only, image_base=image_base)
    except (BuildError, ImageError) as exc:
        fail(str(exc))
    built = {a.function for a in artifacts}
    problems = {fn.name: check(fn, out, lambda_environment(fn, settings))
                for fn in template.functions if fn.name in built}
    if as_json:
        print(json.dumps({"build_dir": str(out), "artifacts": [
            a.as_dict() | {"loads": problems[a.function] is None,
                           "load_error": problems[a.function]} for a in artifacts]}))
    else:
        console.print(_table(artifacts, problems))
    over = [a.function for a in artifacts if not a.fits]
    broken = sorted(name for name, p in problems.items() if p)
    for name in broken:
        say(f"{name}: its handler does not load inside its artifact: {problems[name]}")
    if over or broken:
        fail(f"not shippable: over Lambda's limit: {over or 'none'}; cannot load: "
             f"{broken or 'none'}")
    if not as_json:
        console.print(f"built in {out}; run them with `tributary stack up --from-build`")


def _table(artifacts: list[Artifact], problems: dict[str, str | None]) -> Table:
    t = Table("function", "package", "unzipped MB (with layers)", "limit MB", "zipped MB",
              "layers", "loads", title="artifacts")
    for a in artifacts:
        colour = "green" if a.fits else "red"
        t.add_row(a.function, a.package_type, f"[{colour}]{a.unzipped_mb:,.1f}[/]",
                  f"{a.limit_mb:,.0f}", "-" if a.zipped_mb is None else f"{a.zipped_mb:,.1f}",
                  str(a.layers), "yes" if problems.get(a.function) is None else "[red]no[/]")
    return t



