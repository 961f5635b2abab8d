"""The read API answers the same before and after final days are built into rollups.

Sessions from the real core and sink over five days, several clips, sources,
replays and clip lengths, and one session written before the bounds existed
(listening to bucket 1e9). Every answer about a clip is taken, days are built
(some, then all), and every answer is taken again: equal, floats up to the
order they were added in. Then the built days' sessions are deleted, and
their curves and totals still come out the same: they are read from the
rollups. On chDB in this process.
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from clickhouse_connect.driver.client import Client
from conftest import free_port
from readside_data import listening, write
from readside_serving import serve

from config.settings import Settings
from control.registry import Registry
from readapi.curve import plan
from readapi.queries import Reader
from sinks import rollups
from sinks.client import connect
from sinks.migrate import migrate

pytestmark = pytest.mark.integration  # chDB

ORG = str(uuid.uuid4())
TOKEN = {"Authorization": "Bearer rollup-token"}
FIRST = date(2026, 3, 1)
DAYS = 5
CLIPS = ("clip-long", "clip-short", "clip-huge")
SOURCES = ("Web", "MobileApp", "SmartSpeaker")


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _sessions(seed: int) -> list[list[Any]]:
    rng = random.Random(seed)
    sessions = []
    for index in range(60):
        day = FIRST + timedelta(days=index % DAYS)
        clip = CLIPS[index % 2]
        length = 300.0 if clip == "clip-long" else 40.0
        intervals: list[tuple[float, float]] = []
        at = 0.0 if rng.random() < 0.7 else rng.uniform(0, length / 2)
        for _ in range(rng.randint(1, 3)):  # later intervals may replay earlier ones
            stop = min(length, at + rng.uniform(3, length))
            intervals.append((round(at, 3), round(stop, 3)))
            at = rng.uniform(0, stop)
        start = (_midnight(day) + timedelta(hours=rng.uniform(0, 20))).timestamp()
        sessions.append(listening(ORG, clip, intervals, start, rng.choice(SOURCES),
                                  clip_length=length if rng.random() < 0.5 else None))
    return sessions


def _huge_session(client: Client, db: str) -> None:
    # Heard to bucket 1e9 and a length of 1e7 s: the curve stops at the longest
    # clip, summed from the sessions' steps (readapi/queries.py says why).
    started = _midnight(FIRST + timedelta(days=1)) + timedelta(hours=3)
    edge = 1_000_000_000
    row = {"organization_id": ORG, "clip_id": "clip-huge", "session_id": "huge",
           "source": "Web", "day": started.date(), "started_at": started, "ended_at": started,
           "duration_seconds": float(edge), "kept": 1, "interval_starts": [0.0],
           "interval_ends": [float(edge)], "version": 2, "unique_seconds": float(edge),
           "furthest_seconds": float(edge), "clip_length_seconds": 1e7,
           "edges": [0, edge], "listener_steps": [1, -1], "listen_steps": [1, -1]}
    client.insert(f"{db}.session_versions", [list(row.values())], column_names=list(row))


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Client, str]]:
    url = f"chdb://{tmp_path_factory.mktemp('rollup-answers') / 'data'}"
    client = connect(url)
    db = f"test_rollup_answers_{uuid.uuid4().hex[:8]}"
    migrate(client, db)
    write(client, db, *_sessions(14))
    write(client, db, listening(ORG, "clip-huge", [(0, 20)], _midnight(FIRST).timestamp()))
    _huge_session(client, db)
    try:
        yield url, client, db
    finally:
        client.command(f"DROP DATABASE IF EXISTS {db}")
        client.close()


@pytest.fixture(scope="module")
def api(warehouse: tuple[str, Client, str]) -> Iterator[str]:
    url, client, db = warehouse
    settings = Settings(clickhouse_url=url, clickhouse_database=db,
                        read_tokens={"rollup-token": ORG}, api_port=free_port())
    yield from serve(settings, lambda: client, Registry())


def _questions() -> list[str]:
    asked = []
    for clip in CLIPS:
        for query in ("", "source=Web", "source=MobileApp&maxPoints=7",
                      f"from={FIRST + timedelta(days=1)}&to={FIRST + timedelta(days=2)}",
                      f"from={FIRST}&to={FIRST + timedelta(days=3)}&maxPoints=3",
                      f"from={FIRST + timedelta(days=4)}"):
            figures = "&".join(p for p in query.split("&") if not p.startswith("maxPoints"))
            asked += [f"/api/consumption/clips/{clip}?{query}",
                      f"/api/quality/clips/{clip}?{figures}"]
        asked += [f"/analytics/videos/{clip}?pageSize=100",
                  f"/api/engagement/clips/{clip}", f"/api/royalties/clips/{clip}"]
    return asked


def _answers(api: str) -> dict[str, Any]:
    out = {}
    for path in _questions():
        answer = httpx.get(api + path, headers=TOKEN, timeout=60)
        assert answer.status_code == 200, (path, answer.text)
        out[path] = answer.json()
    return out


def _same(before: Any, after: Any, where: str = "") -> None:
    """Equal, except floats: sums added in another order differ in their last bits,
    and an answer rounded to six decimals (listenedHours) can then round the other way."""
    if isinstance(before, dict):
        assert isinstance(after, dict) and before.keys() == after.keys(), where
        for key in before:
            _same(before[key], after[key], f"{where}.{key}")
    elif isinstance(before, list):
        assert isinstance(after, list) and len(before) == len(after), where
        for index, (b, a) in enumerate(zip(before, after, strict=True)):
            _same(b, a, f"{where}[{index}]")
    elif isinstance(before, float) and not isinstance(after, bool):
        assert isinstance(after, int | float) and math.isclose(
            before, after, rel_tol=1e-12, abs_tol=1.01e-6), (where, before, after)
    else:
        assert before == after, (where, before, after)


def _curves(answers: dict[str, Any]) -> dict[str, Any]:
    # Counts only: a curve has no float that is not a ratio of two counts.
    return {path: body["histogram"] for path, body in answers.items()
            if path.startswith("/api/consumption/")}


def test_answers_do_not_change_when_final_days_are_built(
    api: str, warehouse: tuple[str, Client, str]
) -> None:
    _, client, db = warehouse
    before = _answers(api)
    assert any(len(curve) > 1 and curve[0]["listeners"] > 1
               for curve in _curves(before).values())
    assert before["/api/consumption/clips/clip-huge?"]["curveTruncated"] is True

    # Three days built (the settling time waived: nothing reads concurrently).
    built = rollups.build_final_days(client, db, _midnight(FIRST + timedelta(days=3)),
                                     settle_seconds=0)
    assert {b.day for b in built} == {FIRST + timedelta(days=d) for d in range(3)}
    some = _answers(api)
    _same(before, some)
    assert _curves(some) == _curves(before)

    rollups.build_final_days(client, db, _midnight(FIRST + timedelta(days=DAYS)),
                             settle_seconds=0)
    everything = _answers(api)
    _same(before, everything)
    assert _curves(everything) == _curves(before)

    _views_agree_with_steps(client, db)

    # The sessions of the first four days gone, the answers about those days are
    # the same: they come from the rollups, not from the sessions.
    client.command(f"ALTER TABLE {db}.session_versions DELETE WHERE organization_id = "
                   f"'{ORG}' AND day < '{FIRST + timedelta(days=4)}' AND clip_id != 'clip-huge'",
                   settings={"mutations_sync": 2})
    for clip in ("clip-long", "clip-short"):
        path = (f"/api/consumption/clips/{clip}?from={FIRST + timedelta(days=1)}"
                f"&to={FIRST + timedelta(days=2)}")
        answer = httpx.get(api + path, headers=TOKEN, timeout=60).json()
        _same(before[path], answer, path)


def _views_agree_with_steps(client: Client, db: str) -> None:
    # The two ways readapi/queries.py sums a curve agree bin for bin wherever
    # both can run, over built days and live ones, at every width.
    reader = Reader(client, db)
    where = ("organization_id = {org:String} AND clip_id = {clip:String} "
             "AND day BETWEEN {start:Date} AND {end:Date} "
             "AND ({source:String} = '' OR source = {source:String})")
    for clip in ("clip-long", "clip-short"):
        for source in ("", "Web"):
            for points in (1, 7, 1000):
                params = {"org": ORG, "clip": clip, "start": FIRST,
                          "end": FIRST + timedelta(days=DAYS), "source": source}
                binning = plan(400, None, 1.0, 86_400, points)
                assert (reader._curve_bins(where, binning, **params)
                        == reader._curve_bins_from_steps(f"{where} AND kept", binning,
                                                         **params)), (clip, source, points)
