"""The HTTP rules of the ClickHouse interface, apart from sockets and the engine.

Everything here is a pure function of a request's parts, so the rules that
clients depend on (which URL parameters are settings, how errors look, which
encodings are spoken) can be tested without a server.
"""

from __future__ import annotations

import gzip
import importlib
import json
import re
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from types import ModuleType
from typing import Any

import lz4.frame


def _optional(*names: str) -> ModuleType | None:
    for name in names:
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    return None


# zstd is stdlib from 3.14 and a backport before; brotli is optional in
# clickhouse-connect too. Either may be absent, and then is not offered.
_zstd = _optional("compression.zstd", "backports.zstd")
_brotli = _optional("brotli")

# URL parameters the HTTP layer consumes: they are never engine settings.
# ClickHouse's HTTPHandler reserves the same names.
RESERVED_PARAMS = frozenset({
    "query", "database", "default_format", "user", "password", "quota_key", "query_id",
    "stacktrace", "role", "buffer_size", "wait_end_of_query", "session_id", "session_timeout",
    "session_check", "close_session", "client_protocol_version", "compress", "decompress",
})
# Real settings that only steer the HTTP layer, which is this server: applying
# them to the engine would cost a SET per request and change nothing.
HTTP_SETTINGS = frozenset({
    "enable_http_compression", "http_zlib_compression_level", "send_progress_in_http_headers",
    "http_headers_progress_interval_ms", "cancel_http_readonly_queries_on_client_close",
    "add_http_cors_header", "http_response_buffer_size", "http_wait_end_of_query",
    "http_write_exception_in_output_format",
    "http_native_compression_disable_checksumming_on_decompress",
})
# chdb's Python wrapper post-processes these "formats" into Python objects.
_PYTHON_ONLY_FORMATS = frozenset({"dataframe", "datastore", "arrowtable"})
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
DEFAULT_SESSION_TIMEOUT = 60.0
MAX_SESSION_TIMEOUT = 3600.0

ERROR_NAMES = {
    33: "CANNOT_READ_ALL_DATA", 36: "BAD_ARGUMENTS", 48: "NOT_IMPLEMENTED",
    62: "SYNTAX_ERROR", 73: "UNKNOWN_FORMAT",
    115: "UNKNOWN_SETTING", 164: "READONLY", 236: "ABORTED", 271: "CANNOT_DECOMPRESS",
    307: "TOO_MANY_BYTES", 372: "SESSION_NOT_FOUND", 373: "SESSION_IS_LOCKED",
    1001: "STD_EXCEPTION",
}
# ClickHouse's exceptionCodeToHTTPStatus, for the codes clients meet in practice.
_STATUS_BY_CODE = {
    **dict.fromkeys((6, 25, 26, 27, 33, 38, 41, 44, 53, 62, 69, 70, 72, 117, 167, 168, 169,
                     376, 456, 457), 400),
    **dict.fromkeys((164, 497), 403),
    **dict.fromkeys((46, 47, 50, 56, 60, 63, 73, 81, 115, 372), 404),
    307: 413, 48: 501, 236: 503,
}
_CODE = re.compile(r"Code: (\d+)\.")


class ClickHouseError(Exception):
    """An error answered the way ClickHouse answers it."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def status(self) -> int:
        return _STATUS_BY_CODE.get(self.code, 500)

    def body(self, version: str) -> bytes:
        text = self.message
        if not text.startswith("Code: "):
            text = f"Code: {self.code}. DB::Exception: {text}"
            name = ERROR_NAMES.get(self.code)
            if name and not text.endswith(f"({name})"):
                text = f"{text.rstrip('.')}. ({name})"
        if "(version " not in text:
            text = f"{text} (version {version})"
        return (text.rstrip("\n") + "\n").encode()

    @classmethod
    def from_engine(cls, err: BaseException) -> ClickHouseError:
        """chDB raises with wrapper prefixes; ClickHouse's own text starts at "Code: "."""
        text = str(err)
        start = text.find("Code: ")
        if start < 0:
            return cls(1001, f"{type(err).__name__}: {text}")
        text = text[start:].strip()
        match = _CODE.match(text)
        return cls(int(match.group(1)) if match else 1001, text)


@dataclass
class RequestSpec:
    """What a request asks of the engine, with the HTTP envelope removed."""

    sql: bytes
    default_format: str = "TabSeparated"
    database: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    settings: dict[str, str] = field(default_factory=dict)
    query_id: str = ""
    session_id: str | None = None
    session_timeout: float = DEFAULT_SESSION_TIMEOUT
    session_check: bool = False
    close_session: bool = False
    compression_requested: bool = True


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def form_fields(content_type: str, body: bytes) -> dict[str, str]:
    """Plain fields of a multipart/form-data body.

    clickhouse-connect moves the query and its parameters into a form when
    the parameters grow too large for a URL. File parts are external tables,
    which this server does not serve.
    """
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    fields: dict[str, str] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if part.get_filename() is not None:
            raise ClickHouseError(48, "External data (multipart file parts) is not supported")
        if isinstance(name, str):
            payload = part.get_payload(decode=True)
            fields[name] = payload.decode("utf-8") if isinstance(payload, bytes) else ""
    return fields


def parse_request(params: Iterable[tuple[str, str]], body: bytes, *, content_type: str = "",
                  ) -> RequestSpec:
    """Split URL parameters and body into query text, settings and transport options."""
    values: dict[str, str] = {}
    for key, value in params:
        values[key] = value
    if content_type.lower().startswith("multipart/form-data"):
        values.update(form_fields(content_type, body))
        body = b""
    if _truthy(values.get("decompress")) or _truthy(values.get("compress")):
        raise ClickHouseError(48, "ClickHouse's native compress/decompress block format is not "
                                  "supported; use Content-Encoding and enable_http_compression")
    query = values.get("query", "").encode("utf-8")
    # ClickHouse joins the query parameter and the body with a newline, which
    # is what lets INSERT ... FORMAT X sit in the URL and the data in the body.
    sql = query + b"\n" + body if query and body else query or body
    spec = RequestSpec(sql=sql, query_id=values.get("query_id", ""))
    default_format = values.get("default_format") or "TabSeparated"
    if not _NAME.match(default_format) or default_format.lower() in _PYTHON_ONLY_FORMATS:
        raise ClickHouseError(73, f"Unknown format {default_format}")
    spec.default_format = default_format
    spec.database = values.get("database") or None
    spec.session_id = values.get("session_id") or None
    spec.session_check = _truthy(values.get("session_check"))
    spec.close_session = _truthy(values.get("close_session"))
    # chDB reports enable_http_compression=1 in system.settings, so
    # clickhouse-connect sends only Accept-Encoding; honour that default.
    spec.compression_requested = _truthy(values.get("enable_http_compression", "1"))
    if timeout := values.get("session_timeout"):
        try:
            spec.session_timeout = float(timeout)
        except ValueError:
            raise ClickHouseError(36, f"Invalid session timeout: '{timeout}'") from None
        if not 0 <= spec.session_timeout <= MAX_SESSION_TIMEOUT:
            raise ClickHouseError(36, f"Session timeout '{timeout}' is larger than "
                                      f"max_session_timeout: {MAX_SESSION_TIMEOUT:.0f}")
    for key, value in values.items():
        if key.startswith("param_"):
            spec.params[key[len("param_"):]] = value
        elif key not in RESERVED_PARAMS and key not in HTTP_SETTINGS:
            if not _NAME.match(key):
                raise ClickHouseError(115, f"Unknown setting '{key}'")
            spec.settings[key] = value
    return spec


def decode_body(body: bytes, content_encoding: str) -> bytes:
    """Undo a request's Content-Encoding; a comma list is undone last coding first."""
    codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip()]
    for coding in reversed(codings):
        try:
            body = _decompress(body, coding)
        except ClickHouseError:
            raise
        except Exception as err:
            raise ClickHouseError(271, f"Cannot decompress {coding} request body: {err}") from err
    return body


def _decompress(data: bytes, coding: str) -> bytes:
    if coding in ("", "identity"):
        return data
    if coding in ("gzip", "x-gzip"):
        return gzip.decompress(data)
    if coding == "deflate":
        # HTTP's "deflate" is zlib-wrapped, but some clients send raw deflate.
        try:
            return zlib.decompress(data)
        except zlib.error:
            return zlib.decompress(data, -zlib.MAX_WBITS)
    if coding == "lz4":
        return _lz4_decompress(data)
    if coding == "zstd" and _zstd is not None:
        return bytes(_zstd.decompress(data))
    if coding == "br" and _brotli is not None:
        return bytes(_brotli.decompress(data))
    raise ClickHouseError(271, f"Unknown Content-Encoding '{coding}'; this server reads "
                               f"{', '.join(supported_encodings())}")


def _lz4_decompress(data: bytes) -> bytes:
    # clickhouse-connect closes an LZ4 frame per insert chunk, so a body is a
    # run of frames; lz4.frame.decompress alone stops after the first.
    out: list[bytes] = []
    rest = data
    while rest:
        decompressor = lz4.frame.LZ4FrameDecompressor()
        out.append(decompressor.decompress(rest))
        if not decompressor.eof:
            raise ClickHouseError(271, "Truncated lz4 frame in request body")
        rest = decompressor.unused_data
    return b"".join(out)


def supported_encodings() -> list[str]:
    names = ["lz4"]
    if _zstd is not None:
        names.append("zstd")
    if _brotli is not None:
        names.append("br")
    return [*names, "gzip", "deflate"]


def choose_encoding(accept_encoding: str) -> str | None:
    """The first encoding in the client's list that the server speaks."""
    supported = supported_encodings()
    for item in accept_encoding.split(","):
        name, _, qualifier = item.strip().partition(";")
        name = name.strip().lower()
        if qualifier.replace(" ", "") in ("q=0", "q=0.0", "q=0.00", "q=0.000"):
            continue
        if name in supported:
            return name
    return None


def encode_body(data: bytes, encoding: str) -> bytes:
    if encoding == "lz4":
        return bytes(lz4.frame.compress(data))
    if encoding == "zstd" and _zstd is not None:
        return bytes(_zstd.compress(data))
    if encoding == "br" and _brotli is not None:
        return bytes(_brotli.compress(data))
    if encoding == "gzip":
        return gzip.compress(data, compresslevel=3)
    if encoding == "deflate":
        return zlib.compress(data, 3)
    raise ValueError(encoding)


_CONTENT_TYPES = {
    "tabseparated": "text/tab-separated-values", "tsv": "text/tab-separated-values",
    "csv": "text/csv", "csvwithnames": "text/csv", "json": "application/json",
    "jsoncompact": "application/json", "jsoneachrow": "application/x-ndjson",
    "jsoncompacteachrow": "application/x-ndjson", "xml": "application/xml",
}
_BINARY_FORMATS = ("native", "rowbinary", "parquet", "arrow", "arrowstream", "orc", "avro",
                   "protobuf", "capnproto", "msgpack", "bsoneachrow", "npy")


def content_type(fmt: str | None) -> str:
    name = (fmt or "").lower()
    if name.startswith(_BINARY_FORMATS):
        return "application/octet-stream"
    base = _CONTENT_TYPES.get(name)
    if base is None and name.startswith(("tabseparated", "tsv")):
        base = "text/tab-separated-values"
    return f"{base or 'text/plain'}; charset=UTF-8"


def summary_header(stats: Mapping[str, Any]) -> str:
    """X-ClickHouse-Summary: every counter as a decimal string, as ClickHouse sends it."""
    keys = ("read_rows", "read_bytes", "written_rows", "written_bytes", "total_rows_to_read",
            "result_rows", "result_bytes", "elapsed_ns")
    return json.dumps({key: str(int(stats.get(key, 0))) for key in keys}, separators=(",", ":"))
