"""Hostile sessions cannot stall a worker: bounded size, bounded cost per event, fixed clip."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_profiles import examples
from samples import CLIP, ORGANIZATION, SESSION

from processors import session as session_module
from processors import state_codec
from processors.batch import SessionBatch
from processors.dead_letters import ConsecutiveLimit, DeadLetterLimitExceeded, DeadLetters
from processors.handling import InvalidMessage, WorkerCounters, decode_event
from processors.intervals import Interval
from processors.open_index import OpenSessions
from processors.session import Rules, summarize
from schemas import event_codec
from schemas.bounds import Bounds
from schemas.event import EventKind, PlaybackEvent, derived_event_id

T0 = 1_700_000_000.0


def event(seq: int, kind: EventKind = EventKind.START, position: float = 0.0, *,
          clip: str = CLIP, stamp: float | None = None, complete: bool = False,
          attributes: dict[str, str] | None = None) -> PlaybackEvent:
    return PlaybackEvent(
        event_id=derived_event_id("omny", ORGANIZATION, SESSION, seq),
        organization_id=ORGANIZATION, session_id=SESSION, clip_id=clip, source="Web",
        kind=kind, position_seconds=position, sequence_number=seq,
        timestamp=T0 + seq if stamp is None else stamp, session_complete=complete,
        dialect="omny", attributes=attributes or {})


def batch(rules: Rules, store: dict[str, bytes], now: float = T0) -> SessionBatch:
    return SessionBatch(now, rules, lambda key, _: store.get(key), WorkerCounters())


def play(count: int, complete: bool = True) -> list[PlaybackEvent]:
    """Start/stop pairs over consecutive seconds: a long, ordinary session."""
    return [event(seq, EventKind.START if seq % 2 else EventKind.STOP, float(seq),
                  complete=complete) for seq in range(1, count + 1)]


def test_a_session_holds_at_most_its_event_limit_and_refuses_the_rest_with_a_reason() -> None:
    rules = Rules(max_session_events=100)
    work = batch(rules, {})
    index = OpenSessions()
    events = play(101, complete=False)
    for e in events[:100]:
        work.apply(e, index, "t")
    with pytest.raises(InvalidMessage) as refused:
        work.apply(events[100], index, "t")
    assert refused.value.reason == "session_limit"
    assert "PLAYHEAD_MAX_SESSION_EVENTS" in refused.value.detail
    work.apply(events[5], index, "t")  # a duplicate of a held event still counts once
    [change] = work.changes()
    assert change.value is not None
    assert state_codec.peek(change.value).version == 100


def test_a_large_session_sent_at_once_is_summarized_once_per_batch(
        monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    original = session_module.summarize

    def counting(*args: object, **kwargs: object) -> session_module.SessionResult:
        calls.append(1)
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(session_module, "summarize", counting)
    work = batch(Rules(), {})
    index = OpenSessions()
    events = play(4000)  # complete from its first event: before, every event re-closed it
    for e in events:
        work.apply(e, index, "t")
    [result] = work.emitted.values()
    assert len(calls) == 1 and len(work.closes) == 1
    assert result == original(events, Rules())
    assert result.version == 4000


@settings(max_examples=examples(60), deadline=None)
@given(sizes=st.lists(st.integers(0, 3000), min_size=1, max_size=60),
       text=st.sampled_from(["a", "é", "\u20ac", "\U0001f3b5", "\"", "\\", "\x01"]))
def test_a_stored_session_never_passes_its_byte_bound(sizes: list[int], text: str) -> None:
    rules = Rules(max_session_bytes=20_000)
    store: dict[str, bytes] = {}
    for seq, size in enumerate(sizes, start=1):
        work = batch(rules, store)  # one batch per event: sizes are carried in the store
        try:
            work.apply(event(seq, EventKind.OTHER, attributes={"note": text * size}),
                       OpenSessions(), "t")
        except InvalidMessage as err:
            assert err.reason == "session_limit"
            assert "PLAYHEAD_MAX_SESSION_STATE_BYTES" in err.detail
        for change in work.changes():
            assert change.value is not None
            assert len(change.value) <= rules.max_session_bytes
            store[change.key] = change.value


def test_listening_events_naming_another_clip_are_refused_and_other_events_are_kept() -> None:
    work = batch(Rules(), {})
    index = OpenSessions()
    work.apply(event(1, EventKind.START, 0), index, "t")
    work.apply(event(2, EventKind.STOP, 30), index, "t")
    with pytest.raises(InvalidMessage) as refused:
        # Late, stamped before the first event, naming another clip: it would
        # otherwise move the session (and its 30 s) to that clip.
        work.apply(event(0 + 3, EventKind.START, 0, clip="other", stamp=T0 - 100), index, "t")
    assert refused.value.reason == "clip_mismatch"
    work.apply(event(4, EventKind.OTHER, clip="other"), index, "t")  # a like of another clip
    [change] = work.changes()
    assert change.value is not None
    stored = state_codec.decode(change.value)
    assert not isinstance(stored, session_module.Tombstone)
    assert summarize(stored.events.values(), Rules()).clip_id == CLIP


def test_a_session_listening_starts_with_its_clip_whatever_came_first() -> None:
    like_first = [event(1, EventKind.OTHER, clip="liked"), event(2, EventKind.START, 0),
                  event(3, EventKind.STOP, 20)]
    assert summarize(like_first, Rules()).clip_id == CLIP


def test_an_interval_left_open_never_reaches_past_the_longest_clip() -> None:
    rules = Rules(max_position_seconds=3600)
    year_later = [event(1, EventKind.START, 100), event(2, EventKind.HEARTBEAT, 200,
                                                        stamp=T0 + 365 * 86400)]
    assert summarize(year_later, rules).intervals == (Interval(100, 3600),)
    stopped_far = [event(1, EventKind.START, 0), event(2, EventKind.STOP, 10**6)]
    assert summarize(stopped_far, rules).intervals == (Interval(0, 3600),)


@pytest.mark.parametrize(("change", "field"), [
    ({"position_seconds": 5e9}, "position_seconds"),
    ({"value_ms": 5_000_000_000}, "value_ms"),
    ({"clip_length_seconds": 1e7}, "clip_length_seconds"),
    ({"timestamp": 4.2e9}, "timestamp"),  # 2103: decodes, but past the bound
    ({"attributes": {f"k{i}": "1" for i in range(4000)}}, "attributes"),
])
def test_the_worker_dead_letters_events_outside_the_bounds(change: dict[str, object],
                                                           field: str) -> None:
    codec = event_codec()
    raw = codec.encode(replace(event(1), **change).to_record())  # type: ignore[arg-type]
    with pytest.raises(InvalidMessage) as refused:
        decode_event(raw, codec, Bounds())
    assert refused.value.reason == "out_of_bounds"
    assert field in refused.value.detail


def test_only_what_no_client_can_cause_counts_toward_the_dead_letter_limit() -> None:
    sent: list[bytes] = []

    async def send(key: bytes | None, value: bytes | None, headers: object) -> None:
        sent.append(value or b"")

    letters = DeadLetters(send, WorkerCounters(), event_codec(), ConsecutiveLimit(3))

    async def run() -> None:
        for _ in range(50):  # a client can send this much through the gateway
            await letters.message(b"k", b"v", "t/0/1", InvalidMessage("session_limit", "full"))
        for _ in range(3):
            await letters.message(b"k", b"v", "t/0/2", InvalidMessage("undecodable", "junk"))
        with pytest.raises(DeadLetterLimitExceeded, match="PLAYHEAD_DEAD_LETTER_LIMIT"):
            await letters.message(b"k", b"v", "t/0/3", InvalidMessage("undecodable", "junk"))

    asyncio.run(run())
    assert len(sent) == 54


TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=12) | st.sampled_from(
    ["", "a", '"', "\\", "\x01", "é", "\U0001f3b5"])
NUMBER = st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**63), 2**63 - 1)


@settings(max_examples=examples(300), deadline=None)
@given(previous=st.booleans(), clip=TEXT, source=TEXT, dialect=TEXT, action=TEXT,
       position=NUMBER, seek=st.none() | NUMBER, stamp=NUMBER, value=st.none() | NUMBER,
       attributes=st.dictionaries(TEXT, TEXT, max_size=4), derived=st.booleans())
def test_the_cheap_size_estimate_never_undercounts(
        previous: bool, clip: str, source: str, dialect: str, action: str, position: float,
        seek: float | None, stamp: float, value: float | None, attributes: dict[str, str],
        derived: bool) -> None:
    state = session_module.SessionState()
    if previous:
        state.restore(event(1))
    sequence = 2**62
    e = PlaybackEvent(
        derived_event_id(dialect, ORGANIZATION, SESSION, sequence) if derived else "id-\x01é",
        ORGANIZATION, SESSION, clip, source, EventKind.SEEK, position, sequence, stamp,
        True, dialect, stamp, action, seek, value, value, attributes)  # type: ignore[arg-type]
    assert state_codec.growth_bound(e) >= state_codec.growth(state, e)
