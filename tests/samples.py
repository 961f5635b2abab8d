"""The Omny reference request (the example on Omny's consumption API page) as test data."""

from __future__ import annotations

from typing import Any

from devkit.sample_retime import retimed
from ingest.examples import reference

_REFERENCE = reference("omny")
ORGANIZATION = _REFERENCE["Events"][0]["OrganizationId"]
CLIP = _REFERENCE["Events"][0]["ClipId"]
SESSION = _REFERENCE["Events"][0]["SessionId"]


def omny_request(session: str = SESSION, clip: str = CLIP, org: str = ORGANIZATION,
                 now: float | None = None) -> dict[str, Any]:
    """The reference request for another session/clip/organization; moved to ``now`` if given."""
    body: dict[str, Any] = retimed("omny", now) if now is not None else reference("omny")
    for event in body["Events"]:
        event.update(OrganizationId=org, ClipId=clip, SessionId=session)
    return body
