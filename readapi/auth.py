"""Read tokens: each token reads exactly one organization (pure).

Every route takes the organization from the token, never from the request,
so no parameter can name another organization's data.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping


class Unauthorized(Exception):
    """No token, or one that is not configured (401)."""


class ReadTokens:
    def __init__(self, tokens: Mapping[str, str]):
        self._tokens = dict(tokens)

    def organization(self, token: str | None) -> str:
        if not self._tokens:
            raise Unauthorized("the read API has no read tokens configured: set "
                               'PLAYHEAD_READ_TOKENS=\'{"<token>": "<organization id>"}\'')
        if not token:
            raise Unauthorized("a read token is required: send 'Authorization: Bearer <token>'")
        # Compare against every token in constant time: no early exit that a
        # caller could time to learn a token's prefix.
        found = None
        for known, organization in self._tokens.items():
            if hmac.compare_digest(known.encode(), token.encode()):
                found = organization
        if found is None:
            raise Unauthorized("unknown read token")
        return found


def bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None
