"""The HTTP shell: ClickHouse's HTTP interface in front of the engine.

The standard library's ThreadingHTTPServer is enough: chDB calls block (and
release the GIL), so a thread per connection is the simple model that also
gives real parallelism across connections. Responses are built whole and
sent with a Content-Length, which keeps HTTP/1.1 keep-alive (clickhouse-
connect pools connections) simple and lets errors carry a proper status.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from devkit.warehouse.engine import Engine, Result
from devkit.warehouse.protocol import (
    ClickHouseError,
    choose_encoding,
    content_type,
    decode_body,
    encode_body,
    parse_request,
    summary_header,
)
from devkit.warehouse.sql import READ_KINDS, SqlError, analyze

logger = logging.getLogger(__name__)

_OK = b"Ok.\n"
_NOT_FOUND = (b"There is no handle {path}\n\nUse / or /ping for health checks.\n"
              b"Send queries with POST / or GET /?query=...\n")


class WarehouseHTTPServer(ThreadingHTTPServer):
    """Thread-per-connection HTTP front of one :class:`Engine`.

    It remembers its open connections and in-flight requests so a stop can
    let requests finish and then wake the threads idling on keep-alive.
    """

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], engine: Engine, *,
                 max_request_bytes: int) -> None:
        self.engine = engine
        self.max_request_bytes = max_request_bytes
        self.display_name = socket.gethostname()
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        self.in_flight = threading.Condition()
        self.requests = 0
        super().__init__(address, RequestHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client hanging up mid-response is routine, not a server fault.
        logger.debug("connection from %s ended with an error", client_address, exc_info=True)

    def wait_idle(self, timeout: float) -> bool:
        with self.in_flight:
            return self.in_flight.wait_for(lambda: self.requests == 0, timeout)

    def drop_connections(self) -> None:
        with self.connections_lock:
            connections = list(self.connections)
        for connection in connections:
            # Wakes handler threads blocked waiting for a next keep-alive request.
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _BadBody(ClickHouseError):
    """The request body cannot be read; the connection is out of step and closes."""


class RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: clickhouse-connect pools connections
    server_version = "playhead-warehouse"
    sys_version = ""
    server: WarehouseHTTPServer
    timeout = 60  # idle keep-alive connections are dropped after this many seconds
    # Headers and body leave as one write, without Nagle's wait: otherwise
    # every small answer waits ~40 ms for the client's delayed ACK.
    disable_nagle_algorithm = True
    wbufsize = 1 << 16

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s %s", self.address_string(), format % args)

    def handle_expect_100(self) -> bool:
        # curl waits for "100 Continue" before sending a large body; the
        # buffered writer would otherwise hold it back.
        super().handle_expect_100()
        self.wfile.flush()
        return True

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        path = urlsplit(self.path).path
        self._send(200 if path in ("/", "/ping") else 404, b"", {}, head=True)

    def _serve(self) -> None:
        server = self.server
        with server.in_flight:
            server.requests += 1
        try:
            self._dispatch(server)
        finally:
            with server.in_flight:
                server.requests -= 1
                server.in_flight.notify_all()

    def _dispatch(self, server: WarehouseHTTPServer) -> None:
        url = urlsplit(self.path)
        try:
            body = self._read_body(server.max_request_bytes)
        except _BadBody as err:
            self.close_connection = True
            self._send_error(err, "")
            return
        if url.path in ("/ping", "/replicas_status"):
            self._send(200, _OK, {"Content-Type": "text/plain; charset=UTF-8"})
            return
        if url.path != "/":
            message = _NOT_FOUND.replace(b"{path}", url.path.encode("utf-8", "replace"))
            self._send(404, message, {"Content-Type": "text/plain; charset=UTF-8"})
            return
        query_id = ""
        try:
            body = decode_body(body, self.headers.get("Content-Encoding", ""))
            spec = parse_request(parse_qsl(url.query, keep_blank_values=True), body,
                                 content_type=self.headers.get("Content-Type", ""))
            query_id = spec.query_id or str(uuid.uuid4())
            if self.command == "GET" and not spec.sql:
                self._send(200, _OK, {"Content-Type": "text/plain; charset=UTF-8"})
                return
            statement = analyze(spec.sql)
            if self.command == "GET" and statement.kind not in READ_KINDS:
                raise ClickHouseError(164, "Cannot execute query in readonly mode. For queries "
                                           "over HTTP, method GET implies readonly. You should "
                                           "use method POST for modifying queries")
            result = server.engine.execute(spec, statement)
        except SqlError as err:
            self._send_error(ClickHouseError(err.code, str(err)), query_id)
            return
        except ClickHouseError as err:
            self._send_error(err, query_id)
            return
        except Exception as err:
            # A bug here must cost one request, never the server.
            logger.exception("request failed")
            self._send_error(ClickHouseError(1001, f"{type(err).__name__}: {err}"), query_id)
            return
        encoding = None
        if spec.compression_requested and result.body:
            encoding = choose_encoding(self.headers.get("Accept-Encoding", ""))
        self._send_result(result, query_id, encoding)

    def _read_body(self, limit: int) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked(limit)
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise _BadBody(36, "Invalid Content-Length") from None
        if length > limit:
            raise _BadBody(307, f"Request body of {length} bytes exceeds the {limit} byte limit")
        return self._read_exactly(length)

    def _read_exactly(self, size: int) -> bytes:
        data = self.rfile.read(size) if size > 0 else b""
        if len(data) < size:
            # The client went away mid-body: running a truncated INSERT would
            # store part of a batch.
            raise _BadBody(33, f"Request body ended after {len(data)} of {size} bytes")
        return data

    def _read_chunked(self, limit: int) -> bytes:
        # urllib3 sends clickhouse-connect's generator insert bodies chunked,
        # which http.server leaves to the handler.
        parts: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(65537)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise _BadBody(36, "Malformed chunked request body") from None
            if size == 0:
                while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass  # trailers carry nothing this server uses
                return b"".join(parts)
            total += size
            if total > limit:
                raise _BadBody(307, f"Request body exceeds the {limit} byte limit")
            parts.append(self._read_exactly(size))
            self.rfile.readline()

    def _common_headers(self, query_id: str) -> dict[str, str]:
        headers = {"X-ClickHouse-Server-Display-Name": self.server.display_name,
                   "X-ClickHouse-Timezone": self.server.engine.timezone}
        if query_id:
            headers["X-ClickHouse-Query-Id"] = query_id
        return headers

    def _send_result(self, result: Result, query_id: str, encoding: str | None) -> None:
        headers = self._common_headers(query_id)
        headers["Content-Type"] = content_type(result.output_format)
        if result.output_format:
            headers["X-ClickHouse-Format"] = result.output_format
        headers["X-ClickHouse-Summary"] = summary_header(result.stats)
        body = result.body
        if encoding is not None:
            body = encode_body(body, encoding)
            headers["Content-Encoding"] = encoding
        self._send(200, body, headers)

    def _send_error(self, err: ClickHouseError, query_id: str) -> None:
        headers = self._common_headers(query_id)
        headers["Content-Type"] = "text/plain; charset=UTF-8"
        headers["X-ClickHouse-Exception-Code"] = str(err.code)
        self._send(err.status, err.body(self.server.engine.version), headers)

    def _send(self, status: int, body: bytes, headers: dict[str, str], head: bool = False) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Keep-Alive", f"timeout={self.timeout}")
        self.end_headers()
        if not head:
            self.wfile.write(body)
