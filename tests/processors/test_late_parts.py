"""Events after a session's lateness window are counted in a continuation, once.

docs/semantics.md, "Late events": a session past its lateness window is a
tombstone that keeps digests of its event ids; a new event for it begins the
session's next part, written under ``<session id>~<n>``; an event any part
already counted is a duplicate. The property tests play whole schedules
through the worker's batch path (stored bytes between batches, crashes that
lose state changes after the rows were written) and check that every
distinct event is counted in exactly one part, whatever the replays.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_profiles import examples
from samples import CLIP, ORGANIZATION, SESSION
from test_core_semantics import OMNY

from processors import state_codec
from processors.batch import SessionBatch, open_entries
from processors.handling import InvalidMessage, WorkerCounters
from processors.open_index import OpenSessions
from processors.session import Rules, SessionResult, SessionState, Tombstone, summarize
from schemas.event import EventKind, PlaybackEvent

RULES = Rules(idle_timeout_seconds=60, lateness_seconds=100, tombstone_seconds=1000)
KEY = OMNY[0].session_key
IDLE, LATE = 60.0, 100.0


@dataclass
class Pipeline:
    """The worker's batch path over a dict store, and a sink that keeps each row's
    highest version, as the warehouse's tables do."""

    store: dict[str, bytes] = field(default_factory=dict)
    rows: dict[str, SessionResult] = field(default_factory=dict)
    counters: WorkerCounters = field(default_factory=WorkerCounters)
    refused: list[tuple[str, str]] = field(default_factory=list)

    def run(self, now: float, events: Sequence[PlaybackEvent] = (), tick: bool = False,
            lose_state: bool = False) -> SessionBatch:
        index = OpenSessions(open_entries(self.store.items()))
        batch = SessionBatch(now, RULES, lambda key, _: self.store.get(key), self.counters)
        for event in events:
            try:
                batch.apply(event, index, "t")
            except InvalidMessage as err:
                self.refused.append((event.event_id, err.reason))
        if tick:
            batch.close_idle(index, "tick")
            batch.sweep(sorted(self.store.items()), "tick")
        for result in batch.emitted.values():
            known = self.rows.get(result.session_id)
            if known is not None and known.version == result.version:
                assert known == result, "one version of a row, two contents"
            if known is None or known.version <= result.version:
                self.rows[result.session_id] = result
        if not lose_state:  # a crash after the rows were written, before the state
            for change in batch.changes():
                if change.value is None:
                    self.store.pop(change.key, None)
                else:
                    self.store[change.key] = change.value
        return batch


def event(seq: int, kind: EventKind = EventKind.START, position: float = 0.0,
          action: str = "", clip: str = CLIP) -> PlaybackEvent:
    return PlaybackEvent(f"id-{seq}", ORGANIZATION, SESSION, clip, "Web", kind, position, seq,
                         1_700_000_000.0 + seq, action=action)


def counted(rows: dict[str, SessionResult]) -> list[str]:
    """Every event id the rows count, once per row that holds it."""
    return sorted(e.event_id for row in rows.values() for e in row.timeline)


def test_a_late_play_after_the_window_is_counted_in_a_continuation() -> None:
    p = Pipeline()
    p.run(0, OMNY)  # complete: closes at once
    p.run(LATE, tick=True)  # past the window: a tombstone
    late = [event(5, EventKind.START, 600), event(6, EventKind.STOP, 640)]
    batch = p.run(LATE + 10, late)
    assert p.counters.sessions["continued"] == 1 and p.counters.sessions["opened"] == 1
    assert batch.emitted == {}  # the part is open, written when it closes
    p.run(LATE + 10 + IDLE, tick=True)
    part = p.rows[f"{SESSION}~1"]
    assert part == summarize(late, RULES, 1)
    assert part.session_id == f"{SESSION}~1" and part.clip_id == CLIP
    assert part.duration_seconds == 40 and part.kept
    assert p.rows[SESSION] == summarize(OMNY, RULES)  # the first part is as it was
    assert p.refused == []


def test_a_duplicate_of_a_counted_event_counts_nowhere_and_is_counted_as_a_duplicate() -> None:
    p = Pipeline()
    p.run(0, OMNY)
    p.run(LATE, tick=True)
    tombstone = p.store[KEY]
    p.run(LATE + 1, [OMNY[0], OMNY[3]])
    assert p.store[KEY] == tombstone and p.counters.events["duplicate"] == 2
    # In an open part too, beside a new event.
    p.run(LATE + 2, [event(5), OMNY[1], event(5)])
    assert p.counters.events["duplicate"] == 4 and p.counters.events["new"] == 5
    p.run(LATE + 2 + IDLE, tick=True)
    assert counted(p.rows) == sorted([*(e.event_id for e in OMNY), "id-5"])


def test_a_part_past_its_own_window_is_continued_by_the_next_part() -> None:
    p = Pipeline()
    p.run(0, OMNY)
    p.run(LATE, tick=True)
    p.run(LATE, [event(5)])
    p.run(LATE + IDLE, tick=True)  # part 1 closes
    p.run(LATE + IDLE + 50, [event(6)])  # inside part 1's window: re-opens it
    p.run(LATE + 2 * IDLE + 50, tick=True)
    assert p.rows[f"{SESSION}~1"].version == 2
    p.run(LATE + 2 * IDLE + 150, tick=True)  # part 1 is a tombstone
    stored = state_codec.decode(p.store[KEY])
    assert isinstance(stored, Tombstone) and stored.continuation == 1
    assert stored.seen is not None and len(stored.seen) == 6
    p.run(LATE + 2 * IDLE + 151, [event(7), event(5), OMNY[2]])
    p.run(LATE + 3 * IDLE + 151, tick=True)
    assert p.rows[f"{SESSION}~2"].version == 1
    assert counted(p.rows) == sorted([*(e.event_id for e in OMNY), "id-5", "id-6", "id-7"])


def test_a_late_part_keeps_the_sessions_clip() -> None:
    p = Pipeline()
    p.run(0, OMNY)
    p.run(LATE, tick=True)
    # Listening on another clip would credit two clips with one play: refused.
    p.run(LATE + 1, [event(5, clip="another-clip")])
    assert p.refused == [("id-5", "clip_mismatch")]
    # A rights play alone is a part of the same play, whatever clip it names.
    rights = event(6, EventKind.OTHER, action="clip_play", clip="another-clip")
    p.run(LATE + 2, [rights])
    p.run(LATE + 2 + IDLE, tick=True)
    part = p.rows[f"{SESSION}~1"]
    assert part.clip_id == CLIP and [c.event_id for c in part.content] == ["id-6"]
    assert [c.clip_id for c in part.content] == ["another-clip"]


def test_a_late_parts_plays_count_under_the_platform_the_sessions_app_stated() -> None:
    p = Pipeline()
    started = replace(event(1, EventKind.OTHER, action="app_start"),
                      attributes={"platform": "android"})
    p.run(0, [started, event(2, EventKind.OTHER, action="clip_play")])
    p.run(IDLE, tick=True)
    p.run(IDLE + LATE, tick=True)
    p.run(IDLE + LATE + 1, [event(3, EventKind.OTHER, action="clip_play")])
    p.run(2 * IDLE + LATE + 1, tick=True)
    [play] = p.rows[f"{SESSION}~1"].content
    assert (play.event_id, play.platform) == ("id-3", "android")


def test_a_session_state_is_refused_not_grown_past_its_bound_by_its_parts() -> None:
    small = replace(RULES, max_session_bytes=21 + 12 + len(CLIP) + 8 * 4 + 8)
    state = state_codec.decode(state_codec.encode(Tombstone(0, 4, 0, frozenset(range(4)), CLIP)))
    assert isinstance(state, Tombstone)
    store = {KEY: state_codec.encode(state)}
    batch = SessionBatch(LATE, small, lambda key, _: store.get(key), WorkerCounters())
    with pytest.raises(InvalidMessage) as refused:
        batch.apply(event(5), OpenSessions([]), "t")
    assert refused.value.reason == "session_limit"
    assert batch.changes() == []  # the tombstone stays as it was


def test_a_first_part_is_stored_as_before_and_a_continuation_round_trips() -> None:
    first = SessionState()
    for e in OMNY[:2]:
        first.add(e, 0)
    encoded = state_codec.encode(first)
    assert encoded[0] == state_codec.OPEN  # no parts section: the bytes are unchanged
    part = Tombstone(5, 4, 2, frozenset({1, 2**64 - 1}), "é-clip", "ios").continued()
    part.add(event(9), 7)
    assert state_codec.decode(state_codec.encode(part)) == part
    assert state_codec.peek(state_codec.encode(part)).kind == state_codec.OPEN


# A schedule: rounds of deliveries, each round a list of event indexes (any may come
# again), delivered in batches; rounds are far enough apart that each later round
# finds the session past its window, or only closed, or still open.
ROUND_GAPS = st.sampled_from([5.0, IDLE + 5, IDLE + LATE + 5])


@st.composite
def schedules(draw: st.DrawFn) -> tuple[list[PlaybackEvent], list[tuple[float, list[int]]]]:
    count = draw(st.integers(min_value=1, max_value=12))
    kinds = [EventKind.START, EventKind.STOP, EventKind.HEARTBEAT, EventKind.OTHER]
    events = [replace(event(seq, draw(st.sampled_from(kinds)),
                            draw(st.floats(min_value=0, max_value=900))),
                      action=draw(st.sampled_from(["", "clip_play", "like"])))
              for seq in range(1, count + 1)]
    rounds = []
    now = 0.0
    for _ in range(draw(st.integers(min_value=1, max_value=5))):
        now += draw(ROUND_GAPS)
        rounds.append((now, draw(st.lists(st.integers(0, count - 1), min_size=1, max_size=8))))
    return events, rounds


def play(events: list[PlaybackEvent], rounds: list[tuple[float, list[int]]],
         crash_at: int | None = None) -> Pipeline:
    p = Pipeline()
    step = 0
    for now, indexes in rounds:
        for at in (now, now + IDLE, now + IDLE + LATE):
            batch = [events[i] for i in indexes] if at == now else []
            if step == crash_at:
                # Rows written, state changes lost; the same records come again.
                p.run(at, batch, tick=True, lose_state=True)
            p.run(at, batch, tick=True)
            step += 1
            indexes = []
    return p


@settings(max_examples=examples(200), deadline=None)
@given(schedule=schedules())
def test_every_delivered_event_is_counted_in_exactly_one_part(
        schedule: tuple[list[PlaybackEvent], list[tuple[float, list[int]]]]) -> None:
    events, rounds = schedule
    p = play(events, rounds)
    delivered = sorted({events[i].event_id for _, indexes in rounds for i in indexes})
    assert counted(p.rows) == delivered
    assert p.refused == []
    for row in p.rows.values():  # each part is summarized under the same rules
        number = int(row.session_id.partition("~")[2] or 0)
        assert row == summarize(row.timeline, RULES, number, CLIP if number else None)


@settings(max_examples=examples(200), deadline=None)
@given(schedule=schedules(), data=st.data())
def test_replays_after_a_crash_give_the_same_rows(
        schedule: tuple[list[PlaybackEvent], list[tuple[float, list[int]]]],
        data: st.DataObject) -> None:
    events, rounds = schedule
    clean = play(events, rounds)
    crash_at = data.draw(st.integers(min_value=0, max_value=3 * len(rounds) - 1))
    assert play(events, rounds, crash_at).rows == clean.rows
