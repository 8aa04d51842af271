"""A starting source declaration from an OpenAPI document (3.0 and 3.1; Swagger 2.0 too).

``declaration_from_openapi(document, name)`` is a pure function: the document as JSON or YAML
gives it (a dict; ``load_document`` reads one) -> the declaration (a dict in the shape
``spec.Source`` validates, keys in the order a person writes them) and ``Note``s saying what
was guessed, what to check, and which operations were left out and why. ``render`` writes
both as YAML, the notes as comments. ``tributary sources new NAME --from-openapi FILE`` is
the command around them.

Start reading at ``declaration.declaration_from_openapi``. Each module's docstring says what
it guesses and from what:

- ``document``: loading and describing the document, ``$ref``s, ``Note`` and ``OpenAPIError``;
- ``names``: identifiers, singulars, unique names, records paths;
- ``reader``: ``Reader``, which GET operations become streams (``Candidate``s), made of
  ``records`` (where the records are), ``paging`` (pagination), ``columns`` (columns and
  key), ``security`` (auth) and ``parents`` (child streams);
- ``declaration``: the streams named and ordered, base URL and auth, as a declaration;
- ``render``: the declaration and its notes as commented YAML.
"""

from tributary.sources.openapi.declaration import declaration_from_openapi
from tributary.sources.openapi.document import Note, OpenAPIError, describe, load_document
from tributary.sources.openapi.names import IDENTIFIER, MAX_IDENTIFIER, identifier
from tributary.sources.openapi.render import render

__all__ = [
    "IDENTIFIER",
    "MAX_IDENTIFIER",
    "Note",
    "OpenAPIError",
    "declaration_from_openapi",
    "describe",
    "identifier",
    "load_document",
    "render",
]
