"""Request bodies as players really send them, normalized before validation.

Players send JSON as ``application/json``, as ``text/plain`` (what
``navigator.sendBeacon`` sends for a string) and sometimes gzip-compressed.
This ASGI middleware turns all of those into a plain JSON body, and refuses
anything else with a 4xx that says what is accepted. Sizes are checked on the
wire and after decompression, so a small gzip bomb cannot exhaust memory.
"""

from __future__ import annotations

import json
import zlib

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

JSON_TYPES = ("application/json", "text/plain")
ENCODINGS = {"identity": 0, "gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


class BodyRejected(Exception):
    def __init__(self, status: int, message: str):
        self.status = status
        self.message = message
        super().__init__(message)


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def check_content_type(content_type: str | None) -> None:
    media = _media_type(content_type or "")
    if media in JSON_TYPES or (media.startswith("application/") and media.endswith("+json")):
        return
    raise BodyRejected(415, f"unsupported Content-Type {content_type or '(none)'!r}: send JSON as "
                            "application/json or text/plain (navigator.sendBeacon)")


def decode_body(raw: bytes, encoding: str | None, limit: int) -> bytes:
    """Undo Content-Encoding without ever holding more than ``limit`` bytes."""
    name = (encoding or "identity").strip().lower()
    if name not in ENCODINGS:
        raise BodyRejected(415, f"unsupported Content-Encoding {encoding!r}: use gzip or deflate")
    if name == "identity":
        return raw
    inflater = zlib.decompressobj(ENCODINGS[name])
    try:
        body = inflater.decompress(raw, limit + 1)
    except zlib.error as err:
        raise BodyRejected(400, f"body is not valid {name} data: {err}") from err
    if len(body) > limit or inflater.unconsumed_tail:
        raise BodyRejected(413, f"body is over {limit} bytes once decompressed")
    return body


def _json_error(status: int, message: str) -> bytes:
    return json.dumps({"error": message}).encode()


class BodyNormalizer:
    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        try:
            check_content_type(headers.get("content-type"))
            declared = int(headers.get("content-length") or 0)
            if declared > self.max_bytes:
                raise BodyRejected(413, f"body of {declared} bytes is over {self.max_bytes}")
            raw = await self._read(receive)
            body = decode_body(raw, headers.get("content-encoding"), self.max_bytes)
        except BodyRejected as err:
            await _answer(send, err.status, _json_error(err.status, err.message))
            return
        rewritten = [(k, v) for k, v in scope["headers"]
                     if k.lower() not in (b"content-type", b"content-encoding", b"content-length")]
        rewritten += [(b"content-type", b"application/json"),
                      (b"content-length", str(len(body)).encode())]
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if delivered:
                return await receive()  # the disconnect message, when it comes
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        inner = {**scope, "headers": rewritten}
        await self.app(inner, replay, send)
        # The router records the route on the scope it is given; the request count
        # outside reads it from ours (without this every POST was counted as "other").
        if "route" in inner:
            scope["route"] = inner["route"]

    async def _read(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise BodyRejected(400, "client disconnected before sending the whole body")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                raise BodyRejected(413, f"body is over {self.max_bytes} bytes")
            chunks.append(chunk)
            if not message.get("more_body"):
                return b"".join(chunks)


async def _answer(send: Send, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
