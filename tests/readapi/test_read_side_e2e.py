"""The read side on the real platform: `playhead up`, sessions through the gateway, then
the analysts' example queries, `playhead report`, and the dashboard in headless Chromium.

One platform for the whole module (Kafka, warehouse, gateway, worker and the
read API as `playhead up` starts them), stopped by `playhead down` at the end.
"""

from __future__ import annotations

import math
import os
import random
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from clickhouse_connect.driver.client import Client
from conftest import KAFKA_LIBS, REPO, free_port, wait_until
from readside_data import music_session, short_video_session
from readside_serving import chromium, drawn  # noqa: F401 (chromium: a fixture)
from selenium import webdriver
from selenium.webdriver.common.by import By

from config.settings import Settings, to_env
from devkit.sample_retime import retimed
from ingest.examples import reference
from sinks.client import connect

pytestmark = pytest.mark.integration  # a platform started by `playhead up`, and Chromium

SAMPLE = reference("omny")["Events"][0]
ORG, CLIP, REFERENCE_SESSION = SAMPLE["OrganizationId"], SAMPLE["ClipId"], SAMPLE["SessionId"]
TOKEN = "dashboard-demo-token"
END = 542.643  # where the reference listener stopped: the clip's end as far as Omny tells
LENGTH_MS = 545_000  # the clip's length, as the mParticle session reports it (9:05)


def _listeners(seed: int, count: int) -> list[list[tuple[float, float]]]:
    """Sessions that drop off over the clip as real audiences do, some skipping ahead."""
    rng = random.Random(seed)
    sessions: list[list[tuple[float, float]]] = [[(0, 7.5)]]  # too short to keep
    for _ in range(count - 1):
        start = 15.0 if rng.random() < 0.2 else 0.0
        stop = round(min(END, start + 12 + rng.expovariate(1 / 320)), 1)
        if rng.random() < 0.25 and stop - start > 120:
            middle = round(start + (stop - start) / 3, 1)
            sessions.append([(start, middle), (round(middle + 45, 1), stop)])
        else:
            sessions.append([(start, stop)])
    return sessions


# source -> one list of listened intervals per session: a curve with a real shape.
PLAN: dict[str, list[list[tuple[float, float]]]] = {
    "Web": [[(0, 4.554), (308.053, END)], [(0, END)], [(0, 301.5)], [(0, 120.25)],
            [(12.5, END)], [(0, 6.0)]],
    "MobileApp": _listeners(2024, 14),
    "SmartSpeaker": _listeners(7, 9),
}
# + one mParticle, one short-video and one music-clips session.
SESSIONS = sum(len(sessions) for sessions in PLAN.values()) + 3
SHORT_VIDEO = short_video_session(CLIP, time.time())
SHORT_VIDEO_SESSION = f"{SHORT_VIDEO[0]['sessionId']}/{CLIP}"
MUSIC = music_session(CLIP, "e2e-listener", time.time())
MUSIC_SESSION = f"e2e-listener:{MUSIC[0][1]['timestamp'][:10]}"
DASHBOARD_PNG = REPO / "docs" / "images" / "dashboard.png"
FIGURES_PNG = REPO / "docs" / "images" / "dashboard-figures.png"  # quality, engagement, royalties


def playhead(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "playhead", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=300)


def omny_events(session: str, intervals: list[tuple[float, float]], start: int
                ) -> list[dict[str, Any]]:
    events, clock = [], start
    for a, b in intervals:
        for kind, position in (("Start", a), ("Stop", b)):
            events.append({"OrganizationId": ORG, "ClipId": CLIP, "SessionId": session,
                           "Type": kind, "Position": position, "SeqNumber": len(events) + 1,
                           "Timestamp": clock})
            clock += math.ceil(b - a) if kind == "Start" else 5
    return events


def web_oracle() -> dict[int, int]:
    """Listeners per 1 s bucket of the kept Web sessions, from the plan alone."""
    listeners: dict[int, int] = {}
    for intervals in PLAN["Web"]:
        if sum(b - a for a, b in intervals) < 10:
            continue
        touched = {bucket for a, b in intervals for bucket in range(math.floor(a), math.ceil(b))}
        for bucket in touched:
            listeners[bucket] = listeners.get(bucket, 0) + 1
    return listeners


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    warehouse_port = free_port()
    settings = Settings(
        state_dir=tmp_path_factory.mktemp("readside"),
        kafka_bootstrap=f"127.0.0.1:{free_port()}", kafka_controller_port=free_port(),
        kafka_libs_dir=Path(str(KAFKA_LIBS).format(version=Settings().kafka_version)),
        gateway_port=free_port(), api_port=free_port(), warehouse_port=warehouse_port,
        clickhouse_url=f"http://127.0.0.1:{warehouse_port}", read_tokens={TOKEN: ORG},
        # mParticle sessions have no "complete" flag: they close when idle.
        idle_timeout_seconds=3.0, tick_seconds=1.0,
    )
    env = {**os.environ, **to_env(settings)}
    try:
        started = playhead(env, "up")
        assert started.returncode == 0, started.stdout + started.stderr
        _send_sessions(settings)
        client = connect(settings.clickhouse_url)
        wait_until(lambda: client.query(
            "SELECT count() FROM playhead.sessions WHERE clip_id = {c:String}",
            parameters={"c": CLIP}).result_rows[0][0] == SESSIONS, 90, "every session")
        wait_until(lambda: client.query(
            "SELECT sum(downloads) FROM playhead.rights_by_clip WHERE clip_id = {c:String}",
            parameters={"c": CLIP}).result_rows[0][0] == 1, 90, "the music-clips session")
        yield env
    finally:
        playhead(env, "down")


def _send_sessions(settings: Settings) -> None:
    start = int(time.time()) - 900
    for source, sessions in PLAN.items():
        events = []
        for index, intervals in enumerate(sessions):
            session = (REFERENCE_SESSION if (source, index) == ("Web", 0)
                       else str(uuid.uuid5(uuid.NAMESPACE_URL, f"e2e/{source}/{index}")))
            events += omny_events(session, intervals, start + 40 * index)
        answer = httpx.post(f"{settings.gateway_url}/api/consumption/events",
                            params={"organizationId": ORG}, timeout=30,
                            json={"Source": source, "Events": events, "Completed": True})
        assert answer.json() == {"Enabled": True}, answer.text
    # One mParticle session of the same clip: it reports the clip's length.
    batch = retimed("mparticle", time.time())
    for event in batch["events"]:
        event["data"]["custom_attributes"].update(content_id=CLIP,
                                                    content_duration=str(LENGTH_MS))
    answer = httpx.post(f"{settings.gateway_url}/v1/mparticle/events",
                        params={"organizationId": ORG}, json=batch, timeout=30)
    assert answer.status_code == 202, answer.text
    # A short-video session of the clip (quality and engagement figures) and a
    # music-clips app session that plays, adds and downloads it (royalties).
    organization = {"X-Playhead-Organization": ORG}
    answer = httpx.post(f"{settings.gateway_url}/v1/events/batch", headers=organization,
                        json={"events": SHORT_VIDEO}, timeout=30)
    assert answer.status_code == 202 and answer.json()["accepted"] == len(SHORT_VIDEO), answer.text
    for path, body in MUSIC:
        answer = httpx.post(f"{settings.gateway_url}{path}", headers=organization, json=body,
                            timeout=30)
        assert answer.status_code in (200, 204), answer.text


@pytest.fixture(scope="module")
def warehouse(platform: dict[str, str]) -> Client:
    return connect(platform["PLAYHEAD_CLICKHOUSE_URL"])


def rows(client: Client, query: str) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in client.query(query).result_rows]


def test_every_example_query_in_analytics_md_runs(platform: dict[str, str],
                                                  warehouse: Client) -> None:
    blocks = re.findall(r"```sql\n(.*?)```", (REPO / "docs" / "analytics.md").read_text(), re.S)
    assert len(blocks) >= 10
    results = [rows(warehouse, block) for block in blocks]
    kept = rows(warehouse, "SELECT count() FROM playhead.sessions WHERE kept AND clip_id = "
                           f"'{CLIP}'")[0][0]
    curve = rows(warehouse, "SELECT bucket, sum(listeners) FROM playhead.consumption_by_bucket "
                            f"WHERE clip_id = '{CLIP}' GROUP BY bucket ORDER BY bucket")
    # The retention curve: the buckets' listeners over the kept sessions.
    assert results[0] == [(b, n, pytest.approx(n / kept)) for b, n in curve]
    # One day, one source: exactly what the plan says the Web listeners heard.
    oracle = web_oracle()
    web_kept = sum(1 for s in PLAN["Web"] if sum(b - a for a, b in s) >= 10)
    assert [(r[2], r[3], r[4]) for r in results[1]] == [
        (b, n, web_kept) for b, n in sorted(oracle.items())]
    assert all(r[5] == pytest.approx(r[3] / web_kept) for r in results[1])
    by_name = dict(zip(["drop", "shares"], [results[2], results[3]], strict=True))
    assert sum(r[1] for r in by_name["drop"]) > 0
    [(clip, sessions, kept_sessions, share, completion)] = by_name["shares"]
    assert (clip, sessions, kept_sessions) == (CLIP, SESSIONS, kept)
    assert 0 < share < 1 and 0 <= completion <= 1  # the mParticle session gave a length
    # The CLI runs them as well (TabSeparated).
    via_cli = playhead(platform, "sql", blocks[0])
    assert via_cli.returncode == 0 and len(via_cli.stdout.splitlines()) == len(curve)


def test_report_prints_the_curve_and_totals(platform: dict[str, str],
                                            warehouse: Client) -> None:
    report = playhead(platform, "report", CLIP, "--width", "90")
    assert report.returncode == 0, report.stderr
    text = report.stdout
    kept = rows(warehouse, f"SELECT count() FROM playhead.sessions WHERE kept AND clip_id = "
                           f"'{CLIP}'")[0][0]
    assert f"sessions {SESSIONS}   kept {kept}   listened" in text
    assert f"organization {ORG}" in text and "clip length 9:05" in text
    spark = next(line for line in text.splitlines() if line.startswith("│"))
    assert len(spark) == 90 and spark[1] in "▇█"  # nearly everyone heard the start
    assert re.search(r"^\s+Web\s+6 sessions\s+5 kept", text, re.M)
    assert all(len(line) <= 90 for line in text.splitlines())
    web = playhead(platform, "report", CLIP, "--source", "Web", "--rows", "4", "--width", "70")
    assert "sessions 6   kept 5" in web.stdout
    missing = playhead(platform, "report", "no-such-clip")
    assert missing.returncode == 1 and "no sessions of clip no-such-clip" in missing.stderr


def test_dashboard_draws_what_clickhouse_has(platform: dict[str, str], warehouse: Client,
                                             browser: webdriver.Chrome) -> None:
    api = f"http://127.0.0.1:{platform['PLAYHEAD_API_PORT']}"
    browser.get(f"{api}/dashboard/clips/{CLIP}?token={TOKEN}")
    page = drawn(browser)
    kept = rows(warehouse, f"SELECT count() FROM playhead.sessions WHERE kept AND clip_id = "
                           f"'{CLIP}'")[0][0]
    heard = dict(rows(warehouse, "SELECT bucket, sum(listeners) FROM "
                                 f"playhead.consumption_by_bucket WHERE clip_id = '{CLIP}' "
                                 "GROUP BY bucket"))
    # Every second of the clip, silent ones at zero, as ClickHouse has them.
    assert len(page["points"]) == LENGTH_MS // 1000
    for x, y, listeners in page["points"]:
        assert listeners == heard.get(int(x), 0)
        assert y == pytest.approx(100 * heard.get(int(x), 0) / kept)
    listened = rows(warehouse, "SELECT sum(duration_seconds) FROM playhead.sessions "
                               f"WHERE kept AND clip_id = '{CLIP}'")[0][0]
    assert page["figures"][:2] == [str(SESSIONS), str(kept)]
    assert page["totals"]["listenedSeconds"] == pytest.approx(listened)
    assert page["figures"][3].endswith("%") and page["figures"][4].endswith("%")
    DASHBOARD_PNG.parent.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(DASHBOARD_PNG))

    # One source: click its row, the curve becomes that source's alone.
    browser.find_element(By.CSS_SELECTOR, 'tr[data-source="Web"]').click()
    wait_until(lambda: "source=Web" in browser.current_url, 10, "the source filter")
    web = drawn(browser)
    oracle = web_oracle()
    assert [(int(x), n) for x, _, n in web["points"] if n] == sorted(oracle.items())
    assert web["figures"][:2] == ["6", "5"]

    # Quality, engagement and royalties: drawn as ClickHouse's views have them, and
    # those are what the short-video and music-clips players sent.
    browser.get(f"{api}/dashboard/clips/{CLIP}?token={TOKEN}")
    assert drawn(browser)["figures"][0] == str(SESSIONS)
    figures = dict(browser.execute_script(
        "const d = window.playheadDashboard; const text = (id) => "
        "document.getElementById(id).textContent;"
        "return {quality: d.quality, engagement: d.engagement, royalties: d.royalties.totals,"
        " shown: ['rebuffers', 'quality-changes', 'errors', 'likes', 'impressions', 'shares',"
        "  'saves', 'completions'].map(text), startup: text('startup'),"
        " total: Array.from(document.querySelectorAll('#royalties tr.total td[data-figure]'))"
        "  .map(td => td.textContent)};"))
    quality = rows(warehouse, "SELECT sum(sessions), sum(startup_ms_sum), "
                              "sum(startup_measured), sum(rebuffers), sum(rebuffer_ms), "
                              "sum(quality_changes), sum(errors) FROM playhead.quality_daily "
                              f"WHERE clip_id = '{CLIP}'")[0]
    q = figures["quality"]
    assert (q["sessions"], q["startupMeasured"], q["rebuffers"], q["qualityChanges"],
            q["errors"]) == (quality[0], quality[2], quality[3], quality[5], quality[6])
    assert q["averageStartupMs"] == pytest.approx(quality[1] / quality[2])
    assert q["rebufferSeconds"] == pytest.approx(quality[4] / 1000)
    sent = SHORT_VIDEO
    stall = [e["data"]["duration"] for e in sent if e["eventType"] == "rebuffer"]
    start = [e["data"]["startupTime"] for e in sent if e["eventType"] == "playStart"]
    # The short-video session holds what its player reported; the clip's figures add
    # up every session's (the mParticle one reports a startup time too).
    per_session = rows(warehouse, "SELECT session_id, startup_ms, rebuffer_count, rebuffer_ms "
                                  f"FROM playhead.session_figures WHERE clip_id = '{CLIP}' "
                                  "AND (startup_ms IS NOT NULL OR rebuffer_count > 0)")
    assert (SHORT_VIDEO_SESSION, start[0], len(stall), sum(stall)) in per_session
    measured = [r[1] for r in per_session if r[1] is not None]
    assert q["averageStartupMs"] == pytest.approx(sum(measured) / len(measured))
    assert (q["rebuffers"], q["rebufferSeconds"]) == (
        sum(r[2] for r in per_session), pytest.approx(sum(r[3] for r in per_session) / 1000))
    assert q["rebuffers"] >= len(stall) > 0
    assert figures["startup"] == f"{round(q['averageStartupMs'])} ms"
    engagement = rows(warehouse, "SELECT sum(impressions), sum(likes), sum(shares), "
                                 "sum(saves), sum(swipes), sum(completions) FROM "
                                 f"playhead.engagement_by_clip WHERE clip_id = '{CLIP}'")[0]
    names = ["impression", "like", "share", "save", "swipe", "completion"]
    assert [figures["engagement"][f"{n}s"] for n in names] == list(engagement) == [
        sum(e["eventType"] == n for e in sent) for n in names]
    assert figures["shown"] == [str(v) for v in (
        q["rebuffers"], q["qualityChanges"], q["errors"], *engagement[1:2], engagement[0],
        engagement[2], engagement[3], engagement[5])]
    rights = rows(warehouse, "SELECT sum(clip_plays), sum(denied_plays), sum(track_plays), "
                             f"sum(adds), sum(downloads) FROM playhead.rights_by_clip "
                             f"WHERE clip_id = '{CLIP}'")[0]
    totals = figures["royalties"]  # the browser hands objects back with keys sorted
    assert [totals[k] for k in ("clipPlays", "deniedPlays", "trackPlays", "adds",
                                "downloads")] == list(rights) == [1, 0, 0, 1, 1]
    assert figures["total"] == ["1", "0", "0", "1", "1"]
    browser.execute_script("document.getElementById('startup').closest('.card')"
                           ".scrollIntoView({block: 'start'});")
    assert browser.save_screenshot(str(FIGURES_PNG))

    # A date range without sessions: zeros, no error.
    browser.get(f"{api}/dashboard/clips/{CLIP}?token={TOKEN}&from=2001-01-01&to=2001-01-31")
    empty = drawn(browser)
    assert empty["figures"][:2] == ["0", "0"] and not any(y for _, y, _ in empty["points"])


def test_every_dialect_s_sessions_list_through_the_pipeline(platform: dict[str, str]) -> None:
    api = f"http://127.0.0.1:{platform['PLAYHEAD_API_PORT']}"
    token = {"Authorization": f"Bearer {TOKEN}"}
    # A short-video session id holds a "/": as is and percent-encoded, the same session.
    listings = [httpx.get(f"{api}/analytics/sessions/{session}/events", headers=token,
                          timeout=30) for session in (SHORT_VIDEO_SESSION,
                                                      quote(SHORT_VIDEO_SESSION, safe=""))]
    assert [answer.status_code for answer in listings] == [200, 200], listings[0].text
    assert listings[0].json() == listings[1].json()
    assert [item["type"] for item in listings[0].json()["data"]][:1] == ["play"]
    # The music-clips app session lists every request it was made of.
    def music() -> list[str]:
        answer = httpx.get(f"{api}/analytics/sessions/{quote(MUSIC_SESSION, safe='')}/events",
                           headers=token, timeout=30)
        return [item["type"] for item in answer.json().get("data", [])]

    # Written at its close; waited for, as a late app close could rewrite it once more.
    wait_until(lambda: music() == ["play", "add", "download", "end"], 30,
               "the music-clips session's four events")
    # The clip lists every kind of session.
    videos = httpx.get(f"{api}/analytics/videos/{CLIP}", headers=token, timeout=30,
                       params={"pageSize": 100}).json()
    listed = {item["session"]["sessionId"] for item in videos["data"]}
    assert {SHORT_VIDEO_SESSION, MUSIC_SESSION, REFERENCE_SESSION} <= listed
    assert videos["pagination"]["itemsTotal"] == SESSIONS
    # No live streams in Playhead: a clear 404.
    live = httpx.get(f"{api}/analytics/live-streams/li400mYKSgQ6xs7taUeSaEKr", headers=token)
    assert live.status_code == 404 and live.json()["name"] == "liveStreamId"


def test_dashboard_refuses_a_wrong_token(platform: dict[str, str]) -> None:
    api = f"http://127.0.0.1:{platform['PLAYHEAD_API_PORT']}"
    assert httpx.get(f"{api}/dashboard/clips/{CLIP}?token=wrong").status_code == 401
    answer = httpx.get(f"{api}/api/consumption/clips/{CLIP}",
                       headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200 and answer.json()["totals"]["sessions"] == SESSIONS


def test_status_shows_the_read_api_and_down_stops_it(platform: dict[str, str]) -> None:
    assert f"api        running  http://127.0.0.1:{platform['PLAYHEAD_API_PORT']}" in playhead(
        platform, "status").stdout
    stopped = playhead(platform, "down")
    assert stopped.returncode == 0 and "stopped api" in stopped.stdout
    assert not re.search(r"^api\s+running", playhead(platform, "status").stdout, re.M)

