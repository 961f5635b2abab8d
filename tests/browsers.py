"""What the browser tests share: headless Chromium (Debian's), small local HTTP
servers, and the relay's forwarding, so each test keeps only what it is about."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

# Headers that describe one connection, not the request: never passed on.
HOP_BY_HOP = {"connection", "content-length", "transfer-encoding", "keep-alive", "date",
              "server", "host"}


@contextlib.contextmanager
def chromium(profile: Path, *flags: str) -> Iterator[webdriver.Chrome]:
    """Headless Chromium with a profile of its own, quit however the test ends."""
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync", f"--user-data-dir={profile}", *flags):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@contextlib.contextmanager
def served(handler: Any) -> Iterator[int]:
    """``handler`` on a free local port (yielded), stopped afterwards."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def forward(request: BaseHTTPRequestHandler, target: str, body: bytes) -> httpx.Response:
    """The request, as the browser sent it, to ``target`` (the gateway)."""
    headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
    return httpx.request(request.command, target + request.path, headers=headers,
                         content=body, timeout=30)


def answer(request: BaseHTTPRequestHandler, response: httpx.Response) -> None:
    """The gateway's answer, back to the browser."""
    request.send_response(response.status_code)
    for name, value in response.headers.items():
        if name.lower() not in HOP_BY_HOP:
            request.send_header(name, value)
    request.send_header("Content-Length", str(len(response.content)))
    request.end_headers()
    request.wfile.write(response.content)
