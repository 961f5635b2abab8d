"""One way to reach ClickHouse, whatever runs it.

``http(s)://host:port`` is a ClickHouse server or ``playhead warehouse``;
``chdb:///path`` opens the ClickHouse engine in this process (one process per
path at a time).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

import clickhouse_connect
from clickhouse_connect.driver.client import Client


def utc(stamp: datetime) -> datetime:
    """A DateTime as clickhouse-connect hands it back (naive when it is in the server's
    zone, which is UTC for Playhead's columns), as an aware UTC instant."""
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


class WarehouseUnavailable(RuntimeError):
    """ClickHouse could not be reached or opened; the message says what to do."""


def connect(url: str, **settings: Any) -> Client:
    parsed = urlparse(url)
    try:
        if parsed.scheme == "chdb":
            return clickhouse_connect.get_client(dsn=url, settings=settings or None)
        return clickhouse_connect.get_client(
            host=parsed.hostname or "127.0.0.1",
            port=parsed.port or (8443 if parsed.scheme == "https" else 8123),
            username=parsed.username or "default",
            password=parsed.password or "",
            secure=parsed.scheme == "https",
            interface=parsed.scheme,
            settings=settings or None,
        )
    except Exception as err:
        if parsed.scheme == "chdb" and "lock" in str(err).lower():
            raise WarehouseUnavailable(
                f"{url} is open in another process (chDB allows one at a time). Talk to it "
                "through that process's `playhead warehouse` server (PLAYHEAD_CLICKHOUSE_URL="
                "http://127.0.0.1:8123), or stop it with `playhead down`."
            ) from err
        raise WarehouseUnavailable(
            f"cannot reach ClickHouse at {url}: {err}. Is it running? `playhead up` starts "
            "the embedded warehouse; PLAYHEAD_CLICKHOUSE_URL points elsewhere."
        ) from err
