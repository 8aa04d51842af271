"""``render``: a declaration and its notes as YAML a person reads, the notes as comments."""

from __future__ import annotations

import textwrap
from typing import Any

import yaml

from tributary.sources.openapi.document import Note


def _flow(value: Any) -> str:
    """``value`` as one line of YAML (a flow mapping, or a scalar)."""
    if isinstance(value, dict | list):
        return yaml.safe_dump(value, default_flow_style=True, sort_keys=False,
                              width=1 << 20, allow_unicode=True).strip()
    text = yaml.safe_dump({"v": value}, default_flow_style=False, width=1 << 20,
                          allow_unicode=True)
    return text[len("v: "):].strip()


def _comment(lines: list[str], indent: str, more: str = "  ") -> list[str]:
    """``lines`` as YAML comments, each wrapped at 96 characters (``more`` indents the rest)."""
    out = []
    for line in lines:
        wrapped = textwrap.wrap(line, width=96 - len(indent), subsequent_indent=more,
                                break_long_words=False, break_on_hyphens=False)
        out += [f"{indent}# {w}" for w in wrapped]
    return out


def _entry(key: str, value: Any, lead: str, indent: str) -> list[str]:
    """``key: value`` on one line, or a mapping too long for one as a block under ``key``."""
    line = f"{lead}{key}: {_flow(value)}"
    if len(line) <= 100 or not isinstance(value, dict) or not value:
        return [line]
    return [f"{lead}{key}:", *(f"{indent}  {k}: {_flow(v)}" for k, v in value.items())]


def render(declaration: dict[str, Any], notes: list[Note], *, origin: str) -> str:
    """The declaration as YAML a person reads: name, base_url, auth, streams (each with its
    guesses and warnings above it as comments), and what was left out at the end."""
    by: dict[str, list[Note]] = {}
    for n in notes:
        by.setdefault(n.subject, []).append(n)

    def said(subject: str, prefix: str = "") -> list[str]:
        return [prefix + ("WARNING: " if n.kind == "warning" else "") + n.text
                for n in by.get(subject, []) if n.kind != "skipped"]

    lines = _comment([f"Written by `tributary sources new` from {origin}: a start to check, "
                      "not the truth. Each guess (and every WARNING) is said above what it "
                      "made; check them against the API's documentation, then run "
                      "`tributary validate`."], "")
    lines += _comment(said("base_url", "base_url: "), "")
    lines += [f"name: {_flow(declaration['name'])}",
              f"base_url: {_flow(declaration['base_url'])}"]
    lines += _comment(said("auth", "auth: "), "")
    if "auth" in declaration:
        lines += _entry("auth", declaration["auth"], "", "")
    lines.append("streams:")
    for s in declaration["streams"]:
        lines += _comment([f"GET {s['endpoint']}", *said(s["name"])], "  ")
        for i, (key, value) in enumerate(s.items()):
            lead = "  - " if i == 0 else "    "
            if key == "columns":
                lines.append(f"{lead}columns:")
                lines += [f"      {col}: {_flow(spec)}" for col, spec in value.items()]
            else:
                lines += _entry(key, value, lead, "    ")
    left = [n for n in notes if n.kind == "skipped"]
    if left:
        lines += ["", "# Left out (no stream could be made of them):"]
        for n in left:
            lines += _comment([f"- {n}"], "", more="    ")
    return "\n".join(lines) + "\n"
