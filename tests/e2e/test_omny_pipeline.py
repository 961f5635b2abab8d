"""The Omny path end to end: HTTP gateway -> Kafka -> Faust worker -> ClickHouse."""

from __future__ import annotations

import random
import uuid
from typing import Any

import pytest
from conftest import Pipeline
from samples import omny_request

from schemas.event import session_key
from schemas.partitioner import partition_of

pytestmark = pytest.mark.integration  # the session's pipeline

ORG = str(uuid.uuid4())


def fresh_request(**changes: Any) -> tuple[dict[str, Any], str, str]:
    clip, session = str(uuid.uuid4()), str(uuid.uuid4())
    return omny_request(session=session, clip=clip, org=ORG, **changes), clip, session


def test_reference_sample_gives_the_documented_retention_curve(pipeline: Pipeline) -> None:
    body, clip, session = fresh_request()
    answer = pipeline.post_omny(body, ORG)
    assert answer.status_code == 200 and answer.json() == {"Enabled": True}
    pipeline.wait_for_version(session, 4)

    buckets = pipeline.buckets(clip)
    assert [b[0] for b in buckets] == [*range(0, 5), *range(308, 543)]
    assert {(b[1], b[2]) for b in buckets} == {(1, 1)}
    [(session_id, source, _, duration, kept)] = pipeline.sessions(clip)
    assert (session_id, source, kept) == (session, "Web", 1)
    assert duration == pytest.approx(239.144)


def test_nine_second_session_is_recorded_as_not_kept_without_buckets(pipeline: Pipeline) -> None:
    body, clip, session = fresh_request()
    body["Events"] = body["Events"][:2]
    body["Events"][1]["Position"] = 9.0
    assert pipeline.post_omny(body, ORG).status_code == 200
    pipeline.wait_for_version(session, 2)

    [(_, _, _, duration, kept)] = pipeline.sessions(clip)
    assert (duration, kept) == (9.0, 0)
    assert pipeline.buckets(clip) == []


def test_shuffled_duplicated_session_over_several_requests_equals_the_clean_one(
    pipeline: Pipeline,
) -> None:
    clean, clean_clip, clean_session = fresh_request()
    noisy, noisy_clip, noisy_session = fresh_request()
    events = noisy["Events"] + random.Random(7).choices(noisy["Events"], k=5)
    random.Random(11).shuffle(events)
    assert pipeline.post_omny(clean, ORG).status_code == 200
    for part in (events[:3], events[3:6], events[6:]):
        assert pipeline.post_omny({**noisy, "Events": part}, ORG).status_code == 200
    pipeline.wait_for_version(clean_session, 4)
    pipeline.wait_for_version(noisy_session, 4)

    assert pipeline.buckets(noisy_clip) == pipeline.buckets(clean_clip)
    strip = [row[1:] for row in pipeline.sessions(noisy_clip)]
    assert strip == [row[1:] for row in pipeline.sessions(clean_clip)]


def test_a_request_sent_twice_counts_once(pipeline: Pipeline) -> None:
    body, clip, session = fresh_request()
    for _ in range(2):
        assert pipeline.post_omny(body, ORG).status_code == 200
    pipeline.wait_for_version(session, 4)
    # The second copy may still be in flight. A marker session sent afterwards
    # to the same partition closes only once everything before it was processed.
    partitions = pipeline.settings.topic_partitions
    home = partition_of(session_key(ORG, session), partitions)
    while True:
        marker, _, marker_session = fresh_request()
        if partition_of(session_key(ORG, marker_session), partitions) == home:
            break
    assert pipeline.post_omny(marker, ORG).status_code == 200
    pipeline.wait_for_version(marker_session, 4)

    assert len(pipeline.sessions(clip)) == 1
    assert {(b[1], b[2]) for b in pipeline.buckets(clip)} == {(1, 1)}
    assert pipeline.rows(
        f"SELECT sum(listeners) FROM {pipeline.db}.consumption_by_bucket "
        "WHERE clip_id = {c:String}", c=clip) == [(240,)]
