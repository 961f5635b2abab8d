"""Read tokens: each token reads exactly one organization (pure).

Every route takes the organization from the token, never from the request,
so no parameter can name another organization's data.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable, Mapping

from control.credentials import Kind
from control.registry import Registry


class Unauthorized(Exception):
    """No token, or one that is not configured (401)."""


class ReadTokens:
    """Read tokens from the settings (token -> organization) and from the control topic."""

    def __init__(self, tokens: Mapping[str, str], control: Registry | None = None,
                 clock: Callable[[], float] = time.time):
        self._tokens = dict(tokens)
        self._control = control if control is not None else Registry()
        self._clock = clock

    def organization(self, token: str | None) -> str:
        if not self._tokens and not self._control.has_keys(Kind.READ):
            raise Unauthorized("the read API has no read tokens: make one with `playhead keys "
                               "create --kind read --organization <id>`, or set "
                               'PLAYHEAD_READ_TOKENS=\'{"<token>": "<organization id>"}\'')
        if not token:
            raise Unauthorized("a read token is required: send 'Authorization: Bearer <token>'")
        # Compare against every configured token in constant time: no early exit
        # that a caller could time to learn a token's prefix.
        found = None
        for known, organization in self._tokens.items():
            if hmac.compare_digest(known.encode(), token.encode()):
                found = organization
        if found is not None:
            return found
        verdict = self._control.verify(token, Kind.READ, self._clock())
        if verdict.credential is None:
            raise Unauthorized(f"read token refused: {verdict.refusal}")
        return verdict.credential.organization


def bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None
