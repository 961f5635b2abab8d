"""The ClickHouse sink: ``write(results)`` and nothing else.

Batching is the caller's business (see processors/faust_app.py); this class
turns one batch into inserts and reports failure as ``SinkUnavailable`` so the
caller can hold its offsets and retry.
"""

from __future__ import annotations

from collections.abc import Sequence

from clickhouse_connect.driver.client import Client

from processors.session import SessionResult
from sinks.rows import (
    CONTENT_COLUMNS,
    EVENT_COLUMNS,
    SESSION_COLUMNS,
    content_rows,
    event_rows,
    session_rows,
)


class SinkUnavailable(RuntimeError):
    """ClickHouse refused or failed a batch; nothing of it may be treated as written."""


class ClickHouseSink:
    def __init__(self, client: Client, database: str):
        self._client = client
        self._database = database

    def write(self, results: Sequence[SessionResult]) -> None:
        if not results:
            return
        try:
            # Each table is exact on its own (versions, event ids), so the
            # order only decides what a reader may briefly see first.
            content = content_rows(results)
            if content:
                self._client.insert(f"{self._database}.content_events", content,
                                    column_names=list(CONTENT_COLUMNS))
            events = event_rows(results)
            if events:
                self._client.insert(f"{self._database}.session_events", events,
                                    column_names=list(EVENT_COLUMNS))
            self._client.insert(f"{self._database}.session_versions", session_rows(results),
                                column_names=list(SESSION_COLUMNS))
        except Exception as err:
            raise SinkUnavailable(f"writing {len(results)} sessions failed: {err}") from err
