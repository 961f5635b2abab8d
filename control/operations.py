"""What operators do to the control state, as records to publish (pure; time passed in).

Each function checks the request against the current ``Registry`` and
returns the records that carry it out, so the CLI and the admin API do the
same thing and a test can check it without Kafka.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from control.credentials import Credential, Kind, digest, new_secret
from control.records import CatalogueRecord, OrganizationStatus
from control.registry import Registry


class OperationError(ValueError):
    """A request that cannot be carried out; the message says why and what to do."""


class UnknownKey(OperationError):
    """No key of that id (in that organization, for an organization's admin)."""


def create_key(kind: Kind, organization: str, label: str, now: float) -> tuple[str, Credential]:
    """A new key (returned once, in clear) and the credential to publish."""
    if not organization:
        raise OperationError("name the organization the key is for")
    key, key_id = new_secret(kind)
    return key, Credential(key_id, kind, organization, digest(key), now, label)


def find_key(registry: Registry, key_id: str, organization: str | None) -> Credential:
    """The credential ``key_id``; an organization's admin sees only its own keys."""
    credential = registry.credentials.get(key_id)
    if credential is None or (organization is not None
                              and credential.organization != organization):
        raise UnknownKey(f"no key {key_id}" + (f" in organization {organization}"
                                                   if organization else ""))
    return credential


def rotate_key(registry: Registry, key_id: str, overlap_seconds: float, now: float,
               organization: str | None = None) -> tuple[str, Credential, Credential]:
    """A successor key, and the old one ending ``overlap_seconds`` from now.

    The overlap lets every player and server move to the new key before the
    old one stops working; 0 ends the old key at once.
    """
    if overlap_seconds < 0:
        raise OperationError("the overlap cannot be negative")
    old = find_key(registry, key_id, organization)
    if old.refusal(now):
        raise OperationError(f"key {key_id} is {old.refusal(now)}: create a new one instead")
    key, new = create_key(old.kind, old.organization, old.label, now)
    ends = now + overlap_seconds
    return key, new, replace(old, expires_at=ends if old.expires_at is None
                             else min(old.expires_at, ends))


def revoke_key(registry: Registry, key_id: str, now: float,
               organization: str | None = None) -> Credential:
    old = find_key(registry, key_id, organization)
    return old if old.revoked_at is not None else replace(old, revoked_at=now)


def set_disabled(organization: str, disabled: bool, reason: str,
                 now: float) -> OrganizationStatus:
    if not organization:
        raise OperationError("name the organization")
    return OrganizationStatus(organization, disabled, reason, now)


def set_catalogue(organization: str, document: dict[str, Any], now: float) -> CatalogueRecord:
    """The caller checks ``document`` first (ingest.rights.parse), so a bad catalogue is
    refused with the entry named instead of reaching every gateway."""
    if not organization:
        raise OperationError("name the organization")
    return CatalogueRecord(organization, document, now)
