"""mParticle's own browser SDKs, unchanged from npm, pointed at Playhead: what is played lands.

A page (tests/e2e/mparticle_sdk/player.html, on an origin of its own, so CORS is
exercised) loads @mparticle/web-sdk and @mparticle/web-media-sdk exactly as
`make mparticle-sdk` installed them, configured with Playhead's address only.
Headless Chromium plays a media session through the media SDK's API (no media
element: the SDK logs what it is told), then leaves the page, so the last events
go out by navigator.sendBeacon. Between the browser and the gateway sits a relay
that forwards everything and can "stop answering": it still hands an upload to
the gateway (which stores it) but closes the connection without an answer, as a
network cut after the request left would. The SDK then retries that batch, and
the figures in ClickHouse must still be those of one play. A last run cuts the
network before requests leave (DevTools' offline emulation): the SDK keeps what
it could not send and sends it once the network is back.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from browsers import answer, chromium, forward, served
from conftest import REPO, Pipeline, running_pipeline, wait_until
from selenium import webdriver

from config.settings import Settings

pytestmark = pytest.mark.integration  # a pipeline and Chromium

SDK_DIR = REPO / "tests" / "e2e" / "mparticle_sdk"
API_KEY = "acme-media"  # no write keys configured: the API key names the organization
# Played: [0, 30) s, a seek while paused, then [90, 120) s: 60 s in two stretches.
PLAYED_BUCKETS = [(bucket, 1, 1) for bucket in (*range(0, 30), *range(90, 120))]


@dataclass
class Upload:
    """One upload the relay forwarded to the gateway."""

    fetch_mode: str  # "cors" for the SDK's fetch, "no-cors" for navigator.sendBeacon
    status: int  # the gateway's answer
    answered: bool  # False while the relay "stops answering"
    events: list[tuple[str, Any, str]]  # each media event: name, position, source_message_id


@dataclass
class RelayState:
    target: str
    cut: bool = False
    uploads: list[Upload] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def holding(self, name: str, position: int | None = None) -> list[Upload]:
        """The forwarded uploads that held the media event ``name`` at ``position`` (ms)."""
        with self.lock:
            return [u for u in self.uploads
                    if any(e[:2] == (name, position) for e in u.events)]

    def sent(self, name: str, position: int | None = None, answered: bool | None = None) -> int:
        return sum(1 for u in self.holding(name, position)
                   if answered is None or u.answered == answered)


class Relay(BaseHTTPRequestHandler):
    """Forwards every request to the gateway; while ``cut``, uploads get no answer."""

    protocol_version = "HTTP/1.1"
    state: RelayState  # set on the subclass each test makes

    def log_message(self, *_: Any) -> None:
        return None

    def do_OPTIONS(self) -> None:  # noqa: N802 (http.server's naming)
        self._relay()

    do_GET = do_POST = do_OPTIONS  # noqa: N815

    def _relay(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        response = forward(self, self.state.target, body)
        if self.command == "POST" and "/webevents/" in self.path:
            cut = self.state.cut
            events = json.loads(body).get("events", [])
            media = [(e["data"]["event_name"],
                      e["data"]["custom_attributes"].get("playhead_position"),
                      e["data"]["source_message_id"]) for e in events
                     if e.get("data", {}).get("custom_event_type") == "media"]
            with self.state.lock:
                self.state.uploads.append(Upload(self.headers.get("Sec-Fetch-Mode", ""),
                                                 response.status_code, not cut, media))
            if cut:  # stored by the gateway, but the SDK never hears so: it will retry
                self.close_connection = True
                return
        answer(self, response)


class QuietFiles(SimpleHTTPRequestHandler):
    def log_message(self, *_: Any) -> None:
        return None


@pytest.fixture(scope="module")
def pipeline(kafka: Settings, warehouse_url: str,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    if not (SDK_DIR / "node_modules" / "@mparticle" / "web-media-sdk").is_dir():
        pytest.fail("mParticle's SDKs are not installed: run `make mparticle-sdk` "
                    "(npm ci in tests/e2e/mparticle_sdk)")
    # Sessions close 4 s after their last event, so a played session is queryable soon.
    with running_pipeline(kafka, warehouse_url, tmp_path_factory.mktemp("mparticle-sdk"),
                          idle_timeout_seconds=4.0) as (settings, client):
        yield Pipeline(settings, client)


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    """The player page and the SDK files, on an origin other than Playhead's."""
    with served(functools.partial(QuietFiles, directory=str(SDK_DIR))) as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def relay(pipeline: Pipeline) -> Iterator[tuple[RelayState, str]]:
    state = RelayState(pipeline.settings.gateway_url)
    with served(type("TestRelay", (Relay,), {"state": state})) as port:
        yield state, f"127.0.0.1:{port}"


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    with chromium(tmp_path_factory.mktemp("chromium-mparticle")) as driver:
        yield driver


def open_player(browser: webdriver.Chrome, site: str, domain: str, interval_ms: int) -> None:
    browser.get(f"{site}/player.html?key={API_KEY}&domain={domain}&interval={interval_ms}")
    # The SDK starts only once identify answered: the page shows the mpid it got.
    wait_until(lambda: browser.execute_script("return document.documentElement.dataset.mpid"),
               15, "mParticle's identify answered")


def play(browser: webdriver.Chrome, steps: str) -> None:
    """Run media SDK calls (``s`` is the media session), 30 ms apart as a player's are."""
    browser.execute_async_script("""
        const done = arguments[arguments.length - 1];
        (async () => {
          for (const step of arguments[0]) {
            new Function("s", step)(window.s);
            await new Promise(r => setTimeout(r, 30));
          }
          done();
        })();
    """, [step.strip() for step in steps.strip().splitlines()])


def start_session(browser: webdriver.Chrome, clip: str) -> None:
    # contentId, title, duration (ms), content type, stream type, logPageEvent: true (without
    # it the web SDK uploads no media event at all), logMediaEvent: false.
    browser.execute_script(
        "window.s = new MediaSession(window.mParticle, arguments[0], 'Episode', 600000,"
        " 'Video', 'OnDemand', true, false);", clip)


FIRST_HALF = """
s.logMediaSessionStart()
s.logPlay()
s.logPlayheadPosition(15000)
s.logPause({currentPlayheadPosition: 30000})
s.logSeekStart(30000, {currentPlayheadPosition: 30000})
s.logSeekEnd(90000, {currentPlayheadPosition: 90000})
"""
SECOND_HALF = """
s.logPlay({currentPlayheadPosition: 90000})
s.logPause({currentPlayheadPosition: 120000})
s.logMediaSessionEnd({currentPlayheadPosition: 120000})
"""


def played_figures(pipeline: Pipeline, clip: str) -> None:
    """ClickHouse holds one session of 60 s, kept, over buckets 0-29 and 90-119 once each."""
    def landed() -> bool:
        sessions = pipeline.sessions(clip)
        return len(sessions) == 1 and sessions[0][3] == pytest.approx(60.0)
    wait_until(landed, 40, f"the session of {clip} in ClickHouse")
    [(_, source, _, duration, kept)] = pipeline.sessions(clip)
    assert (source, duration, kept) == ("mParticle", pytest.approx(60.0), 1)
    assert pipeline.buckets(clip) == PLAYED_BUCKETS


def test_a_session_played_through_the_sdks_lands_including_the_page_hide_beacon(
        pipeline: Pipeline, site: str, relay: tuple[RelayState, str],
        browser: webdriver.Chrome) -> None:
    started = time.monotonic()
    state, domain = relay
    clip = f"clip-{time.time_ns()}"
    open_player(browser, site, domain, interval_ms=3000)
    start_session(browser, clip)
    play(browser, FIRST_HALF)
    wait_until(lambda: state.sent("Seek End", 90000, answered=True), 15, "the first upload")
    # The SDK just uploaded and waits 3 s for its next one: leaving the page now makes it
    # send what it queued since by beacon.
    play(browser, SECOND_HALF)
    browser.get("about:blank")
    wait_until(lambda: state.sent("Media Session End", 120000), 15, "the page-hide beacon")
    [beacon] = state.holding("Pause", 120000)
    assert (beacon.fetch_mode, beacon.status) == ("no-cors", 202)
    assert [name for name, _, _ in beacon.events] == [
        "Play", "Pause", "Media Session End", "Media Session Summary"]
    assert {u.fetch_mode for u in state.uploads if u is not beacon} == {"cors"}
    assert not state.holding("Update Playhead Position", 15000)  # never uploaded
    played_figures(pipeline, clip)
    assert time.monotonic() - started < 60


def first_half_uploaded(browser: webdriver.Chrome, site: str, domain: str,
                        state: RelayState) -> str:
    """A new media session whose first half is played and uploaded; returns its clip."""
    clip = f"clip-{time.time_ns()}"
    open_player(browser, site, domain, interval_ms=1000)
    start_session(browser, clip)
    play(browser, FIRST_HALF)
    wait_until(lambda: state.sent("Seek End", 90000, answered=True), 15, "the first upload")
    return clip


def test_retries_after_answers_were_lost_count_once(
        pipeline: Pipeline, site: str, relay: tuple[RelayState, str],
        browser: webdriver.Chrome) -> None:
    started = time.monotonic()
    state, domain = relay
    clip = first_half_uploaded(browser, site, domain, state)
    state.cut = True
    play(browser, SECOND_HALF)
    # Each try reached the gateway and was stored; the SDK heard nothing and tried again.
    wait_until(lambda: state.sent("Pause", 120000, answered=False) >= 2, 15,
               "the SDK's retries")
    state.cut = False
    wait_until(lambda: state.sent("Pause", 120000, answered=True), 15,
               "the retry after the cut")
    browser.get("about:blank")
    tries = state.holding("Pause", 120000)
    assert len(tries) >= 3 and {u.status for u in tries} == {202}
    # The same events each time, under the same ids: the workers count them once.
    assert len({tuple(u.events) for u in tries}) == 1
    played_figures(pipeline, clip)
    assert time.monotonic() - started < 60


def test_events_logged_while_offline_are_sent_once_the_network_is_back(
        pipeline: Pipeline, site: str, relay: tuple[RelayState, str],
        browser: webdriver.Chrome) -> None:
    started = time.monotonic()
    state, domain = relay
    clip = first_half_uploaded(browser, site, domain, state)
    # DevTools' network emulation: the page's requests fail before leaving the browser.
    browser.set_network_conditions(offline=True, latency=0, download_throughput=-1,
                                   upload_throughput=-1)
    try:
        play(browser, SECOND_HALF)
        time.sleep(2.5)  # two of the SDK's upload intervals, each failing
        assert not state.holding("Pause", 120000)
    finally:
        browser.delete_network_conditions()
    wait_until(lambda: state.sent("Pause", 120000, answered=True), 15,
               "the upload once back online")
    browser.get("about:blank")
    played_figures(pipeline, clip)
    assert time.monotonic() - started < 60


def test_the_page_needs_nothing_but_the_sdk_files_and_its_init_settings() -> None:
    page = (SDK_DIR / "player.html").read_text()
    assert "node_modules/@mparticle/web-sdk/dist/mparticle.js" in page
    assert "node_modules/@mparticle/web-media-sdk/dist/mparticle-media.common.js" in page
    lock = json.loads((SDK_DIR / "package-lock.json").read_text())
    assert {name: spec["version"] for name, spec in lock["packages"].items()
            if name.startswith("node_modules/@mparticle/web")} == {
        "node_modules/@mparticle/web-sdk": "2.68.0",
        "node_modules/@mparticle/web-media-sdk": "1.4.7"}
    assert Path(SDK_DIR / ".gitignore").read_text().strip() == "node_modules/"
