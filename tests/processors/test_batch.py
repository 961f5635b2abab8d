"""One batch of worker work (processors/batch.py), without Kafka: what is written, in what form."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from test_core_semantics import OMNY

from processors import state_codec
from processors.batch import SessionBatch, open_entries
from processors.faust_app import StateDirInUse, lock_state_dir
from processors.handling import WorkerCounters
from processors.open_index import OpenSessions
from processors.session import Rules, SessionState, Tombstone, summarize
from schemas.event import PlaybackEvent

RULES = Rules(idle_timeout_seconds=60, lateness_seconds=100, tombstone_seconds=50)
KEY = OMNY[0].session_key


def run(store: dict[str, bytes], now: float, events: Sequence[PlaybackEvent] = (),
        tick: bool = False, index: OpenSessions | None = None) -> SessionBatch:
    index = index if index is not None else OpenSessions(open_entries(store.items()))
    batch = SessionBatch(now, RULES, lambda key, _: store.get(key), WorkerCounters())
    for event in events:
        batch.apply(event, index, "token")
    if tick:
        batch.close_idle(index, "tick")
        batch.sweep(sorted(store.items()), "tick")
    for change in batch.changes():
        if change.value is None:
            store.pop(change.key, None)
        else:
            store[change.key] = change.value
    return batch


def test_a_session_opens_idles_out_and_is_written_once_closed() -> None:
    store: dict[str, bytes] = {}
    first = run(store, 0, OMNY[:2])
    assert first.emitted == {} and state_codec.peek(store[KEY]).kind == state_codec.OPEN
    assert first.counters.sessions["opened"] == 1
    assert run(store, 59, tick=True).emitted == {}
    closing = run(store, 60, tick=True)
    assert list(closing.emitted.values()) == [summarize(OMNY[:2], RULES)]
    assert closing.closes == list(closing.emitted.values())
    assert state_codec.peek(store[KEY]).kind == state_codec.CLOSED


def test_a_duplicate_of_a_closed_session_writes_it_again_without_counting_a_close() -> None:
    store: dict[str, bytes] = {}
    run(store, 0, OMNY)  # complete: closes at once
    again = run(store, 10, OMNY[:1])
    assert list(again.emitted.values()) == [summarize(OMNY, RULES)] and again.closes == []


def test_the_sweep_turns_old_closes_into_tombstones_then_forgets_them() -> None:
    store: dict[str, bytes] = {}
    run(store, 0, OMNY)
    run(store, 99, tick=True)
    assert state_codec.peek(store[KEY]).kind == state_codec.CLOSED
    run(store, 100, tick=True)
    tombstone = state_codec.decode(store[KEY])
    assert isinstance(tombstone, Tombstone)
    assert (tombstone.closed_at, tombstone.version, tombstone.continuation) == (0, 4, 0)
    duplicate = run(store, 149, OMNY[:1])  # already counted: nothing written, nothing opened
    assert duplicate.emitted == {} and duplicate.counters.events["duplicate"] == 1
    assert state_codec.decode(store[KEY]) == tombstone
    run(store, 150, tick=True)
    assert KEY not in store


def test_an_open_session_is_never_swept_and_the_index_comes_back_from_the_store() -> None:
    store: dict[str, bytes] = {}
    run(store, 0, OMNY[:1])
    run(store, 10_000, tick=True, index=OpenSessions())  # an index that lost the key
    assert isinstance(state_codec.decode(store[KEY]), SessionState)
    assert OpenSessions(open_entries(store.items())).idle(10_000, 60) == [KEY]


def test_two_workers_cannot_share_a_state_folder(tmp_path: Path) -> None:
    held = lock_state_dir(tmp_path / "w")
    try:
        with pytest.raises(StateDirInUse, match="PLAYHEAD_STATE_DIR"):
            lock_state_dir(tmp_path / "w")
    finally:
        held.close()
    lock_state_dir(tmp_path / "w").close()  # free again once the first one is gone
