"""Batches where each event stands alone: validate each, keep the good, name the bad.

Policy (documented in docs/gateway.md): the valid events of a batch are
accepted and published; the answer lists every refused event by index with
its problems. A batch in which nothing is valid is refused whole (422).
Every conversion here goes through Gateway.admit_events, so every published event
kept the bounds of schemas/bounds.py; one outside them refuses its item only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from ingest.gateway import Admitted, Gateway, Problem
from ingest.policy import EventRejected, Locate
from ingest.rejections import Rejected
from schemas.event import PlaybackEvent

T = TypeVar("T")


class RefusedEvent(BaseModel):
    index: int = Field(description="Position of the event in the request's array")
    problems: list[dict[str, str]] = Field(description="path, reason and message of each problem")


class BatchAnswer(BaseModel):
    accepted: int = Field(description="Events acknowledged by Kafka")
    rejected: list[RefusedEvent] = Field(default_factory=list,
                                         description="Events refused, each with its reasons")


def validate_items(
    adapter: TypeAdapter[T], items: Sequence[Any], prefix: str
) -> tuple[list[tuple[int, T]], dict[int, list[Problem]]]:
    """Validate every item on its own; problems carry paths like ``events[3].contentId``."""
    valid: list[tuple[int, T]] = []
    refused: dict[int, list[Problem]] = {}
    for index, item in enumerate(items):
        try:
            valid.append((index, adapter.validate_python(item)))
        except ValidationError as err:
            refused[index] = [Problem.from_validation(e, f"{prefix}[{index}]")
                              for e in err.errors()]
    return valid, refused


def convert_items(
    gateway: Gateway, valid: Sequence[tuple[int, T]],
    convert: Callable[[int, T], list[PlaybackEvent]], locate: Callable[[int, T], Locate],
    refused: dict[int, list[Problem]],
) -> list[Admitted]:
    """Map valid items to canonical events; a refusal (EventRejected) refuses just that item."""
    events: list[Admitted] = []
    for index, item in valid:
        try:
            events.extend(gateway.admit_events(convert(index, item), locate(index, item)))
        except EventRejected as err:
            refused.setdefault(index, []).extend(Problem.all_of(err))
    return events


def answer(accepted: int, refused: dict[int, list[Problem]]) -> BatchAnswer:
    return BatchAnswer(accepted=accepted, rejected=[
        RefusedEvent(index=i, problems=[p.as_dict() for p in problems])
        for i, problems in sorted(refused.items())])


def refuse_oversized(gateway: Gateway, dialect: str, count: int, limit: int, reason: str,
                     message: str) -> None:
    """More than ``limit`` events is refused whole (413) before any is looked at."""
    if count > limit:
        problem = Problem("events", reason, message)
        gateway.reject(dialect, [problem])
        raise Rejected([problem], status=413)


def convert_whole(gateway: Gateway, dialect: str, convert: Callable[[], list[PlaybackEvent]],
                  locate: Locate) -> list[Admitted]:
    """A request accepted or refused whole: its conversion's refusal refuses it (422)."""
    try:
        return gateway.admit_events(convert(), locate)
    except EventRejected as err:
        problems = Problem.all_of(err)
        gateway.reject(dialect, problems)
        raise Rejected(problems) from err


async def publish_each(gateway: Gateway, dialect: str, adapter: TypeAdapter[T],
                       items: Sequence[Any], convert: Callable[[int, T], list[PlaybackEvent]],
                       locate: Callable[[int, T], Locate]) -> BatchAnswer:
    """Validate and convert each item alone, publish the good ones, name the bad ones."""
    valid, refused = validate_items(adapter, items, "events")
    events = convert_items(gateway, valid, convert, locate, refused)
    problems = [problem for found in refused.values() for problem in found]
    gateway.reject(dialect, problems)
    if not events:
        raise Rejected(problems)
    await gateway.publish(dialect, events)
    # Counted in the client's items (one may become several canonical events).
    return answer(len(items) - len(refused), refused)
