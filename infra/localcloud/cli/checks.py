"""``tributary validate``: everything a user edits, checked offline before it is deployed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from localcloud.cli.common import console, fail, say
from localcloud.validate import check_schedules, check_sources
from localcloud.validate import validate as check_template
from tributary.analytics.runner import parse as check_models
from tributary.settings import get_settings


def validate(template: Annotated[str | None, typer.Argument(
                 help="The template; default: the template setting.")] = None,
             sources: Annotated[str | None, typer.Option(
                 help="The declarations' folder; default: the sources setting.")] = None,
             models: Annotated[str | None, typer.Option(
                 help="The dbt project; default: analytics/ beside the template.")] = None,
             ) -> None:
    """Check template.yaml (SAM translate, cfn-lint, auth on every route), every source
    declaration, that each pulled source has its schedule (and each schedule a source), and
    the dbt project, offline. Exit 1 on any finding."""
    settings = get_settings()
    path = Path(template) if template else settings.template
    folder = Path(sources) if sources else settings.sources_path
    if not path.is_file():
        fail(f"no template at {path}: run this in the project's folder, name the template, "
             "or set TRIBUTARY_TEMPLATE")
    project = Path(models) if models else path.parent / "analytics"
    in_sources = check_sources(folder)
    problems = check_template(path) + (in_sources or check_schedules(path, folder)) + \
        check_models(project)
    for p in problems:
        say(p)
    if problems:
        fail(f"{len(problems)} problem(s) found")
    console.print(f"{path}: SAM translate and cfn-lint found nothing; the declarations in "
                  f"{folder} (each polled on a schedule) and the dbt project {project} are valid")
