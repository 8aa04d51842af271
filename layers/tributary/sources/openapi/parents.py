"""Parents: which listing gives a child stream's path parameters, and from which fields.

**Children**: ``/users/{user_id}/orders`` beside a ``/users`` listing (or, failing a
listing at that path, one whose last segment is the one before the parameter, as
``/user/repos`` for ``/repos/{owner}/{repo}/issues``) is a child stream, its placeholders
fields of the parent's record: one of the same name, the parent's key for ``{user_id}``,
a name-like field (login, slug, name) for ``{repo}`` when the parent's key is a number, a
nested one for an object (``owner.login``). The parent's key is copied into each record
(``include``), and a documented 404 reads as no records.
"""

from __future__ import annotations

import re

from tributary.sources.openapi.candidate import Candidate
from tributary.sources.openapi.document import ReaderPart, as_map, is_object
from tributary.sources.openapi.names import norm, singular_of

NAME_FIELDS = ("login", "username", "handle", "slug", "name", "key")
LOGIN_PARAMS = ("username", "login", "userlogin", "handle", "screenname")


class Parents(ReaderPart):
    """The reader's part that finds a child's parent and maps its placeholders."""

    def find_parent(self, c: Candidate, all_: list[Candidate]
                    ) -> tuple[Candidate, str] | str:
        segs = c.segments
        last = max(i for i, s in enumerate(segs) if "{" in s)
        first = last
        while first > 0 and "{" in segs[first - 1]:
            first -= 1
        prefix = "/" + "/".join(segs[:first])
        by_path = [p for p in all_ if p is not c and p.path.rstrip("/") == prefix]
        if by_path:
            return by_path[0], ""
        anchor = segs[first - 1] if first > 0 else ""
        by_name = sorted((p for p in all_ if p is not c and anchor and p.resource == anchor
                          and len(p.placeholders) < len(c.placeholders)),
                         key=lambda p: (len(p.placeholders), p.order))
        if by_name:
            return by_name[0], f"none lists at {prefix}; this one is named {anchor}: a guess"
        params = ", ".join("{" + p + "}" for p in c.placeholders[:first + 1])
        return f"no listing gives its path parameters ({params}): none at {prefix}" \
               + (f", and none named {anchor}" if anchor else "") \
               + (f" (a fixed list of them can be declared: partitions: {{param: "
                  f"{c.placeholders[0]}, values: [...]}})" if len(c.placeholders) == 1 else "")

    def map_params(self, c: Candidate, parent: Candidate) -> dict[str, str] | str:
        """Each placeholder of ``c``: the dotted path of its value in a ``parent`` record."""
        segs = c.segments
        last = max(i for i, s in enumerate(segs) if "{" in s)
        identifying = re.findall(r"{([^}]+)}", segs[last])[-1]
        s_word = singular_of(parent.resource)
        props = as_map(parent.item.get("properties"))
        by_norm = {norm(p): p for p in props}
        out: dict[str, str] = {}
        for ph in c.placeholders:
            n = norm(ph)
            found: str | None = None
            if n in by_norm:
                prop = by_norm[n]
                s = self.quiet_schema(props[prop])
                if is_object(s):
                    inner = {norm(str(k)): str(k) for k in as_map(s.get("properties"))}
                    sub = next((inner[k] for k in (*NAME_FIELDS, "id") if k in inner), None)
                    found = f"{prop}.{sub}" if sub else None
                else:
                    found = prop
            elif n + "id" in by_norm:
                found = by_norm[n + "id"]
            elif ph == identifying:
                found = self._identifying(ph, s_word, parent, by_norm)
            if found is None:
                return (f"its path parameter {{{ph}}} is no field of the records of "
                        f"{parent.op}, its parent")
            out[ph] = found
        return out

    def _identifying(self, ph: str, s_word: str, parent: Candidate,
                     by_norm: dict[str, str]) -> str:
        n, s = norm(ph), norm(s_word)
        if n in (s + "id", "id") or n.endswith("id"):
            return parent.key_prop
        rest = re.match(rf"^(?i:{re.escape(s_word)})(?:[_-](.+)|([A-Z].*))$", ph)
        tail = norm(rest.group(1) or rest.group(2)) if rest else ""
        if tail in by_norm:
            return by_norm[tail]
        if n in LOGIN_PARAMS or parent.key_type == "bigint":
            for name in NAME_FIELDS:
                if name in by_norm:
                    return by_norm[name]
        return parent.key_prop
