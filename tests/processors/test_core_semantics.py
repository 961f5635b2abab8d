"""The consumption semantics of docs/semantics.md, rule by rule, on the pure core."""

from __future__ import annotations

from histogram_oracle import bucket_listens
from samples import CLIP, ORGANIZATION, SESSION

from processors import state_codec
from processors.histogram import touched_buckets
from processors.intervals import Interval, listened_intervals, ordered
from processors.session import Added, Rules, SessionState, summarize
from schemas.event import EventKind, PlaybackEvent, derived_event_id

KINDS = {"Start": EventKind.START, "Stop": EventKind.STOP, "Beat": EventKind.HEARTBEAT,
         "Seek": EventKind.SEEK, "Like": EventKind.OTHER}


def ev(kind: str, position: float, seq: int, stamp: float, *, complete: bool = False,
       event_id: str | None = None, to: float | None = None) -> PlaybackEvent:
    return PlaybackEvent(
        event_id=event_id or derived_event_id("omny", ORGANIZATION, SESSION, seq),
        organization_id=ORGANIZATION, session_id=SESSION, clip_id=CLIP, source="Web",
        kind=KINDS[kind], position_seconds=position, sequence_number=seq, timestamp=stamp,
        session_complete=complete, seek_to_seconds=to,
    )


OMNY = [ev("Start", 0, 1, 1540270724), ev("Stop", 4.554, 2, 1540270728),
        ev("Start", 308.053, 3, 1540270728), ev("Stop", 542.643, 4, 1540270962, complete=True)]


def test_omny_reference_request_gives_the_documented_intervals_and_buckets() -> None:
    result = summarize(OMNY, Rules())
    assert result.intervals == (Interval(0, 4.554), Interval(308.053, 542.643))
    assert result.duration_seconds == 239.144
    assert sorted(result.buckets) == [*range(0, 5), *range(308, 543)]
    assert set(result.buckets.values()) == {1}
    assert result.kept and str(result.day) == "2018-10-23"


def test_order_is_by_sequence_number_then_timestamp() -> None:
    late_stamp = ev("Stop", 20, 2, 100)
    early_stamp = ev("Start", 0, 2, 50, event_id="tie")
    assert [e.event_id for e in ordered([late_stamp, early_stamp])] == ["tie", late_stamp.event_id]


def test_stop_without_open_interval_is_ignored() -> None:
    assert listened_intervals([ev("Stop", 5, 1, 0), ev("Start", 10, 2, 1),
                               ev("Stop", 30, 3, 21)]) == [Interval(10, 30)]


def test_start_while_open_closes_at_elapsed_wall_time() -> None:
    events = [ev("Start", 100, 1, 1000), ev("Start", 500, 2, 1012), ev("Stop", 530, 3, 1042)]
    assert listened_intervals(events) == [Interval(100, 112), Interval(500, 530)]


def test_start_while_open_never_closes_below_its_start() -> None:
    # The clock went backwards between the two starts: elapsed time clamps at 0,
    # which makes an empty interval that is discarded.
    events = [ev("Start", 100, 1, 1000), ev("Start", 200, 2, 990), ev("Stop", 215, 3, 1005)]
    assert listened_intervals(events) == [Interval(200, 215)]


def test_interval_open_at_close_ends_at_elapsed_time_of_last_event() -> None:
    events = [ev("Start", 60, 1, 0), ev("Beat", 70, 2, 10), ev("Beat", 85, 3, 25)]
    assert listened_intervals(events) == [Interval(60, 85)]


def test_empty_and_backwards_intervals_are_discarded() -> None:
    events = [ev("Start", 50, 1, 0), ev("Stop", 50, 2, 1), ev("Start", 80, 3, 2),
              ev("Stop", 40, 4, 3)]
    assert listened_intervals(events) == []


def test_negative_positions_clamp_to_zero() -> None:
    assert listened_intervals([ev("Start", -3, 1, 0), ev("Stop", 12, 2, 12)]) == [Interval(0, 12)]


def test_short_session_is_counted_but_not_kept() -> None:
    result = summarize([ev("Start", 0, 1, 0), ev("Stop", 9, 2, 9)], Rules())
    assert result.duration_seconds == 9 and not result.kept and result.buckets == {}


def test_minimum_duration_is_configurable() -> None:
    events = [ev("Start", 0, 1, 0), ev("Stop", 9, 2, 9)]
    assert summarize(events, Rules(min_session_seconds=5)).kept


def test_buckets_touched_by_half_open_interval() -> None:
    assert list(touched_buckets(Interval(0, 4.554), 1.0)) == [0, 1, 2, 3, 4]
    assert list(touched_buckets(Interval(2.0, 4.0), 1.0)) == [2, 3]
    assert list(touched_buckets(Interval(2.5, 7.5), 5.0)) == [0, 1]


def test_replays_count_as_listens_not_listeners() -> None:
    assert bucket_listens([Interval(0, 3), Interval(1, 2)], 1.0) == {0: 1, 1: 2, 2: 1}


def test_session_closes_when_complete_and_no_sequence_number_is_missing() -> None:
    state = SessionState()
    rules = Rules()
    for event in (OMNY[0], OMNY[1], OMNY[3]):
        state.add(event, now=0)
    assert not state.should_close(0, rules)  # sequence 3 still missing
    state.add(OMNY[2], now=1)
    assert state.should_close(1, rules)


def test_idle_session_closes_after_timeout() -> None:
    state = SessionState()
    state.add(ev("Start", 0, 1, 0), now=100)
    rules = Rules(idle_timeout_seconds=60)
    assert not state.should_close(159, rules)
    assert state.should_close(160, rules)


def test_duplicate_counts_once_and_late_event_reopens() -> None:
    state = SessionState()
    assert [state.add(e, now=0) for e in OMNY[:2]] == [Added.NEW, Added.NEW]
    assert state.add(OMNY[0], now=0) is Added.DUPLICATE
    state.close(Rules(), now=0)
    assert state.add(OMNY[2], now=5) is Added.REOPENED and state.version == 3


def test_state_round_trips_through_its_stored_bytes() -> None:
    state = SessionState()
    for event in OMNY:
        state.add(event, now=3.5)
    copy = state_codec.decode(state_codec.encode(state))
    assert isinstance(copy, SessionState)
    assert copy.events == state.events and copy.last_activity == 3.5


def test_seek_while_playing_is_a_stop_at_from_and_a_start_at_to() -> None:
    seek = PlaybackEvent("seek", ORGANIZATION, SESSION, CLIP, "Web", EventKind.SEEK, 7, 2, 8,
                         seek_to_seconds=21)
    events = [ev("Start", 0, 1, 0), seek, ev("Stop", 30, 3, 17)]
    assert listened_intervals(events) == [Interval(0, 7), Interval(21, 30)]


def test_seek_while_paused_opens_nothing() -> None:
    seek = PlaybackEvent("seek", ORGANIZATION, SESSION, CLIP, "Web", EventKind.SEEK, 7, 3, 8,
                         seek_to_seconds=21)
    events = [ev("Start", 0, 1, 0), ev("Stop", 7, 2, 7), seek, ev("Stop", 30, 4, 17)]
    assert listened_intervals(events) == [Interval(0, 7)]


def test_completeness_check_is_cheap_for_timestamp_sequence_numbers() -> None:
    state = SessionState()
    state.add(ev("Start", 0, 1_700_000_000_000, 0, complete=True), now=0)
    assert not state.is_complete()  # answers at once instead of building 10^12 numbers
