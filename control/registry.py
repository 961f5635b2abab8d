"""What the control topic says now: credentials, disabled organizations, catalogues (pure).

A follower feeds it every record in offset order (``apply``); services ask
it questions with the time passed in. Records that cannot be read are kept
out and counted, with the reason, so one bad write cannot stop a gateway.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from control.credentials import Credential, Kind, digest
from control.records import (
    CATALOGUE,
    CREDENTIAL,
    ERASURE,
    CatalogueRecord,
    ControlRecordError,
    ErasureRecord,
    OrganizationStatus,
    decode,
    split_key,
)


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of presenting a key: its credential, or why it was refused."""

    credential: Credential | None
    refusal: str | None = None


@dataclass
class Registry:
    credentials: dict[str, Credential] = field(default_factory=dict)  # by key id
    by_digest: dict[str, Credential] = field(default_factory=dict)
    statuses: dict[str, OrganizationStatus] = field(default_factory=dict)
    catalogues: dict[str, CatalogueRecord] = field(default_factory=dict)
    erasures: dict[str, ErasureRecord] = field(default_factory=dict)  # by request id (workers)
    # Bumped by every applied record: consumers cache what they derive per version.
    version: int = 0
    unreadable: Counter[str] = field(default_factory=Counter)
    last_error: str | None = None
    _kinds: frozenset[Kind] = frozenset()
    _kinds_version: int = -1

    def apply(self, key: bytes, value: bytes | None) -> None:
        try:
            self._apply(key, value)
        except ControlRecordError as err:
            self.unreadable[key.decode("utf-8", errors="replace").partition("/")[0]] += 1
            self.last_error = str(err)
            return
        self.version += 1

    def _apply(self, key: bytes, value: bytes | None) -> None:
        kind, name = split_key(key)
        if value is None:  # a tombstone: the subject is gone
            if kind == CREDENTIAL:
                self._forget_credential(name)
            elif kind == CATALOGUE:
                self.catalogues.pop(name, None)
            elif kind == ERASURE:
                self.erasures.pop(name, None)
            else:
                self.statuses.pop(name, None)
            return
        record = decode(key, value)
        if isinstance(record, Credential):
            self._forget_credential(record.key_id)
            self.credentials[record.key_id] = record
            self.by_digest[record.sha256] = record
        elif isinstance(record, ErasureRecord):
            self.erasures[record.request_id] = record
        elif isinstance(record, OrganizationStatus):
            self.statuses[record.organization] = record
        else:
            self.catalogues[record.organization] = record

    def _forget_credential(self, key_id: str) -> None:
        old = self.credentials.pop(key_id, None)
        if old is not None:
            self.by_digest.pop(old.sha256, None)

    def verify(self, key: str, kind: Kind, now: float) -> Verdict:
        """The credential ``key`` presents, if it is of ``kind`` and usable at ``now``.

        Lookup is by the key's digest, so no stored value is compared with
        the key itself and there is no prefix to time.
        """
        credential = self.by_digest.get(digest(key))
        if credential is None:
            return Verdict(None, "unknown key")
        if credential.kind != kind:
            return Verdict(None, f"this is a {credential.kind} key, not a {kind} key")
        refusal = credential.refusal(now)
        return Verdict(None, refusal) if refusal else Verdict(credential)

    def keys_of(self, organization: str | None = None) -> list[Credential]:
        return sorted((c for c in self.credentials.values()
                       if organization is None or c.organization == organization),
                      key=lambda c: (c.organization, c.created_at, c.key_id))

    def has_keys(self, kind: Kind) -> bool:
        """Whether any key of ``kind`` was ever made (revoked ones too: once an
        organization uses keys, a missing key must never fall back to open access)."""
        if self._kinds_version != self.version:  # asked per request: count once per change
            self._kinds = frozenset(c.kind for c in self.credentials.values())
            self._kinds_version = self.version
        return kind in self._kinds

    def is_disabled(self, organization: str) -> bool:
        status = self.statuses.get(organization)
        return status is not None and status.disabled

    def catalogue(self, organization: str) -> dict[str, Any] | None:
        record = self.catalogues.get(organization)
        return None if record is None else record.document
