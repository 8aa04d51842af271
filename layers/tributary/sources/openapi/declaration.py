"""``declaration_from_openapi``: the streams the reader finds, named, each child after its
parent, with the source's base URL and auth, as a declaration and the notes about it.

**base_url**: ``servers[0].url`` (its variables at their defaults); a relative one needs
``base_url`` given (``--base-url``).
"""

from __future__ import annotations

import re
from typing import Any

from tributary.sources.openapi.candidate import Candidate
from tributary.sources.openapi.document import Note, NoteKind, OpenAPIError, Unresolved, as_seq
from tributary.sources.openapi.names import (
    IDENTIFIER,
    MAX_IDENTIFIER,
    identifier,
    singular_of,
    unique,
)
from tributary.sources.openapi.reader import Reader

_VERSION_SEGMENT = re.compile(r"^(v\d+(\.\d+)*|api|rest)$", re.IGNORECASE)


def declaration_from_openapi(doc: dict[str, Any], name: str, *, base_url: str | None = None
                             ) -> tuple[dict[str, Any], list[Note]]:
    """A starting declaration for the API ``doc`` describes, named ``name``, and the notes
    saying what was guessed, what to check, and what was left out. Raises ``OpenAPIError``
    when the document is no OpenAPI, or lists nothing."""
    if not IDENTIFIER.match(name) or len(name) > MAX_IDENTIFIER:
        raise OpenAPIError(f"{name!r} is no source name: lower-case letters, digits and _, "
                           f"a letter first, {MAX_IDENTIFIER} at most (e.g. "
                           f"{identifier(name, 'source')!r})")
    version = str(doc.get("openapi", doc.get("swagger", "")))
    if "openapi" in doc and not version.startswith("3."):
        raise OpenAPIError(f"OpenAPI {version} is not read here: 3.0, 3.1 and Swagger 2.0 are")
    if "openapi" not in doc and version != "2.0":
        raise OpenAPIError(f"Swagger {version} is not read here: 3.0, 3.1 and Swagger 2.0 are")
    paths = doc.get("paths")
    if not isinstance(paths, dict) or not paths:
        raise OpenAPIError("the document has no paths: nothing to fetch")
    r = Reader(doc, name)
    notes: list[Note] = []
    source_url = _base_url(r, base_url, notes)

    candidates: list[Candidate] = []
    skipped: list[Note] = []
    for order, (path, raw_item) in enumerate(paths.items()):
        try:
            item, _ = r.refs.deref(raw_item)
        except Unresolved as exc:
            skipped.append(Note("skipped", f"GET {path}", str(exc)))
            continue
        op = item.get("get") if isinstance(item, dict) else None
        if not isinstance(op, dict):
            continue
        found = r.candidate(order, str(path), item, op)
        if isinstance(found, str):
            skipped.append(Note("skipped", f"GET {path}", found))
        else:
            candidates.append(found)

    streams = _with_parents(r, candidates, skipped)
    if not streams:
        reasons = "".join(f"\n  {n}" for n in sorted(skipped, key=lambda n: n.subject))
        raise OpenAPIError("no GET operation lists records (a list of objects, or an object "
                           "holding one) that a stream could fetch" +
                           (f"; left out:{reasons}" if reasons else ""))
    _names(name, streams)
    for c in streams:
        if c.parent:
            _parent_notes(c)
    source_auth = _source_auth(r, streams, notes)
    out: dict[str, Any] = {"name": name, "base_url": source_url}
    if source_auth[0] is not None:
        out["auth"] = source_auth[0]
    out["streams"] = [_stream(r, c, source_auth[1]) for c in streams]
    for c in streams:
        notes += [Note(kind, c.name, text) for kind, text in c.notes]
    where = {f"GET {p}": i for i, p in enumerate(paths)}
    skipped.sort(key=lambda n: where.get(n.subject, len(where)))
    return out, notes + skipped


def _base_url(r: Reader, given: str | None, notes: list[Note]) -> str:
    url, said = r.server()
    relative = not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", url)
    if given:
        origin = re.match(r"^https?://[^/?#]+/?$", given)
        if not re.match(r"^https?://[^/?#]+", given):
            raise OpenAPIError(f"--base-url {given!r} is no http(s) URL")
        if relative and origin and url.strip("/"):
            joined = given.rstrip("/") + "/" + url.strip("/")
            notes.append(Note("guess", "base_url", f"{joined}: the given base URL, then the "
                                                   f"document's relative server {url}"))
            return joined
        notes.append(Note("guess", "base_url", f"{given}: as given" +
                          ("" if relative else f" (the document says {url})")))
        return given
    if relative:
        raise OpenAPIError(f"the document's server is relative ({url!r}, {said}): it is "
                           "wherever the document is served from; give the API's URL with "
                           "--base-url https://...")
    if not re.match(r"^https?://[^/?#{}]+", url) or "{" in url:
        raise OpenAPIError(f"the document's server {url!r} is no http(s) URL (a variable "
                           "without a default?): give --base-url https://...")
    url = url.rstrip("/")
    notes.append(Note("guess", "base_url", f"{url} ({said})"))
    return url


def _with_parents(r: Reader, candidates: list[Candidate], skipped: list[Note]
                  ) -> list[Candidate]:
    """The candidates that become streams, each child after its parent."""
    done = [c for c in candidates if not c.placeholders]
    pending = [c for c in candidates if c.placeholders]
    why: dict[int, str] = {}
    for c in done:
        c.name = c.resource  # for messages; the real names come after
    progress = True
    while progress and pending:
        progress = False
        for c in list(pending):
            found = r.find_parent(c, candidates)
            if isinstance(found, str):
                why[id(c)] = found
                continue
            parent, how = found
            if parent not in done:
                why[id(c)] = f"its parent {parent.op} is left out"
                continue
            mapped = r.map_params(c, parent)
            if isinstance(mapped, str):
                why[id(c)] = mapped
                continue
            c.parent, c.parent_params = parent, mapped
            c.parent_how = how
            c.name = c.resource
            done.append(c)
            pending.remove(c)
            progress = True
    for c in pending:
        skipped.append(Note("skipped", c.op, why.get(id(c), "its parent is left out")))
    ordered: list[Candidate] = []
    rest = sorted(done, key=lambda c: c.order)
    while rest:
        nxt = next(c for c in rest if c.parent is None or c.parent in ordered)
        ordered.append(nxt)
        rest.remove(nxt)
    return ordered


def _names(source: str, streams: list[Candidate]) -> None:
    """Stream names from the paths (top-level streams first take the plain ones), tables
    ``<source>_<stream>``; each unique."""
    taken: set[str] = set()
    for c in sorted(streams, key=lambda c: (len(c.placeholders), c.order)):
        words = [s for s in c.static if not _VERSION_SEGMENT.match(s)]
        base = identifier(c.resource, "records")
        if len(words) > 1 and singular_of(words[-1]) == words[-1]:  # /categories/tree
            base = identifier("_".join(words[-2:]), "records")
        tries = [identifier("_".join(words), "records"),  # /v3/schedules: v3_schedules
                 identifier("_".join(c.static), "records")]
        if c.parent is not None:  # /actions/{id}/services: actions_services
            tries.insert(0, identifier(f"{c.parent.name}_{base}", "records"))
        if base in taken:
            base = next((t for t in tries if t not in taken), base)
        c.name = unique(base, taken)
    tables: set[str] = set()
    for c in streams:
        c.table = unique(identifier(f"{source}_{c.name}"), tables)


def _parent_notes(c: Candidate) -> None:
    """A child's notes (after the one naming its parent), and its parent's key copied in."""
    parent = c.parent
    assert parent is not None
    said = ", ".join(f"{{{k}}} = {v}" for k, v in c.parent_params.items())
    notes: list[tuple[NoteKind, str]] = [
        ("guess", f"parent: {parent.name}, the listing at {parent.path}"
                  + (f" ({c.parent_how})" if c.parent_how else "")),
        ("guess", f"for every record of {parent.name}: {said}")]
    keep = identifier(f"{singular_of(parent.name)}_{parent.key}")
    if keep not in c.columns:
        c.include = {keep: parent.key_prop}
        c.columns[keep] = {"type": parent.key_type} if parent.key_type != "text" else {}
        notes.append(("guess", f"each record gets {keep}, its parent's key (parent.include)"))
    if c.has_404:
        notes.append(("guess", "a 404 (its parent gone) is a page of none (response_actions)"))
    c.notes[0:0] = notes


def _source_auth(r: Reader, streams: list[Candidate], notes: list[Note]
                 ) -> tuple[dict[str, Any] | None, str | None]:
    """The source's auth and the scheme it comes from."""
    schemes = r.schemes()
    var = _env_prefix(r.name)
    chosen = r.requirement(r.doc.get("security"))
    how = None
    if chosen is None:
        used = [x for c in streams if (x := r.requirement(c.security))]
        if used:
            names = [u[0] for u in used]
            top = max(dict.fromkeys(names), key=names.count)
            chosen = next(u for u in used if u[0] == top)
            how = "the scheme most of its operations require"
        elif len(schemes) == 1:
            chosen = (next(iter(schemes)), [])
            how = "the one scheme the document defines; it requires none"
    if chosen is None:
        if schemes:
            notes.append(Note("warning", "auth", "the document defines security schemes ("
                              + ", ".join(schemes) + ") but requires none: no auth declared"))
        else:
            notes.append(Note("guess", "auth", "none (the document defines no security scheme)"))
        return None, None
    auth, said = r.auth(chosen[0], chosen[1], var)
    if how:
        said = [(k, f"{t} ({how})" if k == "guess" else t) for k, t in said]
    notes += [Note(k, "auth", t) for k, t in said]
    others = [str(next(iter(alt))) for alt in as_seq(r.doc.get("security"))
              if isinstance(alt, dict) and len(alt) == 1 and next(iter(alt)) != chosen[0]]
    if others:
        notes.append(Note("guess", "auth", f"the API also accepts {', '.join(others)}"))
    return auth, chosen[0] if auth is not None else None


def _env_prefix(source: str) -> str:
    """Where a source's secrets come from: ``TRIBUTARY_<SOURCE>_...``, as the shipped
    declarations' (the local stack passes only ``TRIBUTARY_`` variables to its functions)."""
    return f"TRIBUTARY_{source.upper()}"


def _stream(r: Reader, c: Candidate, source_scheme: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": c.name, "endpoint": _endpoint(c.path)}
    if c.parent:
        parent: dict[str, Any] = {"stream": c.parent.name, "params": {
            identifier_placeholder(k): v for k, v in c.parent_params.items()}}
        if c.include:
            parent["include"] = c.include
        out["parent"] = parent
    if c.params:
        out["params"] = c.params
    out["records_path"] = c.records_path
    if c.total_path:
        out["total_path"] = c.total_path
    out["primary_key"] = c.key
    out["pagination"] = c.pagination
    if c.parent and c.has_404:
        out["response_actions"] = {404: "empty"}
    own = r.requirement(c.security) if c.security is not None else None
    if own and own[0] != source_scheme:
        auth, said = r.auth(own[0], own[1],
                            f"{_env_prefix(r.name)}_{identifier(own[0], 'scheme').upper()}")
        if auth is not None:
            out["auth"] = auth
            c.notes += [(k, f"its own auth: {t}" if k == "guess" else t) for k, t in said]
    out["table"] = c.table
    out["columns"] = c.columns
    return out


def identifier_placeholder(name: str) -> str:
    """A placeholder as the endpoint writes it (``{user-id}`` -> ``{user_id}``)."""
    return re.sub(r"\W", "_", name)


def _endpoint(path: str) -> str:
    return re.sub(r"{([^}]+)}", lambda m: "{" + identifier_placeholder(m.group(1)) + "}", path)

