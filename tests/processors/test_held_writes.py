"""A batch processed while the one before is still being written sees what it would
have seen had that one been stored (processors/held_writes.py)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_profiles import examples
from test_core_semantics import ev

from processors.batch import SessionBatch, open_entries
from processors.handling import InvalidMessage, WorkerCounters
from processors.held_writes import ABSENT, HeldWrites
from processors.open_index import OpenSessions
from processors.session import Rules, SessionResult
from schemas.event import PlaybackEvent

RULES = Rules(idle_timeout_seconds=60, lateness_seconds=100, tombstone_seconds=50)
Step = tuple[float, list[PlaybackEvent], bool]  # now, events, tick


def test_reads_see_the_newest_write_held_and_batches_are_stored_in_order() -> None:
    held = HeldWrites()
    first = held.begin()
    first.put("t", "a", b"1")
    first.put("t", "b", b"2")
    held.close()
    second = held.begin()
    second.put("t", "a", None)
    assert held.read("a") is None and held.read("b") == b"2" and held.read("c") is ABSENT
    with pytest.raises(AssertionError):
        held.take(second)  # neither the oldest nor done with
    held.close()
    assert held.take(first) == [("t", "a", b"1"), ("t", "b", b"2")]
    assert held.read("b") is ABSENT and held.read("a") is None
    assert held.take(second) == [("t", "a", None)] and len(held) == 0


def run(steps: list[Step], pipelined: bool) -> tuple[list[object], dict[str, bytes]]:
    """Every batch's output and the final store; pipelined, each batch's writes are
    stored only after the next batch was processed (before its sweep, as the worker does)."""
    store: dict[str, bytes] = {}
    held = HeldWrites()
    index = OpenSessions(open_entries(()))
    waiting = None
    out: list[object] = []

    def load(key: str, _: object) -> bytes | None:
        value = held.read(key)
        return store.get(key) if value is ABSENT else value  # type: ignore[return-value]

    def commit() -> None:
        nonlocal waiting
        if waiting is not None:
            for _, key, value in held.take(waiting):
                if value is None:
                    store.pop(key, None)
                else:
                    store[key] = value
            waiting = None

    for now, events, tick in steps:
        held.begin()
        work = SessionBatch(now, RULES, load, WorkerCounters())
        for event in events:
            try:
                work.apply(event, index, "token")
            except InvalidMessage as err:
                out.append(err.reason)
        if tick:
            commit()
            work.close_idle(index, "tick")
            work.sweep(sorted(store.items()), "tick")
        emitted: list[SessionResult] = list(work.emitted.values())
        changes = work.changes()
        assert held.open is not None
        for change in changes:
            held.open.put(change.token, change.key, change.value)
        staged = held.close()
        out.append((emitted, [(c.key, c.value) for c in changes], work.closes))
        commit()  # pipelined: the batch before this one (else none is waiting)
        waiting = staged
        if not pipelined:
            commit()
    commit()
    return out, store


@st.composite
def scenarios(draw: st.DrawFn) -> list[Step]:
    events: list[PlaybackEvent] = []
    stamp = 1_700_000_000.0
    for session in range(draw(st.integers(1, 3))):
        count = draw(st.integers(1, 8))
        for seq in range(1, count + 1):
            kind = draw(st.sampled_from(["Start", "Stop", "Beat"]))
            event = ev(kind, seq * 10.0, seq, stamp + seq, complete=seq == count
                       and draw(st.booleans()))
            events.append(replace(event, session_id=f"s{session}",
                                  event_id=f"{event.event_id}-{session}"))
    events += draw(st.lists(st.sampled_from(events), max_size=4))  # duplicates, late ones
    order = draw(st.permutations(events))
    steps: list[Step] = []
    now = 1_700_000_000.0
    while order:
        size = draw(st.integers(1, 5))
        now += draw(st.sampled_from([0.0, 1.0, 30.0, 61.0, 120.0]))
        steps.append((now, list(order[:size]), draw(st.booleans())))
        order = order[size:]
    steps.append((now + 500, [], True))  # everything idles out, then past its window
    steps.append((now + 1000, [], True))
    return steps


@settings(max_examples=examples(200), deadline=None)
@given(steps=scenarios())
def test_a_pipelined_batch_gives_what_it_would_have_given_after_the_last_was_stored(
        steps: list[Step]) -> None:
    assert run(steps, pipelined=True) == run(steps, pipelined=False)
