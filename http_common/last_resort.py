"""The last answer to an exception no handler took, for every Playhead HTTP service."""

from __future__ import annotations

from collections.abc import Callable

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The service's own 500 in its own error shape; it logs the error.
Answer = Callable[[Scope, Exception], Response]


class LastResort:
    """Answers an unexpected exception with the service's JSON 500 (``answer``).

    Starlette's own last resort answers plain text and re-raises; uvicorn
    then drops the connection under a keep-alive client, whose next request
    on it fails. ``answer`` sends ``Connection: close`` instead, so a pooled
    client opens a fresh connection. Added first (innermost), so the answer
    still passes the other middleware: CORS headers, request counts.
    """

    def __init__(self, app: ASGIApp, answer: Answer):
        self.app = app
        self.answer = answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as err:
            if started:
                raise  # half an answer is out: only closing the connection ends it honestly
            await self.answer(scope, err)(scope, receive, send)
