"""How a source proves who it is: one model per kind, a union tagged on ``kind``.

Secrets come from the environment through ``${VAR}`` in the declaration (the loader fills
them in), never from the YAML itself; they are ``SecretStr`` so no log or error shows them.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr

from tributary.sources.base import Strict


class NoAuth(Strict):
    kind: Literal["none"] = "none"


class HeaderAuth(Strict):
    """An API key in a request header."""

    kind: Literal["header"]
    header: str = "X-API-Key"
    secret: SecretStr


class BearerAuth(Strict):
    kind: Literal["bearer"]
    secret: SecretStr


class QueryAuth(Strict):
    """An API key in a query parameter (``?api_key=...``)."""

    kind: Literal["query"]
    param: str = "api_key"
    secret: SecretStr


class CookieAuth(Strict):
    kind: Literal["cookie"]
    cookie: str = Field(pattern=r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
    secret: SecretStr


class BasicAuth(Strict):
    """HTTP basic: ``username`` and the password in ``secret``."""

    kind: Literal["basic"]
    username: str
    secret: SecretStr


class OAuth2ClientCredentials(Strict):
    """OAuth 2.0 client credentials (RFC 6749 4.4): a token from ``token_url``, renewed
    ``renew_before_s`` before it expires, and once more if the API answers 401."""

    kind: Literal["oauth2_client_credentials"]
    token_url: str = Field(description="Absolute, or a path on the source's base URL.")
    client_id: str
    secret: SecretStr = Field(description="The client secret.")
    scope: str | None = None
    client_auth: Literal["basic", "post"] = Field(
        "basic", description="How the client authenticates to the token endpoint: HTTP basic, "
        "or client_id and client_secret in the form.")
    renew_before_s: float = Field(60.0, ge=0)


Auth = Annotated[NoAuth | HeaderAuth | BearerAuth | QueryAuth | CookieAuth | BasicAuth
                 | OAuth2ClientCredentials, Field(discriminator="kind")]
