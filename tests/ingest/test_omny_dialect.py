"""The Omny request model and its mapping onto canonical events (pure)."""

from __future__ import annotations

import uuid

import pytest
from pydantic import ValidationError
from samples import CLIP, ORGANIZATION, SESSION, omny_request

from ingest.dialects.context import DialectContext
from ingest.dialects.omny import OmnyRequest, OrganizationMismatch, to_events
from schemas.event import EventKind

ORG = uuid.UUID(ORGANIZATION)


def test_reference_request_maps_onto_canonical_events() -> None:
    events = to_events(OmnyRequest.model_validate(omny_request()),
                       DialectContext(str(ORG), 1540271000.0))
    assert [(e.kind, e.position_seconds, e.sequence_number, e.timestamp) for e in events] == [
        (EventKind.START, 0, 1, 1540270724), (EventKind.STOP, 4.554, 2, 1540270728),
        (EventKind.START, 308.053, 3, 1540270728), (EventKind.STOP, 542.643, 4, 1540270962)]
    first = events[0]
    assert (first.organization_id, first.clip_id, first.session_id) == (ORGANIZATION, CLIP, SESSION)
    assert first.event_id == f"omny:{ORGANIZATION}:{SESSION}:1"
    assert all(e.session_complete and e.source == "Web" and e.received_at == 1540271000.0
               for e in events)


def test_retried_request_gets_the_same_event_ids() -> None:
    request = OmnyRequest.model_validate(omny_request())
    assert [e.event_id for e in to_events(request, DialectContext(str(ORG), 1540271000.0))] == [
        e.event_id for e in to_events(request, DialectContext(str(ORG), 1540271099.0))]


def test_event_of_another_organization_is_rejected_with_its_path() -> None:
    body = omny_request()
    body["Events"][2]["OrganizationId"] = str(uuid.uuid4())
    with pytest.raises(OrganizationMismatch, match=r"Events\[2\]\.OrganizationId"):
        to_events(OmnyRequest.model_validate(body), DialectContext(str(ORG), 0.0))


@pytest.mark.parametrize("change, field", [
    (lambda b: b.update(Source="Radio"), "Source"),
    (lambda b: b.update(Events=[]), "Events"),
    (lambda b: b.update(Completed=False), "Completed"),
    (lambda b: b["Events"][0].update(Type="Pause"), "Type"),
    (lambda b: b["Events"][0].update(SeqNumber=0), "SeqNumber"),
    (lambda b: b["Events"][0].update(Position="soon"), "Position"),
    (lambda b: b["Events"][0].pop("SessionId"), "SessionId"),
    (lambda b: b["Events"][0].update(ClipId="not-a-guid"), "ClipId"),
])
def test_invalid_requests_name_the_bad_field(change, field: str) -> None:  # type: ignore[no-untyped-def]
    body = omny_request()
    change(body)
    with pytest.raises(ValidationError) as caught:
        OmnyRequest.model_validate(body)
    assert field in {str(part) for error in caught.value.errors() for part in error["loc"]}


def test_timestamps_from_the_future_are_replaced_and_flagged() -> None:
    events = to_events(OmnyRequest.model_validate(omny_request()),
                       DialectContext(str(ORG), 1_000_000.0))
    assert {e.timestamp for e in events} == {1_000_000.0}
    assert events[0].attributes["timestamp_adjusted"] == "future:1540270724"
