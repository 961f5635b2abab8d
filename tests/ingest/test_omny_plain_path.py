"""Omny's plain path (no model, no UUID objects) gives exactly what the model's path gives.

The route reads a session's events with ``omny.plain_events`` and falls back to
pydantic validation, ``to_event`` and ``admit_events`` when it declines, so a
session may take it only if the model's path would accept every event of the
session unchanged and build the very same canonical events.
"""

from __future__ import annotations

import math
import uuid
from functools import cache
from typing import Any

from hypothesis import event, given, settings
from hypothesis import strategies as st
from hypothesis_profiles import examples
from pydantic import ValidationError

from config.settings import Settings
from ingest.dialects import omny
from ingest.dialects.context import DialectContext
from ingest.gateway import Gateway, Problem
from ingest.gateway_config import GatewayConfig
from ingest.policy import EventRejected, TimestampPolicy
from tests.ingest.fake_gateway import KeepingPublisher

ORG = "126281f8-200e-4c9f-8378-a4870055423b"
NOW = 1_764_547_200.0
POLICY = TimestampPolicy(max_future_seconds=300.0, max_age_seconds=86_400.0)


@cache
def config() -> GatewayConfig:
    """Read from the environment once: reading it for each example took half the time."""
    return GatewayConfig.from_settings(Settings())


def gateway() -> Gateway:
    return Gateway(config(), KeepingPublisher())


guids = st.one_of(
    st.just(ORG), st.just(ORG.upper()), st.uuids().map(str), st.uuids().map(lambda u: u.hex),
    st.uuids().map(lambda u: "{" + str(u) + "}"), st.uuids().map(lambda u: str(u)[:-1] + "g"),
    st.text(max_size=40), st.integers(), st.none())
numbers = st.one_of(
    st.floats(), st.integers(), st.integers(min_value=2**53 - 3, max_value=2**53 + 3),
    st.integers(min_value=2**63 - 2, max_value=2**64), st.booleans(), st.text(max_size=8),
    st.none())
times = st.one_of(
    st.floats(min_value=NOW - 2 * 86_400, max_value=NOW + 900),
    st.integers(min_value=int(NOW) - 2 * 86_400, max_value=int(NOW) + 900),
    st.just(NOW), st.just(NOW + 300.0), st.just(NOW - 86_400.0), numbers)
sequences = st.one_of(st.integers(min_value=-2, max_value=10), st.just(2**63 - 1),
                      st.just(2**63), numbers)
kinds = st.one_of(st.sampled_from(["Start", "Stop", "start", "Pause", ""]), st.integers(),
                  st.none())
FIELDS = {"OrganizationId": guids, "ClipId": guids, "SessionId": guids, "Type": kinds,
          "Position": st.one_of(st.floats(min_value=-90_000, max_value=90_000), numbers),
          "SeqNumber": sequences, "Timestamp": times}
# What most clients send: most drawn items are plain, so both paths are exercised.
PLAIN = {"OrganizationId": st.just(ORG), "ClipId": st.uuids().map(str),
         "SessionId": st.uuids().map(str), "Type": st.sampled_from(["Start", "Stop"]),
         "Position": st.floats(-90_000, 90_000) | st.integers(-90_000, 90_000),
         "SeqNumber": st.integers(1, 2**63 - 1),
         "Timestamp": st.floats(NOW - 86_400, NOW + 300) | st.integers(int(NOW) - 86_400,
                                                                       int(NOW) + 300)}


ONE_IN_15, ONE_IN_10, ONE_IN_31 = st.integers(0, 14), st.integers(0, 9), st.integers(0, 30)
ADDED = st.sampled_from(["Extra", "position"])
NOT_AN_ITEM = st.sampled_from([[], "event", None])


@st.composite
def items(draw: st.DrawFn) -> Any:
    item = {name: draw(FIELDS[name] if draw(ONE_IN_15) == 0 else PLAIN[name])
            for name in FIELDS}
    if draw(ONE_IN_10) == 0:
        del item[draw(st.sampled_from(sorted(item)))]
    if draw(ONE_IN_10) == 0:
        item[draw(ADDED)] = 1
    return item if draw(ONE_IN_31) else draw(NOT_AN_ITEM)


def model_path(raw_items: list[tuple[int, Any]], source: omny.OmnySource,
               context: DialectContext, gw: Gateway) -> list[Any] | None:
    """What the route's full path makes of a session: its events, or None if refused."""
    events = []
    for index, raw in raw_items:
        try:
            item = omny.EVENT.validate_python(raw)
            converted = omny.to_event(item, source, context.item(index))
            gw.admit_events([converted], omny.locate(item, context.item(index).path))
        except (ValidationError, EventRejected):
            return None
        events.append(converted)
    return events


@settings(max_examples=examples(1500), deadline=None)
@given(st.lists(items(), min_size=1, max_size=4), st.sampled_from(list(omny.OmnySource)))
def test_the_plain_path_takes_a_session_only_as_the_model_path_would(
        raw: list[Any], source: omny.OmnySource) -> None:
    gw = gateway()
    context = DialectContext(ORG, NOW, POLICY, "Events")
    session = list(enumerate(raw))
    plain = gw.admit_plain(omny.plain_events(session, source, context, omny.Guids()))
    event("plain" if plain is not None else "model")
    if plain is not None:
        assert plain == model_path(session, source, context, gw)


def typical(count: int) -> list[tuple[int, dict[str, Any]]]:
    session, clip = str(uuid.uuid4()), str(uuid.uuid4())
    return [(i, {"OrganizationId": ORG, "ClipId": clip, "SessionId": session,
                 "Type": "Start" if i % 2 == 0 else "Stop", "Position": 12 * i + 0.5,
                 "SeqNumber": i + 1, "Timestamp": int(NOW) - 60 + i}) for i in range(count)]


def test_a_typical_session_takes_the_plain_path_and_builds_the_model_paths_events() -> None:
    gw = gateway()
    context = DialectContext(ORG, NOW, POLICY, "Events")
    session = typical(6)
    plain = gw.admit_plain(omny.plain_events(session, omny.OmnySource.WEB, context,
                                             omny.Guids()))
    assert plain is not None
    assert plain == model_path(session, omny.OmnySource.WEB, context, gw)


def test_what_the_plain_path_declines_is_judged_by_the_model_and_named_as_sent() -> None:
    gw = gateway()
    context = DialectContext(ORG, NOW, POLICY, "Events")
    body = omny.OmnyEnvelope.model_validate({
        "Source": "Web", "Completed": True,
        "Events": [event for _, event in typical(2)] + [
            {**typical(1)[0][1], "Position": math.inf}]})
    from ingest.routes.omny import judge
    judged = judge(gw, body, context)
    assert judged.events  # the session without a problem is published
    assert [p.path for p in judged.problems] == ["Events[2].Position"]
    assert all(isinstance(p, Problem) for p in judged.problems)
