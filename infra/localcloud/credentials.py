"""The embedded stack's API token: made once, kept in the state folder (``credentials/
api-token``, readable by its owner only), given to the authorizer as the ``ApiToken``
template parameter, and shown by ``tributary endpoints`` with a ready curl line."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from tributary.settings import Settings


def token_path(settings: Settings) -> Path:
    return settings.home_dir / "credentials" / "api-token"


def api_token(settings: Settings) -> str:
    """The token, made now if there is none (two processes racing agree on the first)."""
    path = token_path(settings)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(32))
        except FileExistsError:
            pass
    return path.read_text().strip()


def rotate(settings: Settings) -> None:
    """A new token; the old one stops working once the runtime restarts."""
    token_path(settings).unlink(missing_ok=True)
    api_token(settings)


def unsigned_webhook(settings: Settings) -> str | None:
    """What ``stack up`` does about a webhook with no signing secret: None (it has one),
    ``warn`` or ``refuse`` (the setting ``webhook_unsigned``)."""
    secret = settings.webhook_signing_secret
    return None if secret and secret.get_secret_value() else settings.webhook_unsigned
