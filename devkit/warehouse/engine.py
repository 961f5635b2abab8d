"""The chDB side of the warehouse: connections, sessions and statement execution.

chDB hosts one engine per process, and any number of connections to it; each
connection keeps its own session state (current database, SET settings,
temporary tables), and queries on different connections run in parallel
(measured: two 1 s sleeps on two connections finish in 1 s, on one
connection in 2 s). That maps directly onto ClickHouse's HTTP model:

* a request without session_id gets a fresh connection (~0.5 ms to open),
  so nothing it sets can leak into another request;
* a session_id owns one connection for as long as the session lives, and
  is used by one request at a time, as ClickHouse enforces.

Settings passed as URL parameters apply to one request only, yet a session
connection must keep the settings the session itself SET. They are laid
over the session with SET and taken off again when a later request no
longer asks for them; consecutive requests with the same settings (what
clickhouse-connect sends) then cost no extra engine calls.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import chdb

from devkit.warehouse.protocol import ClickHouseError, RequestSpec
from devkit.warehouse.sql import Statement

logger = logging.getLogger(__name__)


def quote_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def quote_identifier(name: str) -> str:
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


@dataclass
class Result:
    body: bytes
    output_format: str | None
    stats: dict[str, int]


@dataclass
class _Handle:
    """One chDB connection and the session bookkeeping that rides on it."""

    conn: Any
    persistent: bool
    session_db: str = "default"
    current_db: str = "default"
    applied: dict[str, str] = field(default_factory=dict)  # request settings laid over
    originals: dict[str, str] = field(default_factory=dict)  # session values under them
    lock: threading.Lock = field(default_factory=threading.Lock)
    timeout: float = 60.0
    last_used: float = field(default_factory=time.monotonic)
    broken: bool = False

    def run(self, sql: str | bytes, fmt: str = "TabSeparated",
            params: dict[str, str] | None = None) -> Any:
        try:
            return self.conn.query(sql, fmt, params=params or {})
        except Exception as err:
            raise ClickHouseError.from_engine(err) from err

    def use(self, database: str) -> None:
        if database != self.current_db:
            self.run(f"USE {quote_identifier(database)}")
            self.current_db = database

    def overlay(self, settings: dict[str, str]) -> None:
        for name in [n for n in self.applied if n not in settings]:
            try:
                self._set(name, self.originals[name])
            except ClickHouseError:
                # The session cannot be given back its own value (readonly was
                # laid over it, say); dropping it beats leaking the setting.
                self.broken = self.persistent
                raise
            del self.applied[name]
        missing = [n for n in settings if n not in self.originals]
        if self.persistent and missing:
            self.originals.update(self._read_settings(missing))
        for name, value in settings.items():
            if self.applied.get(name) != value:
                self._set(name, value)
                self.applied[name] = value

    def reset(self) -> None:
        """Back to the session's own state, before a statement that changes it."""
        self.overlay({})
        self.use(self.session_db)

    def _set(self, name: str, value: str) -> None:
        self.run(f"SET {name} = {quote_string(value)}")

    def _read_settings(self, names: list[str]) -> dict[str, str]:
        columns = ", ".join(f"toString(getSetting({quote_string(n)}))" for n in names)
        row = json.loads(self.run(f"SELECT {columns}", "JSONCompactEachRow").bytes())
        return dict(zip(names, row, strict=True))

    def close(self) -> None:
        try:
            self.conn.close()
        except Exception:
            logger.debug("closing a chDB connection failed", exc_info=True)


class Engine:
    """Owns the chDB engine at ``path`` for the life of the server."""

    def __init__(self, path: Path, *, max_concurrent_queries: int = 32) -> None:
        if "?" in str(path):
            # chDB reads "?" in a connection string as the start of engine options.
            raise ValueError(f"warehouse path must not contain '?': {path}")
        self.path = path
        self.version = ""
        self.timezone = "UTC"
        self._anchor: _Handle | None = None
        self._sessions: dict[str, _Handle] = {}
        self._sessions_lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_concurrent_queries)
        self._active = 0
        self._idle = threading.Condition()
        self._closed = True
        self._last_sweep = time.monotonic()

    def open(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        # The anchor connection keeps the engine up between requests: chDB
        # shuts the engine down when its last connection closes.
        self._anchor = self._connect(persistent=True)
        row = self._anchor.run("SELECT version(), timezone()", "JSONCompactEachRow").bytes()
        self.version, self.timezone = json.loads(row)
        self._closed = False

    def _connect(self, *, persistent: bool) -> _Handle:
        try:
            conn = chdb.connect(str(self.path))  # type: ignore[no-untyped-call]  # chDB: no hints
            return _Handle(conn=conn, persistent=persistent)
        except Exception as err:
            raise ClickHouseError.from_engine(err) from err

    def close(self, timeout: float = 30.0) -> None:
        with self._idle:
            self._closed = True
            if not self._idle.wait_for(lambda: self._active == 0, timeout):
                logger.warning("closing chDB with %d queries still running", self._active)
        with self._sessions_lock:
            sessions, self._sessions = list(self._sessions.values()), {}
        for handle in sessions:
            handle.close()
        if self._anchor is not None:
            self._anchor.close()
            self._anchor = None

    def execute(self, spec: RequestSpec, statement: Statement) -> Result:
        with self._idle:
            if self._closed:
                raise ClickHouseError(236, "Server is shutting down")
            self._active += 1
        try:
            with self._slots:
                handle = self._acquire(spec)
                try:
                    return self._execute(handle, spec, statement)
                finally:
                    self._release(handle, spec)
        finally:
            with self._idle:
                self._active -= 1
                self._idle.notify_all()

    def _acquire(self, spec: RequestSpec) -> _Handle:
        if time.monotonic() - self._last_sweep > 1.0:
            with self._sessions_lock:
                self._expire_sessions()
        if spec.session_id is None:
            return self._connect(persistent=False)
        with self._sessions_lock:
            handle = self._sessions.get(spec.session_id)
            if handle is None:
                if spec.session_check:
                    raise ClickHouseError(372, f"Session {spec.session_id} not found")
                handle = self._sessions[spec.session_id] = self._connect(persistent=True)
            if not handle.lock.acquire(blocking=False):
                raise ClickHouseError(
                    373, f"Session {spec.session_id} is locked by a concurrent client")
            handle.timeout = spec.session_timeout
            return handle

    def _release(self, handle: _Handle, spec: RequestSpec) -> None:
        if handle.persistent and not (handle.broken or spec.close_session):
            handle.last_used = time.monotonic()
            handle.lock.release()
            return
        if handle.persistent:
            with self._sessions_lock:
                if self._sessions.get(spec.session_id or "") is handle:
                    del self._sessions[spec.session_id or ""]
        # The lock stays held: nobody can reach this handle any more.
        handle.close()

    def _expire_sessions(self) -> None:
        now = self._last_sweep = time.monotonic()
        for session_id, handle in list(self._sessions.items()):
            if now - handle.last_used > handle.timeout and handle.lock.acquire(blocking=False):
                del self._sessions[session_id]
                handle.close()

    def _execute(self, handle: _Handle, spec: RequestSpec, statement: Statement) -> Result:
        started = time.perf_counter_ns()
        if statement.kind in ("SET", "USE"):
            # These change the session itself: run them on its own state,
            # without this request's settings, so the change is what stays.
            handle.reset()
        else:
            handle.use(spec.database or handle.session_db)
            handle.overlay(spec.settings)
            if handle.persistent and spec.settings.get("readonly", "0") not in ("0", ""):
                # readonly forbids setting it back, so the session could not
                # shed it; it ends after this request instead.
                handle.broken = True
        if statement.is_data_insert:
            stats = self._insert(handle, spec, statement)
            result = Result(b"", None, stats)
        else:
            query = handle.run(statement.query, spec.default_format, spec.params)
            body = query.bytes() or b""
            fmt = statement.output_format or spec.default_format
            stats = {"read_rows": query.rows_read(), "read_bytes": query.bytes_read(),
                     "written_rows": query.rows_written(), "written_bytes": query.bytes_written()}
            if statement.kind == "INSERT":
                stats["result_rows"] = stats["written_rows"]
            result = Result(body, fmt if body or statement.returns_rows else None, stats)
            if statement.kind == "USE":
                row = handle.run("SELECT currentDatabase()", "JSONCompactEachRow").bytes()
                handle.session_db = handle.current_db = json.loads(row)[0]
            elif statement.kind == "SET":
                handle.originals.clear()  # the session's values just changed
        result.stats["elapsed_ns"] = time.perf_counter_ns() - started
        return result

    def _insert(self, handle: _Handle, spec: RequestSpec, statement: Statement) -> dict[str, int]:
        assert statement.insert_format is not None
        try:
            head = statement.query.decode("utf-8")
        except UnicodeDecodeError:
            raise ClickHouseError(36, "INSERT statement is not valid UTF-8") from None
        data = spec.sql[statement.data_start:]
        # send_insert streams the data into the engine's parser directly, so
        # the statement needs no rewriting and the body no temp file.
        try:
            with handle.conn.send_insert(head, statement.insert_format) as inserter:
                if data:
                    inserter.append(data)
                done = inserter.finish()
        except Exception as err:
            raise ClickHouseError.from_engine(err) from err
        return {"written_rows": done.rows_written, "written_bytes": done.bytes_written,
                "result_rows": done.rows_written}
