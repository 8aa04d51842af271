"""The errors Athena's API answers with: a client error, or a query that failed."""

from __future__ import annotations


class InvalidRequest(ValueError):
    """``InvalidRequestException``: the call itself is wrong (HTTP 400)."""

    code = "InvalidRequestException"


class MetadataError(InvalidRequest):
    code = "MetadataException"


class QueryFailed(ValueError):
    """The query ran (or was read) and failed: the execution ends FAILED with this reason.

    ``category`` is Athena's error category: 1 system, 2 user, 3 other."""

    def __init__(self, reason: str, category: int = 2, error_type: int = 1100) -> None:
        super().__init__(reason)
        self.category = category
        self.error_type = error_type
