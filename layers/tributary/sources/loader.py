"""Read the declarations under the sources folder: ``<name>.yaml``, one source each.

``${VAR}`` and ``${VAR:-default}`` in string values are taken from the environment, so one
declaration serves the embedded stack, LocalStack and AWS (URLs and keys differ, the shape
does not). A declaration that does not validate fails with the file and the field named.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from tributary.settings import get_settings
from tributary.sources.kinds import DECLARATION, branch_labels
from tributary.sources.live import LiveSource
from tributary.sources.spec import Source, Stream

_VAR = re.compile(r"\$\{([A-Z0-9_]+)(?::-([^}]*))?\}")


class DeclarationError(ValueError):
    """A source declaration is missing, unreadable or invalid; the message says where."""


def _expand(value: Any, where: str) -> Any:
    if isinstance(value, dict):
        return {k: _expand(v, where) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, where) for v in value]
    if not isinstance(value, str):
        return value

    def sub(m: re.Match[str]) -> str:
        name, default = m.group(1), m.group(2)
        if name in os.environ:
            return os.environ[name]
        if default is None:
            raise DeclarationError(f"{where}: environment variable {name} is not set "
                                   "and has no default")
        return default
    return _VAR.sub(sub, value)


def _secrets_from_env(value: Any, where: str, path: str = "") -> None:
    """Every ``secret`` is a ``${VAR}`` (a local default after ``:-`` is allowed, for the
    simulators), never a value written in the YAML."""
    if isinstance(value, dict):
        for k, v in value.items():
            here = f"{path}.{k}" if path else str(k)
            if k == "secret" and not (isinstance(v, str) and _VAR.fullmatch(v.strip())):
                raise DeclarationError(f"{where}: {here}: a secret comes from the environment "
                                       "(write \"${VAR}\"), never from the declaration")
            _secrets_from_env(v, where, here)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            name = v.get("name", i) if isinstance(v, dict) else i
            _secrets_from_env(v, where, f"{path}[{name}]")


def _field(loc: tuple[int | str, ...], doc: Any) -> str:
    """``streams[users].pagination.limit`` rather than ``streams.0.offset.limit``."""
    parts: list[str] = []
    node = doc
    for item in loc:
        if isinstance(item, int) and isinstance(node, list):
            name = node[item].get("name") if item < len(node) and isinstance(
                node[item], dict) else None
            parts[-1:] = [f"{parts[-1] if parts else ''}[{name or item}]"]
            node = node[item] if item < len(node) else None
        elif isinstance(node, dict) and item in node:
            parts.append(str(item))
            node = node[item]
        elif item in branch_labels():
            continue  # a union's branch label adds nothing to the path
        else:
            parts.append(str(item))
            node = None
    return ".".join(parts) or "(top level)"


def parse(text: str, where: str) -> Source:
    found = parse_any(text, where)
    if isinstance(found, LiveSource):
        raise DeclarationError(f"{where}: a live source (kind: live) is not polled")
    return found


def parse_any(text: str, where: str) -> Source | LiveSource:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise DeclarationError(f"{where}: not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise DeclarationError(f"{where}: a declaration is a mapping with name, base_url and "
                               "streams")
    _secrets_from_env(doc, where)
    doc = _expand(doc, where)
    try:
        return DECLARATION.validate_python(doc)
    except ValidationError as exc:
        lines = [f"{_field(e['loc'], doc)}: {e['msg']}" for e in exc.errors()]
        raise DeclarationError(f"{where}: " + "; ".join(lines)) from None


def load_all(folder: Path) -> dict[str, Source | LiveSource]:
    if not folder.is_dir():
        raise DeclarationError(f"{folder}: no sources folder")
    sources: dict[str, Source | LiveSource] = {}
    tables: dict[str, str] = {}
    for path in sorted(folder.glob("*.yaml")):
        source = parse_any(path.read_text(), str(path))
        if path.stem != source.name:
            raise DeclarationError(f"{path}: name: {source.name!r} must match the file name")
        for s in source.streams:
            if s.table in tables:
                raise DeclarationError(f"{path}: streams[{s.name}].table: {s.table!r} is "
                                       f"already written by {tables[s.table]}")
            tables[s.table] = f"{source.name}/{s.name}"
        sources[source.name] = source
    return sources


def load_dir(folder: Path) -> dict[str, Source]:
    """The polled sources (live ones are in ``live_sources``)."""
    return {k: v for k, v in load_all(folder).items() if isinstance(v, Source)}


@lru_cache(maxsize=1)
def sources() -> dict[str, Source]:
    return load_dir(get_settings().sources_path)


@lru_cache(maxsize=1)
def live_sources() -> dict[str, LiveSource]:
    return {k: v for k, v in load_all(get_settings().sources_path).items()
            if isinstance(v, LiveSource)}


def live_source(name: str) -> LiveSource:
    try:
        return live_sources()[name]
    except KeyError:
        raise DeclarationError(f"no live source {name!r}; declared: "
                               f"{sorted(live_sources())}") from None


def source(name: str) -> Source:
    """The pulled source ``name``; the error names a live one as such, and lists every
    declared source (pulled and live) for a name that is none."""
    try:
        return sources()[name]
    except KeyError:
        declared = load_all(get_settings().sources_path)
        if name in declared:
            raise DeclarationError(f"{name} is a live source: it has no pulled streams; "
                                   "it runs continuously while resumed") from None
        raise DeclarationError(f"no source {name!r}; declared: {sorted(declared)}") from None


def stream(source_name: str, stream_name: str) -> tuple[Source, Stream]:
    src = source(source_name)
    try:
        return src, src.stream(stream_name)
    except KeyError as exc:
        raise DeclarationError(str(exc.args[0])) from None
