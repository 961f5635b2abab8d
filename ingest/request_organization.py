"""Which organization a request writes for, in dialects whose events do not say.

Rules (docs/semantics.md, "Organization"):

* With write keys configured, the key decides: a request writes for the
  organization its key belongs to. Naming an organization as well is allowed
  only if it is the key's own (403 otherwise, as for every dialect).
* Without write keys, the request must name the organization, in the
  ``X-Playhead-Organization`` header or the ``organizationId`` query
  parameter (the query parameter suits ``navigator.sendBeacon``, which cannot
  set headers). Both may be sent if they agree.

An organization id is at most 128 printable ASCII characters without ``/``:
it becomes the first half of the Kafka key ``<organization>/<session>``, so a
slash would make two different keys read alike.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Header, Query, Request

from ingest.dialects.fields import KEY_PART_PATTERN
from ingest.gateway import Gateway, Problem
from ingest.rejections import Rejected

HEADER = "X-Playhead-Organization"

HeaderOrganization = Annotated[str | None, Header(
    alias=HEADER, pattern=KEY_PART_PATTERN,
    description="The organization the events belong to. Not needed with a write key (the "
                "key names its organization).")]
QueryOrganization = Annotated[str | None, Query(
    alias="organizationId", pattern=KEY_PART_PATTERN,
    description=f"The organization, for clients that cannot set the {HEADER} header "
                "(navigator.sendBeacon). Not needed with a write key.")]


def resolve_organization(gateway: Gateway, request: Request, header: str | None,
                         query: str | None) -> str:
    """The organization of this request, or an answer saying why there is none (401/403/422)."""
    if header is not None and query is not None and header != query:
        raise Rejected([Problem("organizationId", "organization_mismatch",
                                f"the {HEADER} header says {header} but organizationId says "
                                f"{query}; send one, or the same in both")])
    named = header if header is not None else query
    # Raises 401 for a missing or refused key, 403 for another organization's name.
    owner = gateway.authorize(request, {named} if named is not None else set())
    if owner is not None:
        return owner
    if named is None:
        raise Rejected([Problem("organizationId", "missing",
                                f"say which organization the events belong to: the {HEADER} "
                                "header or the organizationId query parameter")])
    return named
