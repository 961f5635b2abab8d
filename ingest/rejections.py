"""Answers for refused input: one shape for every route."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from ingest.gateway import Problem


class ProblemAnswer(BaseModel):
    path: str = Field(description="Where in the request, e.g. Events[2].Position")
    reason: str = Field(description="A short word: invalid, too_old, malformed_json, ...")
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
    503: _error("Kafka unavailable, nothing stored; retry after Retry-After seconds"),
}


class Rejected(Exception):
    """The request is refused as a whole (422) with every problem named."""

    def __init__(self, problems: Sequence[Problem], status: int = 422):
        self.problems = list(problems)
        self.status = status
        super().__init__("; ".join(p.message for p in problems))
