"""The OpenAPI document as read here: its text loaded (JSON or YAML) and described in a line,
its local ``$ref``s followed, and the small questions asked of any schema in it (its types; a
mapping or a list where the document may say anything).

``$ref``s are local (``#/...``); a loop of references is cut where it closes, and an operation
whose schema is nothing but a loop is left out, saying so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import unquote

import yaml

NoteKind = Literal["guess", "warning", "skipped"]


class OpenAPIError(ValueError):
    """The document cannot give a declaration; the message says why."""


@dataclass(frozen=True)
class Note:
    """What was guessed (``guess``), what to check before use (``warning``), or an operation
    left out (``skipped``); ``subject`` is ``base_url``, ``auth``, a stream's name, or the
    operation (``GET /path``)."""

    kind: NoteKind
    subject: str
    text: str

    def __str__(self) -> str:
        return f"{self.subject}: {self.text}"


def load_document(text: str, where: str) -> dict[str, Any]:
    """An OpenAPI document's text (JSON or YAML) as a dict."""
    doc: Any = None
    if text.lstrip().startswith(("{", "[")):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError:
            doc = None  # YAML's flow style starts so too
    if doc is None:
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise OpenAPIError(f"{where}: neither JSON nor YAML: "
                               f"{' '.join(str(exc).split())}") from None
    if not isinstance(doc, dict) or not ({"openapi", "swagger"} & set(doc)):
        raise OpenAPIError(f"{where}: not an OpenAPI document (no 'openapi: 3.x' or "
                           "'swagger: \"2.0\"' at its top level)")
    return doc


def describe(doc: dict[str, Any]) -> str:
    """``Title version (OpenAPI 3.1.0)``, from the document's ``info``."""
    info = doc.get("info")
    if not isinstance(info, dict):
        info = {}
    title = " ".join(str(x) for x in (info.get("title"), info.get("version")) if x)
    kind = f"OpenAPI {doc['openapi']}" if "openapi" in doc else f"Swagger {doc.get('swagger')}"
    return f"{title} ({kind})" if title else kind


class Unresolved(Exception):
    """A ``$ref`` that cannot be followed; the message says which and why."""


class Refs:
    """Local ``$ref``s (JSON pointers into the document), and schemas with ``allOf`` merged."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc

    def pointer(self, ref: str) -> Any:
        if not ref.startswith("#"):
            raise Unresolved(f"$ref {ref!r} is in another document (only #/... is followed)")
        node: Any = self.doc
        for raw in ref[1:].split("/")[1:]:
            key = unquote(raw).replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and key in node:
                node = node[key]
            elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
                node = node[int(key)]
            else:
                raise Unresolved(f"$ref {ref!r} points at nothing in the document")
        return node

    def deref(self, node: Any) -> tuple[Any, tuple[str, ...]]:
        """``node`` with its ``$ref``s followed, and the references followed."""
        chain: list[str] = []
        while isinstance(node, dict) and isinstance(node.get("$ref"), str):
            ref = node["$ref"]
            if ref in chain:
                raise Unresolved("$ref " + " -> ".join([*chain, ref]) + " is a loop")
            chain.append(ref)
            node = self.pointer(ref)
        return node, tuple(chain)

    def schema(self, node: Any, stack: tuple[str, ...] = ()) -> dict[str, Any]:
        """The schema ``node`` is, references followed and ``allOf`` merged into one
        (properties and required joined). A reference back into ``stack`` (the schemas being
        merged) adds nothing: a cycle closes there."""
        target, refs = self.deref(node)
        if set(refs) & set(stack) or not isinstance(target, dict):
            return {}
        stack = stack + refs
        parts = target.get("allOf")
        if not isinstance(parts, list):
            return target
        own = {k: v for k, v in target.items() if k != "allOf"}
        merged: dict[str, Any] = dict(own)
        props: dict[str, Any] = {}
        required: list[str] = []
        for part in [*parts, own]:
            sub = self.schema(part, stack)
            for k, v in sub.items():
                if k == "properties" and isinstance(v, dict):
                    props.update(v)
                elif k == "required" and isinstance(v, list):
                    required += [r for r in v if r not in required]
                elif k not in merged:
                    merged[k] = v
        if props:
            merged["properties"] = props
        if required:
            merged["required"] = required
        return merged


def as_map(value: Any) -> dict[str, Any]:
    """``value`` if it is a mapping, else an empty one (a document may say anything)."""
    return value if isinstance(value, dict) else {}


def as_seq(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def json_types(s: dict[str, Any]) -> list[str]:
    """The JSON types a schema names (3.1's lists and 3.0's single), ``null`` left out."""
    t = s.get("type")
    types = [t] if isinstance(t, str) else [x for x in t if isinstance(x, str)] \
        if isinstance(t, list) else []
    return [x for x in types if x != "null"]


def is_array(s: dict[str, Any]) -> bool:
    types = json_types(s)
    return "array" in types if types else "items" in s


def is_object(s: dict[str, Any]) -> bool:
    types = json_types(s)
    return "object" in types if types else "properties" in s


def is_null(s: dict[str, Any]) -> bool:
    return s.get("type") in ("null", ["null"]) or s.get("enum") == [None]


class ReaderPart:
    """What the parts of ``reader.Reader`` share: the document, its ``$ref``s, and whether it
    is Swagger 2.0. Declared here so that each part reads (and type-checks) on its own;
    ``Reader.__init__`` sets them."""

    doc: dict[str, Any]
    refs: Refs
    v2: bool

    def quiet_schema(self, raw: Any) -> dict[str, Any]:
        try:
            return self.refs.schema(raw)
        except Unresolved:
            return {}
