"""Read the declarations under the sources folder: ``<name>.yaml``, one source each.

``${VAR}`` and ``${VAR:-default}`` in string values are taken from the environment, so one
declaration serves the embedded stack, LocalStack and AWS (URLs and keys differ, the shape
does not). A declaration that does not validate fails with the file and the field named.
"""

from __future__ import annotations

import functools
import os
import re
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import yaml
from pydantic import ValidationError

from tributary.settings import Settings, get_settings
from tributary.sources.auth import SECRET_BODY_FIELD, SECRET_FIELDS
from tributary.sources.kinds import DECLARATION, branch_labels
from tributary.sources.live import LiveSource
from tributary.sources.spec import Source, Stream

P = ParamSpec("P")
V = TypeVar("V")
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


def _from_env(value: Any) -> bool:
    return isinstance(value, str) and _VAR.fullmatch(value.strip()) is not None


def _not_written(where: str, here: str) -> DeclarationError:
    return DeclarationError(f"{where}: {here}: a secret comes from the environment (write "
                            "\"${VAR}\"), never from the declaration")


def _auth_secrets(auth: dict[Any, Any], where: str, path: str) -> None:
    """An auth's other secrets (a refresh token, a JWT key) and a login body's passwords
    and keys (told by their names) come from the environment too."""
    kind = str(auth.get("kind"))
    for name in SECRET_FIELDS.get(kind, ()):
        if name in auth and not _from_env(auth[name]):
            raise _not_written(where, f"{path}.{name}")
    login = auth.get("login")
    body = login.get("body") if kind == "session" and isinstance(login, dict) else None
    for k, v in body.items() if isinstance(body, dict) else ():
        if isinstance(v, str) and re.search(SECRET_BODY_FIELD, str(k)) and not _from_env(v):
            raise _not_written(where, f"{path}.login.body.{k}")


def _secrets_from_env(value: Any, where: str, path: str = "") -> None:
    """Every ``secret`` is a ``${VAR}`` (a local default after ``:-`` is allowed, for the
    simulators), never a value written in the YAML; so are an auth's other secrets."""
    if isinstance(value, dict):
        for k, v in value.items():
            here = f"{path}.{k}" if path else str(k)
            if k == "secret" and not _from_env(v):
                raise _not_written(where, here)
            if k == "auth" and isinstance(v, dict):
                _auth_secrets(v, where, here)
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
    return load_files(sorted(folder.glob("*.yaml")))


def load_files(paths: list[Path]) -> dict[str, Source | LiveSource]:
    """The declarations in ``paths``, as one folder holds them: each named as its file, no
    table written by two streams (the later file is the one named)."""
    sources: dict[str, Source | LiveSource] = {}
    tables: dict[str, str] = {}
    for path in paths:
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


# -- the declarations a warm process uses --------------------------------------------------
# A worker lives across invocations, and ``tributary deploy`` must make an added or changed
# declaration live in it (as a new layer version is on AWS) without a restart. So the folder
# is read again when its stamp changes, and everything derived from the declarations is kept
# through ``per_declarations``, which forgets it at the same moment.

RECHECK_S = 1.0
"""How long a process trusts its last look at the folder. ``tributary deploy`` takes at least
this long, so every invocation after it sees what was written before it."""

_Stamp = tuple[tuple[str, int, int, int], ...] | None


def _stamp(folder: Path) -> _Stamp:
    """Each declaration file's name, inode, size and mtime: a changed, added, removed or
    replaced file changes it, for a directory listing and a stat per file."""
    try:
        with os.scandir(folder) as entries:
            files = [(e.name, e.stat()) for e in entries if e.name.endswith(".yaml")]
    except OSError:
        return None  # no folder: reading it says so
    return tuple(sorted((name, st.st_ino, st.st_size, st.st_mtime_ns) for name, st in files))


@dataclass(frozen=True)
class _Reading:
    folder: Path
    stamp: _Stamp
    generation: int
    declared: dict[str, Source | LiveSource]
    error: str | None  # a folder that does not load fails every use, until it changes


_reading: _Reading | None = None
_looked: tuple[Settings | None, float] = (None, 0.0)  # the folder of which settings, when


def _current() -> _Reading:
    global _reading, _looked
    settings, now = get_settings(), time.monotonic()
    if _reading is not None and _looked[0] is settings and now - _looked[1] < RECHECK_S:
        return _reading
    # The same settings name the same folder, and finding it (a resolve()) costs 30 us.
    folder = _reading.folder if _reading and _looked[0] is settings else settings.sources_path
    stamp = _stamp(folder)  # before reading: a write during the read changes it again
    if _reading is None or (_reading.folder, _reading.stamp) != (folder, stamp):
        generation = _reading.generation + 1 if _reading else 0
        try:
            _reading = _Reading(folder, stamp, generation, load_all(folder), None)
        except DeclarationError as exc:
            _reading = _Reading(folder, stamp, generation, {}, str(exc))
    _looked = (settings, now)
    return _reading


def generation() -> int:
    """Which reading of the declarations is current; it changes whenever they do."""
    return _current().generation


def declarations() -> dict[str, Source | LiveSource]:
    """Every declared source, pulled and live, as the folder holds them now."""
    reading = _current()
    if reading.error is not None:
        raise DeclarationError(reading.error)
    return reading.declared


def per_declarations(build: Callable[P, V]) -> Callable[P, V]:
    """``build`` memoized in this process for as long as the declarations stay the same: the
    one way anything derived from them is cached, so a deploy renews all of it at once."""
    memo: dict[Hashable, V] = {}
    seen = [-1]

    @functools.wraps(build)
    def cached(*args: P.args, **kwargs: P.kwargs) -> V:
        now = generation()
        if seen[0] != now:
            memo.clear()
            seen[0] = now
        key = (args, tuple(kwargs.items())) if kwargs else args
        if key not in memo:
            memo[key] = build(*args, **kwargs)
        return memo[key]
    return cached


@per_declarations
def sources() -> dict[str, Source]:
    return {k: v for k, v in declarations().items() if isinstance(v, Source)}


@per_declarations
def live_sources() -> dict[str, LiveSource]:
    return {k: v for k, v in declarations().items() if isinstance(v, LiveSource)}


def live_source(name: str) -> LiveSource:
    try:
        return live_sources()[name]
    except KeyError:
        raise DeclarationError(f"unknown live source {name!r}; declared: "
                               f"{sorted(live_sources())}") from None


def source(name: str) -> Source:
    """The pulled source ``name``; the error names a live one as such, and lists every
    declared source (pulled and live) for a name that is none."""
    declared = declarations()
    found = declared.get(name)
    if isinstance(found, Source):
        return found
    if found is not None:
        raise DeclarationError(f"{name} is a live source: it has no pulled streams; "
                               "it runs continuously while resumed")
    raise DeclarationError(f"unknown source {name!r}; declared: {sorted(declared)}")


def stream(source_name: str, stream_name: str) -> tuple[Source, Stream]:
    src = source(source_name)
    try:
        return src, src.stream(stream_name)
    except KeyError as exc:
        raise DeclarationError(str(exc.args[0])) from None
