"""The SDK's demo page: served by the read API with the SDK, its clip and its settings."""

from __future__ import annotations

import asyncio
import html
import io
import json
import re
import wave
from typing import Any

import httpx

from config.settings import Settings
from readapi.app import create_app
from readapi.demo import CLIP_SECONDS, DEMO_CLIP, SCRIPTS


class Client:
    """The app over httpx's ASGI transport, as TestClient sees it (host `testserver`,
    redirects followed): starlette deprecates its TestClient on httpx. One event loop
    per request, closed with it, so nothing is left open between tests."""

    def __init__(self, app: Any) -> None:
        self._app = app

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        async def send() -> httpx.Response:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=self._app),
                                         base_url="http://testserver",
                                         follow_redirects=True) as http:
                return await http.get(url, **kwargs)
        return asyncio.run(send())


def client(**settings: object) -> Client:
    return Client(create_app(Settings(read_tokens={"tok-a": "org-a"}, **settings)))


def config_of(page: str) -> dict[str, object]:
    found = re.search(r'data-config="([^"]*)"', page)
    assert found, "the page carries its settings"
    return json.loads(html.unescape(found.group(1)))


def test_the_page_needs_a_read_token() -> None:
    api = client()
    assert api.get("/demo").status_code == 401
    assert api.get("/demo", params={"token": "nope"}).status_code == 401


def test_the_page_sends_as_the_tokens_organization_and_links_its_dashboard() -> None:
    api = client(gateway_port=18080)
    answer = api.get("/demo", params={"token": "tok-a"})
    assert answer.status_code == 200
    assert config_of(answer.text) == {
        "endpoint": "http://127.0.0.1:18080", "organization": "org-a", "writeKey": None,
        "clipId": DEMO_CLIP, "dashboard": f"/dashboard/clips/{DEMO_CLIP}?token=tok-a",
        "idleSeconds": 1800.0, "minSessionSeconds": 10.0}
    policy = answer.headers["content-security-policy"]
    assert "connect-src 'self' http://127.0.0.1:18080" in policy
    assert answer.headers["cache-control"] == "no-store"
    assert '<script type="module" src="/demo/demo.js">' in answer.text


def test_with_write_keys_the_page_carries_its_organizations_key() -> None:
    api = client(write_keys={"wk-b": "org-b", "wk-a": "org-a"}, gateway_host="0.0.0.0")
    config = config_of(api.get("/demo", params={"token": "tok-a"}).text)
    assert config["writeKey"] == "wk-a"
    # A gateway on every address is reached on the host the page came from.
    assert config["endpoint"] == "http://testserver:8080"


def test_the_sdk_and_the_page_script_are_served_as_modules() -> None:
    api = client()
    for name, path in SCRIPTS.items():
        answer = api.get(f"/demo/{name}")
        assert answer.status_code == 200, name
        assert answer.headers["content-type"].startswith("text/javascript")
        assert answer.text == path.read_text()
    # index.js imports its siblings by relative path: they resolve under /demo/sdk/.
    index = api.get("/demo/sdk/index.js").text
    assert "from './queue.js'" in index
    assert api.get("/demo/sdk/../../readapi/demo.py").status_code == 404
    assert api.get("/demo/package.json").status_code == 404


def test_the_clip_is_a_wav_of_the_promised_length() -> None:
    answer = client().get("/demo/clip.wav")
    assert answer.status_code == 200 and answer.headers["content-type"] == "audio/wav"
    with wave.open(io.BytesIO(answer.content)) as clip:
        assert clip.getnframes() / clip.getframerate() == CLIP_SECONDS


def test_the_demo_stays_out_of_the_openapi_document() -> None:
    paths = create_app(Settings()).openapi()["paths"]
    assert not [path for path in paths if path.startswith("/demo")]


def test_the_clip_answers_byte_ranges_so_the_browser_can_seek() -> None:
    api = client()
    whole = api.get("/demo/clip.wav").content
    part = api.get("/demo/clip.wav", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == whole[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(whole)}"
    tail = api.get("/demo/clip.wav", headers={"Range": f"bytes={len(whole) - 10}-"})
    assert tail.status_code == 206 and tail.content == whole[-10:]
    assert api.get("/demo/clip.wav", headers={"Range": f"bytes={len(whole)}-"}).status_code == 416
