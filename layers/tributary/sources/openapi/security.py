"""Auth, from the document's security schemes.

**auth**, from the security the document requires (else the one scheme it defines):
apiKey in a header, the query or a cookie -> ``header``, ``query``, ``cookie``; http bearer
-> ``bearer``; http basic -> ``basic``; OAuth2 client credentials ->
``oauth2_client_credentials`` with its ``token_url``. Secrets are references to the
environment, never values: ``${TRIBUTARY_<NAME>_API_KEY}`` (``_TOKEN``, ``_PASSWORD``,
``_CLIENT_SECRET``), as the shipped declarations' (the local stack passes only
``TRIBUTARY_`` variables to its functions). An operation requiring another scheme gets its
own ``auth``.
"""

from __future__ import annotations

import re
from typing import Any

from tributary.sources.openapi.document import NoteKind, ReaderPart, Unresolved, as_map, as_seq


class Security(ReaderPart):
    """The reader's part that turns security schemes into a declaration's ``auth``."""

    def schemes(self) -> dict[str, dict[str, Any]]:
        raw = self.doc.get("securityDefinitions") if self.v2 else \
            as_map(self.doc.get("components")).get("securitySchemes")
        out: dict[str, dict[str, Any]] = {}
        for name, s in as_map(raw).items():
            try:
                target, _ = self.refs.deref(s)
            except Unresolved:
                continue
            if isinstance(target, dict):
                out[str(name)] = target
        return out

    def auth(self, scheme_name: str, scopes: list[str], var: str
             ) -> tuple[dict[str, Any] | None, list[tuple[NoteKind, str]]]:
        """The declaration's auth for a security scheme; ``var`` prefixes its variables."""
        s = self.schemes()[scheme_name]
        kind = str(s.get("type", ""))
        scheme = str(s.get("scheme", "")).lower()
        notes: list[tuple[NoteKind, str]] = []
        said = f"security scheme {scheme_name}"
        if kind == "apiKey":
            where, key_name = s.get("in"), str(s.get("name", ""))
            secret = f"${{{var}_API_KEY}}"
            if where == "header":
                if key_name.lower() == "authorization":
                    notes.append(("warning", f"{said} puts the key in the Authorization "
                                  f"header: {var}_API_KEY holds the whole value (with its "
                                  "prefix, e.g. 'Token ...')"))
                notes.append(("guess", f"an API key in the {key_name} header ({said}), "
                                       f"from {secret}"))
                return {"kind": "header", "header": key_name, "secret": secret}, notes
            if where == "query":
                notes.append(("guess", f"an API key in the query parameter {key_name} "
                                       f"({said}), from {secret}"))
                return {"kind": "query", "param": key_name, "secret": secret}, notes
            if where == "cookie" and re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", key_name):
                notes.append(("guess", f"an API key in the cookie {key_name} ({said}), "
                                       f"from {secret}"))
                return {"kind": "cookie", "cookie": key_name, "secret": secret}, notes
        elif (kind == "http" and scheme == "bearer") or kind in ("openIdConnect", "oauth2"):
            flows = as_map(s.get("flows"))
            if kind == "oauth2" and (isinstance(flows.get("clientCredentials"), dict)
                                     or s.get("flow") == "application"):
                flow = flows.get("clientCredentials") or s
                token_url = str(flow.get("tokenUrl", ""))
                out: dict[str, Any] = {
                    "kind": "oauth2_client_credentials", "token_url": token_url,
                    "client_id": f"${{{var}_CLIENT_ID}}", "secret": f"${{{var}_CLIENT_SECRET}}"}
                if scopes:
                    out["scope"] = " ".join(scopes)
                notes.append(("guess", f"OAuth2 client credentials ({said}): a token from "
                                       f"{token_url}, with ${{{var}_CLIENT_ID}} and "
                                       f"${{{var}_CLIENT_SECRET}}"
                                       + (f", scope {' '.join(scopes)!r}" if scopes else "")))
                return out, notes
            secret = f"${{{var}_TOKEN}}"
            if kind != "http":
                notes.append(("warning", f"{said} ({kind}) has no client-credentials flow: "
                              f"a token you obtain yourself goes in {var}_TOKEN, and is not "
                              "renewed"))
            notes.append(("guess", f"a bearer token ({said}), from {secret}"))
            return {"kind": "bearer", "secret": secret}, notes
        elif (kind == "http" and scheme == "basic") or kind == "basic":
            notes.append(("guess", f"HTTP basic ({said}), from ${{{var}_USERNAME}} and "
                                   f"${{{var}_PASSWORD}}"))
            return {"kind": "basic", "username": f"${{{var}_USERNAME}}",
                    "secret": f"${{{var}_PASSWORD}}"}, notes
        what = f"{kind} {scheme}".strip() if kind else "unnamed"
        return None, [("warning", f"{said} ({what}) is no auth kind a declaration has: none "
                                  "declared")]

    def requirement(self, security: Any) -> tuple[str, list[str]] | None:
        """The first alternative of a ``security`` list naming one scheme this knows."""
        schemes = self.schemes()
        for alt in security if isinstance(security, list) else []:
            if isinstance(alt, dict) and len(alt) == 1:
                name, scopes = next(iter(alt.items()))
                if name in schemes:
                    return str(name), [str(x) for x in as_seq(scopes)]
        return None

    def auth_param(self, where: str, name: str) -> bool:
        """A header or cookie parameter that is the API key of a security scheme."""
        for scheme in self.schemes().values():
            if scheme.get("type") == "apiKey" and scheme.get("in") == where and \
                    str(scheme.get("name", "")).lower() == name.lower():
                return True
        return where == "header" and name.lower() in ("authorization", "accept",
                                                      "content-type", "user-agent")
