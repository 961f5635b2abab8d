"""@playhead/player in Debian's headless Chromium, against the real gateway and pipeline.

A page (tests/e2e/player_sdk/, on an origin of its own, so CORS is exercised)
loads the SDK straight from clients/player/src and tracks an <audio> element
playing a WAV file this test writes. Between the browser and the gateway sits
a relay that forwards every upload and notes how it came (fetch or beacon) and
what it carried. The gateway requires write keys, so the SDK's key is what
names the organization.

What the session's retention curve in ClickHouse must equal is read from the
element itself (its ``played`` TimeRanges), not from what the test meant to do.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import struct
import threading
import time
import wave
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import pytest
from browsers import answer, chromium, forward, served
from conftest import REPO, Pipeline, free_port, running_pipeline, wait_until
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from serving import serve_app

from config.settings import Settings
from readapi.app import create_app
from readapi.demo import DEMO_CLIP

pytestmark = pytest.mark.integration

PAGE_DIR = REPO / "tests" / "e2e" / "player_sdk"
SDK_DIR = REPO / "clients" / "player" / "src"
WRITE_KEY = "wk-player-e2e"
ORGANIZATION = "org-player-e2e"
TONE_SECONDS = 60


def write_tone(path: Path, seconds: int, rate: int = 8000) -> None:
    """A mono 16-bit WAV: a 440 Hz tone, which Chromium plays in <audio>."""
    samples = (int(8000 * math.sin(2 * math.pi * 440 * i / rate)) for i in range(seconds * rate))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"".join(struct.pack("<h", s) for s in samples))


@dataclass
class Upload:
    mode: str  # Sec-Fetch-Mode: "cors" for the SDK's fetch, "no-cors" for sendBeacon
    status: int
    events: list[dict[str, Any]]


@dataclass
class RelayState:
    target: str
    cut: bool = False  # the network is down: uploads are read and dropped, never forwarded
    uploads: list[Upload] = field(default_factory=list)
    dropped: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def events(self, clip: str, *, mode: str | None = None) -> list[dict[str, Any]]:
        """The clip's events the gateway acknowledged, as uploaded."""
        with self.lock:
            return [e["data"] for u in self.uploads if 200 <= u.status < 300
                    and (mode is None or u.mode == mode) for e in u.events
                    if e["data"]["custom_attributes"]["content_id"] == clip]

    def holds(self, clip: str, name: str, position_ms: int, **kwargs: Any) -> bool:
        return any(e["event_name"] == name
                   and e["custom_attributes"].get("playhead_position") == position_ms
                   for e in self.events(clip, **kwargs))


class Relay(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: RelayState  # set on the subclass each test makes

    def log_message(self, *_: Any) -> None:
        return None

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.state.cut:
            with self.state.lock:
                self.state.dropped += 1
            self.close_connection = True
            return
        response = forward(self, self.state.target, body)
        if self.command == "POST":
            with self.state.lock:
                self.state.uploads.append(Upload(self.headers.get("Sec-Fetch-Mode", ""),
                                                 response.status_code,
                                                 json.loads(body).get("events", [])))
        answer(self, response)

    do_OPTIONS = do_POST  # noqa: N815


class Site(BaseHTTPRequestHandler):
    """The test page, the SDK's files and the tone; nothing else."""

    files: dict[str, tuple[Path, str]]  # set on the subclass

    def log_message(self, *_: Any) -> None:
        return None

    def do_GET(self) -> None:  # noqa: N802
        found = self.files.get(urlsplit(self.path).path)
        if found is None:
            self.send_error(404)
            return
        path, kind = found
        content = path.read_bytes()
        # Chromium seeks in a media file only where the server serves byte ranges.
        wanted = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        if wanted:
            first = int(wanted[1])
            last = int(wanted[2]) if wanted[2] else len(content) - 1
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {first}-{last}/{len(content)}")
            content = content[first:last + 1]
        else:
            self.send_response(200)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(content)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(content)


@pytest.fixture(scope="module")
def pipeline(kafka: Settings, warehouse_url: str,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    # Sessions close 4 s after their last event, so a played session is queryable
    # soon; sessions of 2 s and more are kept, so the plays can stay short.
    with running_pipeline(kafka, warehouse_url, tmp_path_factory.mktemp("player-sdk"),
                          idle_timeout_seconds=4.0, min_session_seconds=2.0,
                          write_keys={WRITE_KEY: ORGANIZATION}) as (settings, client):
        yield Pipeline(settings, client)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tone = tmp_path_factory.mktemp("media") / "tone.wav"
    write_tone(tone, TONE_SECONDS)
    js = "text/javascript; charset=utf-8"
    files = {"/page.html": (PAGE_DIR / "page.html", "text/html; charset=utf-8"),
             "/page.js": (PAGE_DIR / "page.js", js), "/tone.wav": (tone, "audio/wav"),
             **{f"/sdk/{p.name}": (p, js) for p in SDK_DIR.glob("*.js")}}
    with served(type("TestSite", (Site,), {"files": files})) as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def relay(pipeline: Pipeline) -> Iterator[tuple[RelayState, str]]:
    state = RelayState(pipeline.settings.gateway_url)
    with served(type("TestRelay", (Relay,), {"state": state})) as port:
        yield state, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    with chromium(tmp_path_factory.mktemp("chromium-player"), "--mute-audio",
                  "--autoplay-policy=no-user-gesture-required") as driver:
        yield driver


def open_page(browser: webdriver.Chrome, url: str) -> None:
    browser.get(url)
    wait_until(lambda: browser.execute_script(
        "return document.documentElement.dataset.ready === 'true' && window.audio.readyState >= 3"),
        15, "the page and its media")


def network(browser: webdriver.Chrome, *, offline: bool) -> None:
    """DevTools' network emulation: offline, requests fail before leaving the browser
    and navigator.onLine is false, also across the reload."""
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd("Network.emulateNetworkConditions", {
        "offline": offline, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})


def play_until(browser: webdriver.Chrome, seconds: float) -> None:
    browser.execute_script("window.audio.play()")
    wait_until(lambda: browser.execute_script("return window.audio.currentTime") >= seconds,
               seconds + 15, f"playback at {seconds} s")


def pause(browser: webdriver.Chrome) -> float:
    """Pauses the element and answers where it stopped, once its ``pause`` event ran.

    Read in that event, the task in which the SDK's own listener records the
    Pause, so the two agree however busy the machine; and nothing after (a
    reload, closing the page) can overtake the event.
    """
    return float(browser.execute_async_script("""
        const done = arguments[arguments.length - 1];
        window.audio.addEventListener('pause', () => done(window.audio.currentTime),
                                      {once: true});
        window.audio.pause();"""))


def seen(state: RelayState, clip: str) -> list[tuple[str, Any]]:
    """What the relay saw of ``clip``: each event's name and position (ms), for failures."""
    return [(e["event_name"], e["custom_attributes"].get("playhead_position"))
            for e in state.events(clip)]


def expected_buckets(ranges: list[list[float]]) -> list[tuple[int, int, int]]:
    """docs/semantics.md: [a, b) touches buckets floor(a) .. ceil(b) - 1 (1 s wide).
    The SDK sends positions in whole milliseconds, so the ranges are read at that grain."""
    buckets: dict[int, int] = {}
    for start, end in ranges:
        a, b = round(start * 1000) / 1000, round(end * 1000) / 1000
        for bucket in range(math.floor(a), math.ceil(b)):
            buckets[bucket] = buckets.get(bucket, 0) + 1
    return [(bucket, 1, listens) for bucket, listens in sorted(buckets.items())]


def landed(pipeline: Pipeline, clip: str, ranges: list[list[float]], source: str = "e2e"
           ) -> None:
    """ClickHouse holds one kept session of the clip whose curve is what was played."""
    played = sum(round(b * 1000) / 1000 - round(a * 1000) / 1000 for a, b in ranges)

    def closed() -> bool:
        rows = pipeline.sessions(clip)
        return len(rows) == 1 and rows[0][3] == pytest.approx(played, abs=1e-6)
    wait_until(closed, 60, f"the session of {clip} in ClickHouse, {played:.3f} s")
    [(_, stored_source, _, _, kept)] = pipeline.sessions(clip)
    assert (stored_source, kept) == (source, 1)
    assert pipeline.buckets(clip) == expected_buckets(ranges)


def ordered_once(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Events by id (a resent one must be identical), in the SDK's sequence."""
    by_id: dict[str, dict[str, Any]] = {}
    for event in events:
        assert by_id.setdefault(event["event_id"], event) == event, "a retry changed an event"
    return sorted(by_id.values(), key=lambda e: e["custom_attributes"]["playhead_sequence"])


def test_a_session_played_seeked_cut_off_reloaded_and_closed_lands_as_played(
        pipeline: Pipeline, site: str, relay: tuple[RelayState, str],
        browser: webdriver.Chrome) -> None:
    state, gateway = relay
    clip = f"clip-{time.time_ns()}"
    url = f"{site}/page.html?" + urlencode({"endpoint": gateway, "key": WRITE_KEY,
                                           "clip": clip, "interval": 1000})
    open_page(browser, url)
    play_until(browser, 3.0)
    first_stop = pause(browser)
    browser.execute_script("window.audio.currentTime = 20")
    play_until(browser, 23.0)
    # Online so far: what was recorded up to here reaches the gateway by fetch.
    wait_until(lambda: state.holds(clip, "Pause", round(first_stop * 1000), mode="cors"), 15,
               "the first pause, uploaded")

    # Offline twice over: DevTools' emulation makes navigator.onLine false and fails the
    # page's requests, and the relay drops whatever gets past it (Chromium lets a reload's
    # page-hide beacon through the emulation; a real network cut would not).
    network(browser, offline=True)
    state.cut = True
    try:
        play_until(browser, 25.5)
        last_stop = pause(browser)
        ranges = browser.execute_script("return window.playedRanges()")
        time.sleep(2.5)  # two of the SDK's intervals: nothing can leave
        queued = browser.execute_script("return window.playhead.stats().queued")
        assert queued > 0
        assert not state.holds(clip, "Pause", round(last_stop * 1000))
        # The reload, still offline: the page goes (pagehide), the new one cannot load.
        with contextlib.suppress(WebDriverException):
            browser.refresh()
    finally:
        network(browser, offline=False)
        state.cut = False

    # Back online, the page loads again and sends what the last one left.
    open_page(browser, url)
    wait_until(lambda: state.holds(clip, "Pause", round(last_stop * 1000), mode="cors"), 15,
               "the queue of the page before the reload")
    assert browser.execute_script("return window.playhead.stats().adopted") >= queued
    browser.get("about:blank")  # closes the page

    assert [[a, b] for a, b in ranges] == [[0, pytest.approx(first_stop, abs=1e-3)],
                                          [20, pytest.approx(last_stop, abs=1e-3)]]
    events = ordered_once(state.events(clip))
    sequence = [e["custom_attributes"]["playhead_sequence"] for e in events]
    assert sequence == list(range(1, len(events) + 1)), "every event arrived, none twice"
    times = [e["timestamp_unixtime_ms"] for e in events]
    assert times == sorted(set(times)), "the gateway's order (by ms) is the SDK's"
    assert {e["custom_attributes"]["media_session_id"] for e in events} == {
        events[0]["custom_attributes"]["media_session_id"]}
    names = [e["event_name"] for e in events]
    assert names[:2] == ["Play", "Update QoS"] and "Update Playhead Position" in names
    assert names.count("Seek Start") == names.count("Seek End") == 1
    landed(pipeline, clip, ranges)


def test_what_waits_when_the_page_closes_leaves_by_beacon(
        pipeline: Pipeline, site: str, relay: tuple[RelayState, str],
        browser: webdriver.Chrome) -> None:
    state, gateway = relay
    clip = f"clip-{time.time_ns()}"
    # Nothing is sent before a minute: whatever arrives came with the page's close.
    open_page(browser, f"{site}/page.html?" + urlencode(
        {"endpoint": gateway, "key": WRITE_KEY, "clip": clip, "interval": 60000,
         "heartbeat": 60000}))
    play_until(browser, 2.5)
    stop = pause(browser)
    ranges = browser.execute_script("return window.playedRanges()")
    assert not state.events(clip)
    browser.get("about:blank")
    try:
        wait_until(lambda: state.holds(clip, "Pause", round(stop * 1000)), 15, "the beacon")
    except AssertionError as err:
        raise AssertionError(f"{err}: no Pause at {round(stop * 1000)} ms among "
                             f"{seen(state, clip)}") from err
    assert [u.mode for u in state.uploads] == ["no-cors"]
    assert [e["event_name"] for e in ordered_once(state.events(clip))] == [
        "Play", "Update QoS", "Pause"]
    landed(pipeline, clip, ranges)


def test_the_demo_page_the_read_api_serves_lands_on_its_dashboard(
        pipeline: Pipeline, browser: webdriver.Chrome) -> None:
    """The README's path: the read API's /demo page plays its clip with the SDK and
    sends to the gateway with the organization's write key; the clip's dashboard,
    which the page links to, then counts that play."""
    settings = pipeline.settings.model_copy(update={
        "api_port": free_port(), "read_tokens": {"tok-demo": ORGANIZATION}})
    for api in serve_app(create_app(settings), settings.api_port, settings.api_url, "read API"):
        browser.get(f"{api}/demo?token=tok-demo")
        wait_until(lambda: browser.execute_script(
            "return document.getElementById('player').readyState >= 3"), 15, "the demo clip")
        browser.execute_script("document.getElementById('player').play()")
        wait_until(lambda: browser.execute_script(
            "return document.getElementById('player').currentTime >= 2.5"), 20, "playback")
        ranges = browser.execute_script("""
            const audio = document.getElementById('player');
            audio.pause();
            return [...Array(audio.played.length).keys()].map(
              (i) => [audio.played.start(i), audio.played.end(i)]);""")
        wait_until(lambda: browser.execute_script(
            "return document.getElementById('sent').textContent !== '0'"), 15,
            "the page showing what the SDK sent")
        link = browser.execute_script("return document.getElementById('dashboard').href")
        assert link == f"{api}/dashboard/clips/{DEMO_CLIP}?token=tok-demo"
        browser.get("about:blank")
        landed(pipeline, DEMO_CLIP, ranges, source="demo")
        assert httpx.get(link, timeout=30).status_code == 200
        figures = httpx.get(f"{api}/api/consumption/clips/{DEMO_CLIP}",
                            headers={"Authorization": "Bearer tok-demo"}, timeout=30)
        assert figures.status_code == 200 and figures.json()["totals"]["sessions"] == 1
