"""The ClickHouse sink: ``write(results)`` and nothing else.

Batching is the caller's business (see processors/faust_app.py); this class
turns one batch into inserts and reports failure as ``SinkUnavailable`` so the
caller can hold its offsets and retry.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Sequence
from typing import Any

from clickhouse_connect.driver import options as driver_options
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError, DataError

from processors.session import SessionResult
from sinks.columns import Columns, content_columns, event_columns, session_columns
from sinks.rows import CONTENT_COLUMNS, EVENT_COLUMNS, SESSION_COLUMNS


class SinkUnavailable(RuntimeError):
    """ClickHouse refused or failed a batch; nothing of it may be treated as written."""


# ClickHouse error codes that are about the data sent, never about the server's state:
# CANNOT_PARSE_TEXT, CANNOT_PARSE_INPUT_ASSERTION_FAILED, TYPE_MISMATCH,
# ILLEGAL_TYPE_OF_ARGUMENT, ARGUMENT_OUT_OF_BOUND, CANNOT_CONVERT_TYPE,
# TOO_LARGE_ARRAY_SIZE, TOO_LARGE_STRING_SIZE, VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE.
CONTENT_ERROR_CODES = frozenset({6, 27, 53, 43, 69, 70, 128, 131, 321})
_CODE = re.compile(r"\bCode: (\d+)\b")


def refuses_content(err: BaseException) -> bool:
    """Whether a failed write was refused for its rows (retrying cannot help).

    clickhouse-connect raises ``DataError`` when a value does not fit its
    column's type before anything is sent; the server names its reason by
    code. Everything else (connections, time-outs, memory, too many parts)
    may pass: the caller retries it.
    """
    cause = err.__cause__ if isinstance(err, SinkUnavailable) and err.__cause__ else err
    if isinstance(cause, DataError | OverflowError | struct.error | UnicodeEncodeError):
        return True
    if isinstance(cause, DatabaseError):
        code = _CODE.search(str(cause))
        return code is not None and int(code.group(1)) in CONTENT_ERROR_CODES
    return False


class ClickHouseSink:
    def __init__(self, client: Client, database: str):
        self._client = client
        self._database = database
        # Column types per table, from one DESCRIBE: without them clickhouse-connect
        # asks the server before every insert. Forgotten after any failure, so a
        # table changed under a running worker is described again on the retry.
        self._types: dict[str, Sequence[Any]] = {}
        # clickhouse-connect imports pandas (when installed: chDB needs it) at the
        # first insert, to see whether the data is a DataFrame: a second and a half
        # holding the GIL inside the worker's first batch. Paid here, at start-up.
        _ = driver_options.pd

    def ping(self) -> bool:
        """Whether the warehouse answers a trivial query now (the flusher's evidence)."""
        try:
            return bool(self._client.command("SELECT 1") == 1)
        except Exception:
            return False

    def refuses_content(self, err: BaseException) -> bool:
        return refuses_content(err)

    def write(self, results: Sequence[SessionResult]) -> None:
        if not results:
            return
        try:
            # Each table is exact on its own (versions, event ids), so the
            # order only decides what a reader may briefly see first.
            content = content_columns(results)
            if content is not None:
                self._insert("content_events", CONTENT_COLUMNS, content)
            events = event_columns(results)
            if events is not None:
                self._insert("session_events", EVENT_COLUMNS, events)
            self._insert("session_versions", SESSION_COLUMNS, session_columns(results))
        except Exception as err:
            self._types.clear()
            raise SinkUnavailable(f"writing {len(results)} sessions failed: {err}") from err

    def _insert(self, table: str, names: Sequence[str], columns: Columns) -> None:
        types = self._types.get(table)
        context = self._client.create_insert_context(
            f"{self._database}.{table}", list(names), column_types=types, column_oriented=True)
        if types is None:
            self._types[table] = context.column_types
        self._client.insert(data=columns, context=context)
