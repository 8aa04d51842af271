"""How a source proves who it is: one model per kind, a union tagged on ``kind``.

Secrets come from the environment through ``${VAR}`` in the declaration (the loader fills
them in), never from the YAML itself; they are ``SecretStr`` so no log or error shows them.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr, model_validator

from tributary.sources.base import Strict

_COOKIE_NAME = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"
_DOTTED = r"^[^.\s]+(\.[^.\s]+)*$"


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
    cookie: str = Field(pattern=_COOKIE_NAME)
    secret: SecretStr


class BasicAuth(Strict):
    """HTTP basic: ``username`` and the password in ``secret``."""

    kind: Literal["basic"]
    username: str
    secret: SecretStr


class OAuth2ClientCredentials(Strict):
    """OAuth 2.0 client credentials (RFC 6749 4.4): a token from ``token_url``, renewed
    ``renew_before_s`` before it expires, and again (twice at most) if the API answers 401."""

    kind: Literal["oauth2_client_credentials"]
    token_url: str = Field(description="Absolute, or a path on the source's base URL.")
    client_id: str
    secret: SecretStr = Field(description="The client secret.")
    scope: str | None = None
    client_auth: Literal["basic", "post"] = Field(
        "basic", description="How the client authenticates to the token endpoint: HTTP basic, "
        "or client_id and client_secret in the form.")
    renew_before_s: float = Field(60.0, ge=0)


class OAuth2RefreshToken(Strict):
    """OAuth 2.0 refresh token grant (RFC 6749 6): access tokens from ``token_url`` for the
    refresh token an authorization gave, renewed ``renew_before_s`` before they expire and
    again (twice at most) if the API answers 401.

    A server that rotates refresh tokens sends a new one with each access token, and the old
    one stops working. The current one is therefore kept in AWS Secrets Manager (``store``),
    written before the access token that came with it is used, and read before each refresh;
    the declared ``refresh_token`` is the first one, used while the store has none. A new
    declared token (after authorizing again) replaces the stored one: the store remembers
    which declared token its own descends from.
    """

    kind: Literal["oauth2_refresh_token"]
    token_url: str = Field(description="Absolute, or a path on the source's base URL.")
    client_id: str
    secret: SecretStr | None = Field(None, description="The client secret; none for a public "
                                     "client (client_id then goes in the form).")
    refresh_token: SecretStr = Field(description="The first refresh token (from the "
                                     "environment).")
    scope: str | None = None
    client_auth: Literal["basic", "post"] = Field(
        "basic", description="How a client with a secret authenticates to the token endpoint: "
        "HTTP basic, or client_id and client_secret in the form.")
    renew_before_s: float = Field(60.0, ge=0)
    store: str | None = Field(
        None, pattern=r"^tributary/[A-Za-z0-9/_+=.@-]{1,480}$",
        description="The Secrets Manager secret that keeps the current refresh token; "
        "default tributary/<source>/refresh_token (tributary/<source>/<stream>/refresh_token "
        "for a stream's own auth). Under tributary/, which the functions may write.")


class SessionLogin(Strict):
    """The login request of a ``session`` auth, and where its answer holds the token."""

    url: str = Field(description="Absolute, or a path on the source's base URL.")
    method: Literal["POST", "PUT"] = "POST"
    body: dict[str, SecretStr | bool | int | float | None] = Field(
        default_factory=dict, description="The JSON body; a dotted key nests "
        "(auth.password). Passwords and keys come from the environment (${VAR}); every string "
        "value is kept as a secret.")
    token_path: str = Field(pattern=_DOTTED, description="The token's dotted path in the "
                            "JSON answer.")
    expires_in_path: str | None = Field(None, pattern=_DOTTED, description="The dotted path "
                                        "of the token's lifetime in seconds, if the answer "
                                        "has one.")
    ttl_s: float | None = Field(None, gt=0, description="The token's lifetime when the answer "
                                "does not say; neither: until the API answers 401.")

    @model_validator(mode="after")
    def _keys_nest(self) -> SessionLogin:
        for key in self.body:
            if any(other.startswith(f"{key}.") for other in self.body):
                raise ValueError(f"body: {key!r} is a value and holds other keys")
        return self


class SessionAuth(Strict):
    """A token from a login request, sent in a header (``Authorization: Bearer <token>`` by
    default) or as a cookie; logged in again ahead of expiry and once on a 401."""

    kind: Literal["session"]
    login: SessionLogin
    header: str | None = Field(None, description="Default: Authorization.")
    prefix: str | None = Field(None, description="Before the token in the header; default "
                               "'Bearer ' in Authorization, '' in any other header.")
    cookie: str | None = Field(None, pattern=_COOKIE_NAME, description="Send the token as "
                               "this cookie instead of a header.")
    renew_before_s: float = Field(60.0, ge=0)

    @model_validator(mode="after")
    def _header_or_cookie(self) -> SessionAuth:
        if self.cookie is not None and (self.header is not None or self.prefix is not None):
            raise ValueError("the token goes in a header (header, prefix) or a cookie, not both")
        return self

    @property
    def sent_header(self) -> str:
        return self.header or "Authorization"

    @property
    def sent_prefix(self) -> str:
        if self.prefix is not None:
            return self.prefix
        return "Bearer " if self.sent_header.lower() == "authorization" else ""


JwtClaim = str | int | float | bool | list[str]


class JwtAuth(Strict):
    """A JWT signed here (``Authorization: Bearer <jwt>``): the declared ``claims`` plus
    ``iat`` (now) and ``exp`` (``iat + ttl_s``), signed again ahead of expiry."""

    kind: Literal["jwt"]
    algorithm: Literal["HS256", "RS256"]
    key: SecretStr = Field(description="The HMAC secret (HS256) or the PEM private key "
                           "(RS256), from the environment.")
    kid: str | None = Field(None, description="The key id, in the JWT's header.")
    claims: dict[str, JwtClaim] = Field(default_factory=dict,
                                        description="Fixed claims: iss, sub, aud, scope...")
    ttl_s: int = Field(300, gt=0)
    renew_before_s: float = Field(60.0, ge=0)

    @model_validator(mode="after")
    def _times_are_ours(self) -> JwtAuth:
        taken = sorted({"iat", "exp"} & set(self.claims))
        if taken:
            raise ValueError(f"claims {taken} are set when the token is signed (iat: now, "
                             "exp: iat + ttl_s): do not declare them")
        return self


class BodyAuth(Strict):
    """An API key in the JSON request body (``{"api_key": ...}``), for endpoints that take a
    JSON object (POST): the body is sent again with the field set. A stream that sends no
    body (a GET, an export's polls) is refused when validated, and so is a live source; a
    request without a JSON object body is refused when it is made."""

    kind: Literal["body"]
    field: str = Field("api_key", pattern=_DOTTED, description="A dotted path nests "
                       "(auth.key).")
    secret: SecretStr


Auth = Annotated[NoAuth | HeaderAuth | BearerAuth | QueryAuth | CookieAuth | BasicAuth
                 | OAuth2ClientCredentials | OAuth2RefreshToken | SessionAuth | JwtAuth
                 | BodyAuth, Field(discriminator="kind")]

# Fields of an auth that hold secrets besides ``secret``: the loader wants them from the
# environment too (a login body's secrets are told by their names: SECRET_BODY_FIELD).
SECRET_FIELDS = {"oauth2_refresh_token": ("refresh_token",), "jwt": ("key",)}
SECRET_BODY_FIELD = r"(?i)pass|secret|token|key|credential|pin\b"
