"""Per-session figures beyond the histogram (docs/figures.md), on the pure core."""

from __future__ import annotations

from datetime import date

from samples import CLIP, ORGANIZATION, SESSION
from test_core_semantics import OMNY, ev

from processors.figures import unique_seconds
from processors.intervals import Interval
from processors.session import Rules, summarize
from schemas.event import EventKind, PlaybackEvent


def act(action: str, seq: int, stamp: float, *, value_ms: int | None = None,
        length: float | None = None, **attributes: str) -> PlaybackEvent:
    return PlaybackEvent(f"e{seq}", ORGANIZATION, SESSION, CLIP, "Web", EventKind.OTHER, 0, seq,
                         stamp, action=action, value_ms=value_ms, clip_length_seconds=length,
                         attributes=attributes)


def test_unique_seconds_count_a_replayed_stretch_once_and_listened_seconds_twice() -> None:
    events = [ev("Start", 0, 1, 0), ev("Stop", 30, 2, 30), ev("Start", 10, 3, 31),
              ev("Stop", 40, 4, 61)]
    result = summarize(events, Rules())
    assert result.duration_seconds == 60
    assert result.unique_seconds == 40
    assert result.furthest_seconds == 40


def test_union_of_nested_and_touching_intervals() -> None:
    assert unique_seconds([Interval(0, 10), Interval(2, 5), Interval(10, 12)]) == 12
    assert unique_seconds([]) == 0


def test_completion_share_needs_the_clip_length_and_caps_at_one() -> None:
    omny = summarize(OMNY, Rules())
    assert omny.clip_length_seconds is None and omny.completion_share is None
    with_length = summarize([*OMNY, act("ready", 5, 1540270962, length=1000.0)], Rules())
    assert with_length.clip_length_seconds == 1000.0
    assert with_length.completion_share == 0.239144
    short_clip = summarize([*OMNY, act("ready", 5, 1540270962, length=100.0)], Rules())
    assert short_clip.completion_share == 1.0


def test_the_largest_reported_clip_length_wins_whatever_the_order() -> None:
    a, b = act("ready", 5, 10, length=300.0), act("ready", 6, 11, length=600.0)
    assert summarize([*OMNY, a, b], Rules()).clip_length_seconds == 600.0
    assert summarize([b, *OMNY, a], Rules()).clip_length_seconds == 600.0


def test_quality_of_experience() -> None:
    events = [
        act("startup", 1, 100.0, value_ms=850), act("startup", 2, 101.0, value_ms=99),
        ev("Start", 0, 3, 101), act("rebuffer", 4, 110.0, value_ms=1200),
        act("buffer_start", 5, 120.0), act("buffer_end", 6, 122.5),
        act("buffer_end", 7, 123.0),  # nothing open: ignored
        act("quality_change", 8, 130.0, from_quality="720p", to_quality="1080p"),
        act("error", 9, 140.0, error_code="E1"), act("buffer_start", 10, 150.0),
        ev("Stop", 49, 11, 151.5),
    ]
    q = summarize(events, Rules()).quality
    assert q.startup_ms == 850  # the first measurement
    # rebuffer of 1.2 s, a 2.5 s stall, and a stall still open at the last event (1.5 s)
    assert (q.rebuffer_count, q.rebuffer_ms) == (3, 1200 + 2500 + 1500)
    assert (q.quality_changes, q.errors) == (1, 1)


def test_a_dialect_without_quality_events_reports_none_and_zeros() -> None:
    q = summarize(OMNY, Rules()).quality
    assert (q.startup_ms, q.rebuffer_count, q.rebuffer_ms, q.quality_changes, q.errors) == (
        None, 0, 0, 0, 0)


def test_engagement_and_rights_events_are_listed_once_each_with_their_dimensions() -> None:
    events = [*OMNY, act("like", 5, 1540270970), act("clip_play", 6, 1540357400,
                                                      platform="ios", method="stream"),
              act("download", 7, 1540357401, platform="android", method="offline"),
              act("quality_change", 8, 1540357402)]
    content = summarize([*events, events[5]], Rules()).content
    assert [(c.action, c.day, c.platform, c.method) for c in content] == [
        ("like", date(2018, 10, 23), "", ""),
        ("clip_play", date(2018, 10, 24), "ios", "stream"),
        ("download", date(2018, 10, 24), "android", "offline"),
    ]
    assert [c.event_id for c in content] == ["e5", "e6", "e7"]


def test_a_short_session_still_reports_its_content_events() -> None:
    # Royalties are paid per play event, whatever was listened.
    result = summarize([act("track_play", 1, 10, platform="web", method="stream")], Rules())
    assert not result.kept and [c.action for c in result.content] == ["track_play"]


def test_plays_are_counted_under_the_platform_the_sessions_app_started_on() -> None:
    # /app-start states the platform; the plays after it do not, a share names
    # where it was shared. Whatever order they arrive in, plays count under "ios".
    events = [act("app_start", 1, 100, platform="ios"), act("clip_play", 2, 101),
              act("share", 3, 102, platform="instagram"), act("download", 4, 103),
              act("add", 5, 104)]
    for arrival in (events, events[::-1]):
        content = summarize(arrival, Rules()).content
        assert [(c.action, c.platform) for c in content] == [
            ("clip_play", "ios"), ("share", "instagram"), ("download", "ios"), ("add", "ios")]
    without_start = summarize(events[1:], Rules()).content
    assert [c.platform for c in without_start] == ["", "instagram", "", ""]
