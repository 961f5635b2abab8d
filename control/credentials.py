"""Credentials: how keys look, how they are stored (hashed) and when they are valid (pure)."""

from __future__ import annotations

import enum
import hashlib
import secrets
from dataclasses import dataclass


class Kind(enum.StrEnum):
    WRITE = "write"  # the gateway: send events for one organization
    READ = "read"  # the read API and dashboard: read one organization's figures
    ADMIN = "admin"  # the admin API: manage one organization's keys and catalogue


PREFIX = {Kind.WRITE: "phw", Kind.READ: "phr", Kind.ADMIN: "pha"}


def new_secret(kind: Kind) -> tuple[str, str]:
    """A fresh key and its public id: ``phw_<id>_<secret>``.

    The id is shown in listings and names the key in rotate and revoke; the
    secret is 256 random bits, shown once and never stored.
    """
    key_id = secrets.token_hex(6)
    return f"{PREFIX[kind]}_{key_id}_{secrets.token_urlsafe(32)}", key_id


def digest(key: str) -> str:
    """What is stored of a key. A plain SHA-256 is enough: the keys are random
    256-bit secrets, so there is nothing for a slow hash to protect against
    guessing; the point is that a copy of the topic reveals no usable key."""
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Credential:
    key_id: str
    kind: Kind
    organization: str
    sha256: str
    created_at: float
    label: str = ""
    expires_at: float | None = None  # set by a rotation: the overlap's end
    revoked_at: float | None = None

    def refusal(self, now: float) -> str | None:
        """Why this credential cannot be used at ``now``, or None if it can."""
        if self.revoked_at is not None and now >= self.revoked_at:
            return "revoked"
        if self.expires_at is not None and now >= self.expires_at:
            return "expired (it was rotated)"
        return None
