"""The complete-through bounds (processors/completeness.py): never ahead of the truth.

The property test runs one partition the way the shell does (batches, ticks
that close idle sessions and sweep, index and followed sessions rebuilt from
the store as after a rebalance) on events the gateway would accept, and checks
that no row written after a bound was computed is dated before it, unless it
is the same row again.
"""

from __future__ import annotations

import contextlib
import math
import random
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_profiles import examples

from processors import state_codec
from processors.batch import SessionBatch, open_entries
from processors.completeness import (
    SHARED,
    SLOTS,
    Bound,
    PendingSessions,
    horizon,
    lag_margin,
    partition_bounds,
)
from processors.handling import WorkerCounters
from processors.open_index import OpenSessions
from processors.session import Rules, SessionResult, SessionState, Tombstone
from schemas.event import EventKind, PlaybackEvent

RULES = Rules(idle_timeout_seconds=3, lateness_seconds=10, tombstone_seconds=30,
              min_session_seconds=1)
MAX_AGE = 30.0
LIFETIME = 15.0  # how long a client keeps sending under one session id


def test_no_age_limit_means_no_watermark() -> None:
    assert lag_margin(0, 300, 10) is None
    assert lag_margin(86_400, 300, 10) == 86_710


def test_the_horizon_is_the_longer_of_lateness_and_idle_timeout() -> None:
    assert horizon(10, 3) == 10 and horizon(10, 30) == 30


def test_a_followed_session_holds_its_organization_back_until_it_can_no_longer_change() -> None:
    pending = PendingSessions(horizon=64.0)  # slots of one second
    pending.record("acme", 500.0, at=1000.5)
    pending.record("acme", 700.0, at=1003.2)
    pending.record("zeta", 900.0, at=1001.0)
    assert pending.floors(1010) == {"acme": 500.0, "zeta": 900.0}
    # A change at 1000.5 is final by 1064.5; its slot ends at 1001, so it goes after 1065.
    assert pending.floors(1064.9) == {"acme": 500.0, "zeta": 900.0}
    assert pending.floors(1065.01) == {"acme": 700.0, "zeta": 900.0}
    assert pending.floors(1066.01) == {"acme": 700.0}
    assert pending.floors(1068.01) == {}
    pending.record("acme", math.inf, at=1068)  # a part without events: nothing to hold
    assert pending.floors(1068.01) == {}


def test_a_partition_writes_a_shared_row_and_rows_for_organizations_held_back() -> None:
    rows = partition_bounds(3, 8, tick=1000.0, margin=100.0,
                            floors={"acme": 850.12345, "zeta": 950.0})
    assert rows == [Bound(3, 8, SHARED, 1000.0, 900.0), Bound(3, 8, "acme", 1000.0, 850.123)]


@dataclass
class Partition:
    """One partition as a worker runs it: the store, the index, the followed sessions."""

    store: dict[str, bytes] = field(default_factory=dict)
    index: OpenSessions = field(default_factory=OpenSessions)
    pending: PendingSessions = field(
        default_factory=lambda: PendingSessions(horizon(RULES.lateness_seconds,
                                                        RULES.idle_timeout_seconds)))

    def rebalance(self, now: float) -> None:
        self.pending = PendingSessions(self.pending.horizon)
        self.index = OpenSessions(open_entries(self.store.items(), self.pending, now, RULES))

    def batch(self, now: float, events: list[PlaybackEvent], tick: float | None
              ) -> tuple[list[SessionResult], list[Bound]]:
        work = SessionBatch(now, RULES, lambda key, _: self.store.get(key), WorkerCounters())
        for event in events:
            with contextlib.suppress(ValueError):  # dead-lettered: changes nothing
                work.apply(event, self.index, "message")
        if tick is not None:
            work.close_idle(self.index, "tick")
            work.sweep(sorted(self.store.items()), "tick")
        written = list(work.emitted.values())
        for change in work.changes():
            if change.value is None:
                self.store.pop(change.key, None)
            else:
                self.store[change.key] = change.value
        for _, organization, earliest in work.changing():
            self.pending.record(organization, earliest, now)
        if tick is None:
            return written, []
        return written, partition_bounds(0, 1, tick, MAX_AGE, self.pending.floors(now))


def dates(result: SessionResult) -> float:
    """The earliest instant any row of this session version is dated at."""
    return min(e.timestamp for e in result.timeline)


@settings(max_examples=examples(60), deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**32))
def test_no_row_dated_before_a_bound_changes_after_it(seed: int) -> None:
    rng = random.Random(seed)
    part = Partition()
    organizations = ["acme", "zeta", "omny"]
    sent: dict[str, list[PlaybackEvent]] = {}
    written: dict[tuple[str, str], SessionResult] = {}
    born: dict[str, float] = {}
    bounds: list[tuple[float, dict[str, float]]] = []  # (computed at, per organization)
    now = 1_800_000_000.0
    for _ in range(120):
        now += rng.uniform(0.2, 2.5)
        events = []
        for _ in range(rng.randint(0, 4)):
            # A client's retry of an event sent before, if the gateway still takes it.
            retry = rng.choice(rng.choice(list(sent.values()))) if sent else None
            if retry and retry.timestamp >= now - MAX_AGE and rng.random() < 0.25:
                events.append(retry)
                continue
            org = rng.choice(organizations)
            # A client uses a session id for a while, never again once its
            # tombstone could be forgotten (docs/semantics.md: that would start
            # it afresh under its first id).
            live = [key for key, first in born.items()
                    if key.startswith(f"{org}/") and now - first < LIFETIME]
            if not live or rng.random() < 0.2:
                live = [f"{org}/s{len(born)}"]
                born[live[0]] = now
            session = rng.choice(live).split("/", 1)[1]
            held = sent.setdefault(f"{org}/{session}", [])
            # What the gateway accepts: at most MAX_AGE old when it reaches Kafka now.
            stamp = now - rng.uniform(0, MAX_AGE)
            kind = rng.choice([EventKind.START, EventKind.STOP, EventKind.OTHER])
            event = PlaybackEvent(f"{org}:{session}:{len(held)}:{seed}", org, session, "c1",
                                  "Web", kind, rng.uniform(0, 600), rng.randint(1, 40), stamp,
                                  action="like" if kind is EventKind.OTHER else "",
                                  session_complete=rng.random() < 0.2)
            held.append(event)
            events.append(event)
        if rng.random() < 0.05:
            part.rebalance(now)
        # A tick stamped when it was sent, after every event above reached the partition.
        tick = now - rng.uniform(0, 0.5) if rng.random() < 0.6 else None
        results, rows = part.batch(now, events, tick)
        for result in results:
            key = (result.organization_id, result.session_id)
            before = written.get(key)
            if before == result:
                continue  # the same rows again: nothing changes
            changed_from = dates(result) if before is None else min(dates(result),
                                                                     dates(before))
            for computed_at, per_organization in bounds:
                bound = per_organization.get(result.organization_id,
                                             per_organization[SHARED])
                assert changed_from >= bound, (
                    f"{result.session_id} rewritten at {now} with rows dated {changed_from}, "
                    f"before the bound {bound} computed at {computed_at}")
            written[key] = result
        if rows:
            bounds.append((now, {row.organization_id: row.bound for row in rows}))
    assert bounds


def test_the_slot_width_bounds_how_late_the_watermark_is() -> None:
    pending = PendingSessions(horizon=10.0)
    pending.record("acme", 5.0, at=100.0)
    width = 10.0 / SLOTS
    assert pending.floors(110.0 + width - 1e-9) == {"acme": 5.0}
    assert pending.floors(110.0 + 2 * width) == {}


def test_stored_sessions_are_followed_again_after_a_rebalance() -> None:
    part = Partition()
    event = PlaybackEvent("e1", "acme", "s1", "c1", "Web", EventKind.START, 0.0, 1, 500.0)
    part.batch(1000.0, [event], None)
    part.rebalance(1001.0)
    assert part.pending.floors(1001.0) == {"acme": 500.0}
    part.batch(1004.0, [], tick=1004.0)  # idles out: closed, still within its window
    part.rebalance(1005.0)
    assert part.pending.floors(1005.0) == {"acme": 500.0}
    part.rebalance(1014.5)  # past its lateness window: final, not followed
    assert part.pending.floors(1014.5) == {}


def test_a_stored_sessions_earliest_event_is_read_without_decoding_it() -> None:
    first = SessionState()
    for n, stamp in enumerate([500.0, 400.5, 450.0], 1):
        first.add(PlaybackEvent(f"e{n}", "acme", "s1", "c1", "Web", EventKind.START, 0.0, n,
                                stamp), 0)
    part = Tombstone(5.0, 3, 0, frozenset({1, 2, 3}), "c1", "ios").continued()
    part.add(PlaybackEvent("late", "acme", "s1", "c1", "Web", EventKind.OTHER, 0.0, 9, 900.0),
             0)
    for state in (first, part):
        raw = state_codec.encode(state)
        assert state_codec.earliest(raw) == ("acme", state.earliest)
        decoded = state_codec.decode(raw)
        assert isinstance(decoded, SessionState) and decoded.earliest == state.earliest
    assert state_codec.earliest(state_codec.encode(SessionState())) is None
    assert (first.earliest, part.earliest) == (400.5, 900.0)


def test_a_session_is_followed_a_clock_skew_past_its_window() -> None:
    part = Partition()
    event = PlaybackEvent("e1", "acme", "s1", "c1", "Web", EventKind.START, 0.0, 1, 500.0)
    part.batch(1000.0, [event], None)
    part.batch(1004.0, [], tick=1004.0)  # closed at 1004, its window ends at 1014
    work = SessionBatch(1014.5, RULES, lambda key, _: part.store.get(key), WorkerCounters())
    work.apply(event, part.index, "message")  # a duplicate: written again, not re-opened
    assert work.changing() == []
    assert work.changing(skew=5.0) == [("message", "acme", 500.0)]
