"""The control topic's records: key ``<type>/<name>``, value JSON or a tombstone (pure).

Compaction keeps the newest value of each key, so every record states the
whole of its subject (a credential, an organization's status, a catalogue),
never a change to apply on top of another.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

from control.credentials import Credential, Kind

CREDENTIAL = "credential"
ORGANIZATION = "organization"
CATALOGUE = "catalogue"
ERASURE = "erasure"
TYPES = (CREDENTIAL, ORGANIZATION, CATALOGUE, ERASURE)


class ControlRecordError(ValueError):
    """A control record that cannot be read; the message names its key and field."""


@dataclass(frozen=True, slots=True)
class OrganizationStatus:
    organization: str
    disabled: bool
    reason: str
    changed_at: float


@dataclass(frozen=True, slots=True)
class CatalogueRecord:
    organization: str
    document: dict[str, Any]  # the rights catalogue, as docs/semantics.md describes it
    changed_at: float


@dataclass(frozen=True, slots=True)
class ErasureRecord:
    """An erasure the workers apply to their state (docs/operations/erasure.md).

    It names no person and no session: ``digests`` are salted digests of the
    erased sessions' state keys (``session_digest``), and the salt is fresh
    per request, so the record cannot be matched against guessed ids without
    also holding the salt, and two requests cannot be linked. A worker drops
    each stored session whose key digests to one of them and whose state was
    last changed before ``issued_at``.
    """

    request_id: str
    organization: str
    salt: str
    digests: tuple[str, ...]
    issued_at: float


Record = Credential | OrganizationStatus | CatalogueRecord | ErasureRecord


def session_digest(salt: str, organization: str, session_id: str) -> str:
    """The salted digest of a session's state key, ``<organization>/<session id>``."""
    return state_key_digest(salt, f"{organization}/{session_id}")


def state_key_digest(salt: str, key: str) -> str:
    return hashlib.sha256(f"{salt}\0{key}".encode()).hexdigest()


def key_of(record: Record) -> str:
    if isinstance(record, Credential):
        return f"{CREDENTIAL}/{record.key_id}"
    if isinstance(record, ErasureRecord):
        return f"{ERASURE}/{record.request_id}"
    if isinstance(record, OrganizationStatus):
        return f"{ORGANIZATION}/{record.organization}"
    return f"{CATALOGUE}/{record.organization}"


def encode(record: Record) -> tuple[bytes, bytes]:
    """Key and value bytes of ``record``."""
    value = asdict(record)
    value.pop("request_id" if isinstance(record, ErasureRecord)
              else "organization" if not isinstance(record, Credential) else "key_id")
    return key_of(record).encode(), json.dumps(value, sort_keys=True).encode()


def split_key(key: bytes) -> tuple[str, str]:
    text = key.decode("utf-8", errors="replace")
    kind, sep, name = text.partition("/")
    if not sep or kind not in TYPES or not name:
        raise ControlRecordError(f"control record key {text!r}: expected one of "
                                 f"{', '.join(t + '/<name>' for t in TYPES)}")
    return kind, name


def decode(key: bytes, value: bytes) -> Record:
    kind, name = split_key(key)
    try:
        body = json.loads(value)
    except ValueError as err:
        raise ControlRecordError(f"control record {kind}/{name}: not JSON: {err}") from err
    if not isinstance(body, dict):
        raise ControlRecordError(f"control record {kind}/{name}: expected a JSON object")
    try:
        if kind == CREDENTIAL:
            return Credential(
                key_id=name, kind=Kind(body["kind"]), organization=_text(body, "organization"),
                sha256=_text(body, "sha256"), created_at=float(body["created_at"]),
                label=str(body.get("label", "")),
                expires_at=_instant(body.get("expires_at")),
                revoked_at=_instant(body.get("revoked_at")))
        if kind == ERASURE:
            digests = body["digests"]
            if not isinstance(digests, list) or not all(isinstance(d, str) for d in digests):
                raise ControlRecordError(f"control record {kind}/{name}: digests must be a "
                                         "list of strings")
            return ErasureRecord(name, _text(body, "organization"), _text(body, "salt"),
                                 tuple(digests), float(body["issued_at"]))
        if kind == ORGANIZATION:
            return OrganizationStatus(name, bool(body["disabled"]), str(body.get("reason", "")),
                                      float(body["changed_at"]))
        document = body["document"]
        if not isinstance(document, dict):
            raise ControlRecordError(f"control record {kind}/{name}: document must be an "
                                     "object")
        return CatalogueRecord(name, document, float(body["changed_at"]))
    except KeyError as err:
        raise ControlRecordError(f"control record {kind}/{name}: missing field {err}") from err
    except (TypeError, ValueError) as err:
        if isinstance(err, ControlRecordError):
            raise
        raise ControlRecordError(f"control record {kind}/{name}: {err}") from err


def _text(body: dict[str, Any], field: str) -> str:
    value = body[field]
    if not isinstance(value, str) or not value:
        raise ControlRecordError(f"field {field} must be a non-empty string")
    return value


def _instant(value: Any) -> float | None:
    return None if value is None else float(value)
