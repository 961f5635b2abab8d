"""The demo page of the browser SDK: play a clip, see the play on the dashboard.

``/demo?token=<read token>`` serves clients/player/demo/index.html with the
SDK (clients/player/src, loaded as ES modules straight from the repository,
the way the dashboard's files come from web/) and a clip made here: a short
WAV melody, so no media file is kept in the repository. The page sends to
the gateway as the token's organization, with that organization's write key
when write keys are configured, and links to the clip's dashboard.
"""

from __future__ import annotations

import functools
import html
import io
import json
import math
import re
import struct
import wave
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from readapi.auth import ReadTokens, Unauthorized
from readapi.config import ReadApiConfig

PLAYER = Path(__file__).resolve().parents[1] / "clients" / "player"
DEMO_CLIP = "playhead-demo"
CLIP_SECONDS = 40
# Only these files are served: a name never becomes a path.
SCRIPTS = {
    **{f"sdk/{name}": PLAYER / "src" / name
       for name in ("index.js", "queue.js", "session.js", "media.js")},
    "demo.js": PLAYER / "demo" / "demo.js",
}
JS = "text/javascript; charset=utf-8"
REFUSED = """<!doctype html><meta charset="utf-8"><title>Playhead: read token needed</title>
<p style="font-family:system-ui;margin:3rem">The demo page needs a read token of your
organization (<code>playhead up</code> prints the address): open it as
<code>/demo?token=&lt;token&gt;</code>. {reason}</p>"""


def demo_router(tokens: ReadTokens, api: ReadApiConfig) -> APIRouter:
    routes = APIRouter(tags=["demo"])

    @routes.get("/demo", response_class=HTMLResponse, include_in_schema=False)
    def page(request: Request,
             token: Annotated[str | None, Query(description="A read token")] = None) -> Response:
        try:
            organization = tokens.organization(token)
        except Unauthorized as err:
            return HTMLResponse(REFUSED.format(reason=html.escape(str(err))), status_code=401)
        template = PLAYER / "demo" / "index.html"
        if not template.exists():  # an install without the repository's clients/ folder
            return Response(f"the demo's files are not installed ({PLAYER})", status_code=503,
                            media_type="text/plain")
        gateway = gateway_url(api, request)
        config = {
            "endpoint": gateway,
            "organization": organization,
            # The page is public to whoever holds the link; a write key only writes.
            "writeKey": write_key_of(api, organization),
            "clipId": DEMO_CLIP,
            "dashboard": f"/dashboard/clips/{DEMO_CLIP}?token={token}",
            "idleSeconds": api.idle_timeout_seconds,
            "minSessionSeconds": api.min_session_seconds,
        }
        text = template.read_text().replace(
            "{{config}}", html.escape(json.dumps(config), quote=True))
        policy = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                  f"media-src 'self'; connect-src 'self' {gateway}; frame-ancestors 'none'; "
                  "base-uri 'none'; form-action 'none'")
        return HTMLResponse(text, headers={
            "Content-Security-Policy": policy, "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer"})  # the token is in this page's URL

    @routes.get("/demo/clip.wav", include_in_schema=False)
    def clip(request: Request) -> Response:
        return byte_ranges(melody(CLIP_SECONDS), request.headers.get("range"), "audio/wav")

    @routes.get("/demo/{name:path}", include_in_schema=False)
    def script(name: str) -> Response:
        path = SCRIPTS.get(name)
        if path is None or not path.exists():
            return Response(f"no demo file {name!r}", status_code=404, media_type="text/plain")
        return FileResponse(path, media_type=JS, headers={"Cache-Control": "no-cache"})

    return routes


def byte_ranges(content: bytes, wanted: str | None, media_type: str) -> Response:
    """The whole content, or the one range asked for: browsers seek in a media
    file only where the server answers ranges."""
    headers = {"Accept-Ranges": "bytes", "Cache-Control": "public, max-age=3600"}
    found = re.fullmatch(r"bytes=(\d+)-(\d*)", (wanted or "").strip())
    if not found:
        return Response(content, media_type=media_type, headers=headers)
    first = int(found[1])
    last = min(int(found[2]), len(content) - 1) if found[2] else len(content) - 1
    if first > last:
        return Response(status_code=416, headers={"Content-Range": f"bytes */{len(content)}"})
    headers["Content-Range"] = f"bytes {first}-{last}/{len(content)}"
    return Response(content[first:last + 1], status_code=206, media_type=media_type,
                    headers=headers)


def gateway_url(api: ReadApiConfig, request: Request) -> str:
    """The gateway as the browser reaches it: a gateway listening on every
    address is reached on the host this page came from."""
    host = api.gateway_host
    if host in ("0.0.0.0", "::", ""):
        host = request.url.hostname or "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{api.gateway_port}"


def write_key_of(api: ReadApiConfig, organization: str) -> str | None:
    return next((key for key, org in sorted(api.write_keys.items())
                 if org == organization), None)


@functools.cache
def melody(seconds: int, rate: int = 8000) -> bytes:
    """A mono 16-bit WAV: an arpeggio that changes every second, so where you
    are in the clip can be heard."""
    notes = [220.0, 277.18, 329.63, 440.0, 329.63, 277.18]
    frames = bytearray()
    for second in range(seconds):
        pitch = notes[second % len(notes)] * (1 + (second // len(notes)) % 2)
        for i in range(rate):
            fade = min(1.0, i / 200, (rate - i) / 200)  # no click between notes
            value = 0.3 * fade * math.sin(2 * math.pi * pitch * i / rate)
            frames += struct.pack("<h", int(value * 32767))
    out = io.BytesIO()
    with wave.open(out, "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(rate)
        file.writeframes(bytes(frames))
    return out.getvalue()
