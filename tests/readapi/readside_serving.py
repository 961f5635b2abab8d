"""The read API on a real socket (uvicorn in a thread), for the read side's tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from browsers import chromium as headless_chromium
from clickhouse_connect.driver.client import Client
from conftest import wait_until
from selenium import webdriver
from selenium.webdriver.common.by import By
from serving import serve_app

from config.settings import Settings
from control.registry import Registry
from readapi.app import create_app


def serve(settings: Settings, client_factory: Callable[[], Client] | None = None,
          control: Registry | None = None) -> Iterator[str]:
    """The read API; with the tokens from ``settings`` only, unless given a control state
    (these tests have no broker to follow the control topic on)."""
    app = create_app(settings, client_factory,
                     control=control if control is not None else Registry())
    yield from serve_app(app, settings.api_port, settings.api_url, "the read API")


class RecordingClient:
    """A real client that also remembers every SQL text it sent (not a mock: it
    delegates everything), so a test can show no request value became SQL."""

    def __init__(self, client: Client, texts: list[str]):
        self._client = client
        self._texts = texts

    def query(self, query: str, *args: Any, **kwargs: Any) -> Any:
        self._texts.append(query)
        return self._client.query(query, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


@pytest.fixture(scope="module", name="browser")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    """The ``browser`` fixture: headless Chromium for the dashboard, one per module that
    imports ``chromium``."""
    with headless_chromium(tmp_path_factory.mktemp("chromium"), "--window-size=1360,1110",
                  "--force-device-scale-factor=1", "--hide-scrollbars") as driver:
        yield driver


def drawn(driver: webdriver.Chrome) -> dict[str, Any]:
    """What the dashboard drew, once it is ready: the curve's points (x, y, listeners),
    the answer's totals and the figures shown, and the chart's x axis and footer."""
    wait_until(lambda: driver.find_element(By.TAG_NAME, "body").get_attribute("data-state")
               in ("ready", "error"), 20, "the dashboard")
    return dict(driver.execute_script(
        "const d = window.playheadDashboard;"
        "return {points: d.chart.data.datasets[0].data.filter(p => !p.end)"
        "  .map(p => [p.x, p.y, p.listeners]), totals: d.data.totals,"
        "  figures: ['sessions', 'kept', 'hours', 'share', 'completion']"
        "  .map(id => document.getElementById(id).textContent),"
        "  xMax: d.chart.options.scales.x.max,"
        "  footer: document.getElementById('footer').textContent};"))
