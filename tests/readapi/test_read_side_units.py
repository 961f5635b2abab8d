"""Pure parts of the read side: periods, pagination, api.video names, tokens, the report."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from readapi.apivideo import emitted_at, seconds, to_item
from readapi.auth import ReadTokens, Unauthorized, bearer
from readapi.curve import MAX_POINTS, Bin, Binning, plan, points
from readapi.pagination import Page, pagination
from readapi.periods import BadPeriod, check_days, parse_period
from readapi.queries import ClipFigures, SourceFigures, clamp, curve_points
from readapi.report import bar, clock, render, resample, sparkline
from readapi.routes import quality, royalties


@pytest.mark.parametrize(("text", "first", "last"), [
    ("2018-01-01", date(2018, 1, 1), date(2018, 1, 1)),
    ("2018-W01", date(2018, 1, 1), date(2018, 1, 7)),
    ("2020-W53", date(2020, 12, 28), date(2021, 1, 3)),
    ("2024-02", date(2024, 2, 1), date(2024, 2, 29)),
    ("2018", date(2018, 1, 1), date(2018, 12, 31)),
    ("2018-01-01/2018-01-15", date(2018, 1, 1), date(2018, 1, 15)),
])
def test_api_video_periods(text: str, first: date, last: date) -> None:
    assert parse_period(text) == (first, last)


@pytest.mark.parametrize("text", ["", "2018-13", "2018-W54", "2018-01-15/2018-01-01",
                                  "18-01-01", "2018-1-1", "yesterday", "2018/", "2018-02-30"])
def test_bad_periods_say_what_is_accepted(text: str) -> None:
    with pytest.raises(BadPeriod, match="a week 2018-W01"):
        parse_period(text)


@pytest.mark.parametrize("text", ["9999-W52", "9999", "9999-12", "9999-12-31", "1969-12-31",
                                  "2149-06-07", "2149", "1969-12-01/1970-01-05"])
def test_periods_outside_the_warehouse_days_are_refused(text: str) -> None:
    # 9999-W52 ends in year 10000, which no date can hold: a refusal, not a crash.
    with pytest.raises(BadPeriod, match="1970-01-01 and 2149-06-06") as refused:
        parse_period(text)
    assert refused.value.name == "period"


def test_from_and_to_days_are_checked_and_named() -> None:
    check_days(None, None)
    check_days(date(1970, 1, 1), date(2149, 6, 6))
    for first, last, name in ((date(9999, 12, 31), None, "from"),
                              (None, date(1969, 12, 31), "to"),
                              (date(2024, 5, 2), date(2024, 5, 1), "to")):
        with pytest.raises(BadPeriod) as refused:
            check_days(first, last)
        assert refused.value.name == name, (first, last)


def test_days_outside_clickhouse_dates_are_clamped() -> None:
    assert clamp(date(1900, 1, 1), date(9999, 1, 1)) == (date(1970, 1, 1), date(2149, 6, 6))
    assert clamp(None, None) == (date(1970, 1, 1), date(2149, 6, 6))


def test_pagination_of_the_reference_page() -> None:
    body = pagination("/analytics/sessions/ps5/events", Page(1, 25), 30, 25)
    assert body == {
        "currentPage": 1, "currentPageItems": 25, "itemsTotal": 30,
        "links": [
            {"rel": "self", "uri": "/analytics/sessions/ps5/events?currentPage=1&pageSize=25"},
            {"rel": "first", "uri": "/analytics/sessions/ps5/events?currentPage=1&pageSize=25"},
            {"rel": "next", "uri": "/analytics/sessions/ps5/events?currentPage=2&pageSize=25"},
            {"rel": "last", "uri": "/analytics/sessions/ps5/events?currentPage=2&pageSize=25"},
        ],
        "pageSize": 25, "pagesTotal": 2,
    }


def test_pagination_of_an_empty_listing_and_filters_in_links() -> None:
    body = pagination("/analytics/videos/v", Page(1, 10), 0, 0, [("period", "2018-W01")])
    assert body["pagesTotal"] == 1 and body["itemsTotal"] == 0
    assert [link["rel"] for link in body["links"]] == ["self", "first", "last"]
    assert body["links"][0]["uri"] == (
        "/analytics/videos/v?period=2018-W01&currentPage=1&pageSize=10")
    assert Page(3, 10).offset == 20


def test_emitted_at_is_utc_with_milliseconds_and_z() -> None:
    moment = datetime(2020, 9, 15, 23, 35, 57, 123456, tzinfo=timezone(timedelta(hours=2)))
    assert emitted_at(moment) == "2020-09-15T21:35:57.123Z"
    assert emitted_at(datetime(2020, 9, 15, 21, 35, 57)) == "2020-09-15T21:35:57.000Z"


def test_whole_seconds_are_integers_as_on_the_reference_page() -> None:
    assert seconds(7.0) == 7 and isinstance(seconds(7.0), int)
    assert seconds(4.554) == 4.554 and seconds(0.1 + 0.2) == 0.3


AT = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(("kind", "action", "position", "seek_to", "expected"), [
    ("START", "play", 0.0, None, {"at": 0, "type": "play"}),
    ("START", "resume", 21.0, None, {"at": 21, "type": "resume"}),
    ("STOP", "pause", 7.5, None, {"at": 7.5, "type": "pause"}),
    ("STOP", "end", 30.0, None, {"at": 30, "type": "end"}),
    ("OTHER", "ready", 0.0, None, {"at": 0, "type": "ready"}),
    ("SEEK", "seek", 7.0, 21.0, {"from": 7, "to": 21, "type": "seek.forward"}),
    ("OTHER", "seek", 30.0, 0.0, {"from": 30, "to": 0, "type": "seek.backward"}),
    ("SEEK", "seek", 17.0, 17.0, {"from": 17, "to": 17, "type": "seek.forward"}),
    ("START", "", 3.0, None, {"at": 3, "type": "play"}),  # an older producer: no action
    ("STOP", "", 9.0, None, {"at": 9, "type": "pause"}),
])
def test_canonical_actions_back_to_api_video_names(
    kind: str, action: str, position: float, seek_to: float | None, expected: dict[str, object]
) -> None:
    item = to_item(kind, action, position, seek_to, AT)
    assert item == {**expected, "emittedAt": "2024-01-01T00:00:00.000Z"}
    assert list(item) == sorted(item)  # the reference page's key order


@pytest.mark.parametrize(("kind", "action", "seek_to"), [
    ("HEARTBEAT", "progress", None), ("OTHER", "like", None), ("OTHER", "rebuffer", None),
    ("SEEK", "seek", None), ("OTHER", "startup", None)])
def test_events_api_video_has_no_name_for_are_not_listed(
    kind: str, action: str, seek_to: float | None
) -> None:
    assert to_item(kind, action, 1.0, seek_to, AT) is None


def test_what_the_player_reported_wins_for_api_video_sessions() -> None:
    # The gateway moved a scrub's pause to the destination; the player said 21.
    item = to_item("STOP", "pause", 0.0, None, AT, {"event": "pause", "reported_at": "21"})
    assert item is not None and item["at"] == 21
    seek = to_item("OTHER", "seek", 17.0, 17.0, AT, {"event": "seek.backward"})
    assert seek is not None and seek["type"] == "seek.backward"


def test_tokens_read_one_organization() -> None:
    tokens = ReadTokens({"t1": "org-1", "t2": "org-2"})
    assert tokens.organization("t1") == "org-1" and tokens.organization("t2") == "org-2"
    for bad in (None, "", "t3", "T1", "t1 "):
        with pytest.raises(Unauthorized):
            tokens.organization(bad)
    with pytest.raises(Unauthorized, match="PLAYHEAD_READ_TOKENS"):
        ReadTokens({}).organization("t1")
    assert bearer("Bearer abc") == "abc" and bearer("bearer abc") == "abc"
    assert bearer("Basic abc") is None and bearer(None) is None and bearer("Bearer ") is None


def figures(length: float | None = None) -> ClipFigures:
    # What the warehouse answers for heard buckets 0, 1, 2 and 5, one bucket a bin.
    day = date(2024, 5, 1)
    web = SourceFigures("Web", 3, 2, 300.0, 2 if length else 0, 0.8 if length else 0.0,
                        1 if length else 0, day, day)
    return ClipFigures(sources=[web], selected=[web], clip_length_seconds=length,
                       binning=plan(6, length, 1.0, 86_400, 1000),
                       bins=[Bin(0, 2, 2, 2), Bin(1, 2, 3, 2), Bin(2, 1, 1, 1), Bin(5, 1, 1, 1)])


def test_dense_curve_fills_silence_and_reaches_the_clip_end() -> None:
    points = curve_points(figures(), 1.0)
    assert [p["listeners"] for p in points] == [2, 2, 1, 0, 0, 1]
    assert [p["shareOfSessions"] for p in points] == [1, 1, .5, 0, 0, .5]
    assert len(curve_points(figures(length=10.0), 1.0)) == 10
    assert [p["startSeconds"] for p in curve_points(figures(), 2.5)][:3] == [0, 2.5, 5]


def test_a_long_timeline_gets_bins_of_several_buckets_never_more_points() -> None:
    # A clip of 2,500 buckets asked in at most 1,000 points: 3 buckets a point.
    binning = plan(100, 2500.0, 1.0, 86_400, 1000)
    assert (binning.buckets, binning.width, binning.points) == (2500, 3, 834)
    assert binning.size(833) == 1 and not binning.truncated  # the last bin is short
    curve = points(binning, [Bin(0, 4, 5, 9), Bin(833, 1, 1, 1)], 4, 1.0)
    assert len(curve) == 834
    assert curve[0] == {"bucket": 0, "startSeconds": 0, "listeners": 4, "listens": 5,
                        "meanListeners": 3.0, "shareOfSessions": 1.0}
    assert curve[1]["listeners"] == 0 and curve[833]["bucket"] == 2499
    assert curve[833]["meanListeners"] == 1.0  # a bin of one bucket


@pytest.mark.parametrize(("last_edge", "length"), [(1_000_000_000, None), (0, 1e10),
                                                   (4_294_967_295, 1e300), (0, math.inf)])
def test_hostile_lengths_stop_at_the_longest_clip(last_edge: int, length: float | None) -> None:
    # Heard to bucket 1e9, or a clip "length" of 1e10 s: never more than the
    # longest clip's buckets, never more points than asked.
    binning = plan(last_edge, length, 1.0, 86_400, 1000)
    assert binning.buckets == 86_400 and binning.truncated
    assert binning.points <= 1000 and binning.width == 87
    assert len(points(binning, [Bin(10**9, 1, 1, 1)], 1, 1.0)) == binning.points
    assert plan(last_edge, length, 0.001, 604_800, MAX_POINTS).points <= MAX_POINTS
    assert plan(0, None, 1.0, 86_400, 1000) == Binning(0)


def test_resampling_keeps_the_mean() -> None:
    assert resample([1, 1, 0, 0], 2) == [1, 0]
    assert resample([1, 0.5], 10) == [1, 0.5]  # never more slots than values
    assert resample([], 5) == []
    assert sparkline([0, 0.01, 0.5, 1]) == " ▁▄█"
    assert bar(0.5, 4) == "██  " and bar(1 / 16, 2) == "▏ "
    assert clock(542.643) == "9:03" and clock(3725) == "1:02:05"


def test_report_shows_totals_curve_and_sources() -> None:
    text = render("clip-1", "org-1", figures(length=6.0), 1.0, width=60, rows=3)
    assert "sessions 3   kept 2   listened 0.08 h" in text
    assert "\navg consumption share 40.0%   completion rate 50.0%\n" in text
    assert "│██▄  ▄│\n 0:00 0:06\n" in text  # one column per bucket: 1, 1, .5, 0, 0, .5
    assert "  Web        3 sessions        2 kept       0.08 h" in text
    assert all(len(line) <= 60 for line in text.splitlines())
    unknown = render("clip-1", "org-1", figures(), 1.0, width=60)
    assert "avg consumption share –   completion rate –" in unknown
    assert "\nno figure final yet\n" in unknown
    final = render("clip-1", "org-1", figures(), 1.0, width=60,
                   complete_through=datetime(2026, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC))
    assert "\nfinal through 2026-01-02 03:04:05 UTC\n" in final


def test_report_of_a_huge_session_is_as_wide_as_asked_and_ends_at_the_longest_clip() -> None:
    # One kept session "heard" to bucket 1e9: 10,000 points of 9 buckets, all heard.
    day = date(2024, 5, 1)
    web = SourceFigures("Web", 1, 1, 1e9, 0, 0.0, 0, day, day)
    binning = plan(1_000_000_000, None, 1.0, 86_400, MAX_POINTS)
    huge = ClipFigures(sources=[web], selected=[web], clip_length_seconds=None, binning=binning,
                       bins=[Bin(i, 1, 1, binning.size(i)) for i in range(binning.points)])
    text = render("clip-1", "org-1", huge, 1.0, width=60, rows=4)
    assert "│" + "█" * 58 + "│\n 0:00" in text and "24:00:00\n" in text
    assert "  18:00:00  24:00:00  100.0%" in text  # the last row ends where the curve does
    assert all(len(line) <= 60 for line in text.splitlines())


def test_quality_divides_sums_and_says_null_where_nothing_was_measured() -> None:
    sums = {"sessions": 4, "listened_seconds": 200.0, "startup_measured": 2,
            "startup_ms_sum": 900, "rebuffers": 3, "rebuffer_ms": 5000,
            "sessions_with_rebuffers": 1, "quality_changes": 2, "errors": 1,
            "sessions_with_errors": 1}
    answer = quality(sums)
    assert answer["averageStartupMs"] == 450  # over the two that reported one, not all four
    assert answer["rebufferSeconds"] == 5 and answer["stalledShareOfListening"] == 0.025
    assert answer["sessionsWithRebuffersShare"] == 0.25
    assert answer["sessionsWithErrorsShare"] == 0.25
    empty = quality(dict.fromkeys(sums, 0))
    assert empty["averageStartupMs"] is None and empty["stalledShareOfListening"] is None
    assert empty["sessionsWithErrorsShare"] is None and empty["sessions"] == 0


def test_royalties_total_every_platform_and_method() -> None:
    rows = [{"platform": "", "method": "Stream", "clip_plays": 2, "denied_plays": 1,
             "track_plays": 0, "adds": 1, "downloads": 0},
            {"platform": "ios", "method": "Sync", "clip_plays": 3, "denied_plays": 0,
             "track_plays": 4, "adds": 0, "downloads": 2}]
    answer = royalties(rows)
    assert answer["totals"] == {"clipPlays": 5, "deniedPlays": 1, "trackPlays": 4, "adds": 1,
                                "downloads": 2}
    assert answer["byPlatform"][1] == {"platform": "ios", "method": "Sync", "clipPlays": 3,
                                       "deniedPlays": 0, "trackPlays": 4, "adds": 0,
                                       "downloads": 2}
    assert royalties([])["totals"] == dict.fromkeys(
        ("clipPlays", "deniedPlays", "trackPlays", "adds", "downloads"), 0)


@pytest.mark.parametrize("action, listed", [
    ("app_start", "ready"), ("clip_play", "play"), ("track_play", "play"),
    ("app_close", "end"), ("add", "add"), ("share", "share"), ("download", "download"),
    ("like", None), ("impression", None)])
def test_music_clips_events_are_named(action: str, listed: str | None) -> None:
    item = to_item("OTHER", action, 0.0, None, datetime(2024, 1, 1, tzinfo=UTC))
    assert (item and item["type"]) == listed
