"""Answers for refused input: one shape for every route."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from ingest.gateway import Problem


class ProblemAnswer(BaseModel):
    path: str = Field(description="Where in the request, e.g. Events[2].Position")
    reason: str = Field(description="A short word: invalid, out_of_bounds, too_old, "
                                    "malformed_json, ...")
    message: str


class ErrorAnswer(BaseModel):
    error: str = Field(description="What went wrong and what to do")
    problems: list[ProblemAnswer] = Field(default_factory=list)


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorAnswer, "description": description}


# Every ingest route can answer these; documented once, applied to every router.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _error("Malformed JSON or body encoding"),
    401: _error("A write key is required or unknown"),
    403: _error("The write key belongs to another organization"),
    413: _error("Body or batch over the limit"),
    415: _error("Unsupported Content-Type or Content-Encoding"),
    422: _error("Invalid fields; each problem names its path and reason"),
    429: _error("Rate limit exceeded; retry after Retry-After seconds"),
    500: _error("Internal error, logged with a reference; the events may not be stored"),
    503: _error("Kafka unavailable, nothing stored; retry after Retry-After seconds"),
}

log = logging.getLogger("playhead.gateway")


def internal_error(err: BaseException) -> JSONResponse:
    """The answer to an exception no route expected: logged with its traceback, JSON 500.

    ``Connection: close`` makes the server close the connection once the answer
    is out, so a pooled client's next request opens a fresh one instead of
    finding whatever state the failure left behind.
    """
    reference = uuid.uuid4().hex[:12]
    log.error("internal error %s", reference, exc_info=err)
    return JSONResponse(status_code=500, headers={"Connection": "close"}, content={
        "error": f"internal error (reference {reference}): the request was not completed and "
                 "its events may not be stored; retry later, and report the reference if it "
                 "persists",
        "problems": []})


class Rejected(Exception):
    """The request is refused as a whole (422) with every problem named."""

    def __init__(self, problems: Sequence[Problem], status: int = 422):
        self.problems = list(problems)
        self.status = status
        super().__init__("; ".join(p.message for p in problems))
