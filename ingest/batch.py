"""How every route turns a dialect's input into published events: whole, or item by item.

Policy (documented in docs/gateway.md): a request taken whole is refused
whole (422) by any of its problems. The valid items of a batch are accepted
and published; the answer lists every refused item by index with its
problems, and a batch in which nothing is valid is refused whole (422).
Every conversion here goes through Gateway.admit_events, so every published
event kept the bounds of schemas/bounds.py; in a batch, one outside them
refuses its item only. Routes hand the dialect over as a ``Dialect``
(ingest/dialects/context.py) and never call its conversion themselves.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from ingest.dialects.context import Dialect, DialectContext
from ingest.gateway import Admitted, Gateway, Problem
from ingest.policy import EventRejected
from ingest.rejections import Rejected

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
    return validate_indexed(adapter, enumerate(items), prefix)


def validate_indexed(
    adapter: TypeAdapter[T], items: Iterable[tuple[int, Any]], prefix: str
) -> tuple[list[tuple[int, T]], dict[int, list[Problem]]]:
    """validate_items for items that keep their index in a larger array."""
    valid: list[tuple[int, T]] = []
    refused: dict[int, list[Problem]] = {}
    for index, item in items:
        try:
            valid.append((index, adapter.validate_python(item)))
        except ValidationError as err:
            refused[index] = [Problem.from_validation(e, f"{prefix}[{index}]")
                              for e in err.errors()]
    return valid, refused


def convert_items(
    gateway: Gateway, dialect: Dialect[T], valid: Sequence[tuple[int, T]],
    context: DialectContext, refused: dict[int, list[Problem]],
) -> list[Admitted]:
    """Map valid items to canonical events; a refusal (EventRejected) refuses just that item.

    ``context.path`` names the array (``events``); each item is converted in
    its own context, ``events[<index>]``.
    """
    events: list[Admitted] = []
    for index, item in valid:
        at = context.item(index)
        try:
            events.extend(gateway.admit_events(dialect.to_events(item, at),
                                               dialect.locate(item, at.path)))
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


def convert_whole(gateway: Gateway, dialect: Dialect[T], body: T,
                  context: DialectContext) -> list[Admitted]:
    """A request accepted or refused whole: its conversion's refusal refuses it (422)."""
    try:
        return gateway.admit_events(dialect.to_events(body, context),
                                    dialect.locate(body, context.path))
    except EventRejected as err:
        problems = Problem.all_of(err)
        gateway.reject(dialect.name, problems)
        raise Rejected(problems) from err


async def publish_whole(gateway: Gateway, dialect: Dialect[T], body: T,
                        context: DialectContext) -> None:
    """Convert a request whole and return once Kafka acknowledged its events."""
    await gateway.publish(dialect.name, convert_whole(gateway, dialect, body, context))


def judge_each(gateway: Gateway, dialect: Dialect[T], adapter: TypeAdapter[T],
               items: Iterable[tuple[int, Any]], context: DialectContext,
               ) -> tuple[list[Admitted], dict[int, list[Problem]]]:
    """Validate and convert each item alone: the events of the good, the problems of the bad.

    The problems are counted as refused; publishing is the caller's.
    """
    valid, refused = validate_indexed(adapter, items, context.path)
    events = convert_items(gateway, dialect, valid, context, refused)
    gateway.reject(dialect.name, [problem for found in refused.values() for problem in found])
    return events, refused


async def publish_each(gateway: Gateway, dialect: Dialect[T], adapter: TypeAdapter[T],
                       items: Sequence[Any], context: DialectContext) -> BatchAnswer:
    """Validate and convert each item alone, publish the good ones, name the bad ones.

    A batch with nothing valid in it is refused whole (422).
    """
    events, refused = judge_each(gateway, dialect, adapter, enumerate(items), context)
    if not events:
        raise Rejected([problem for found in refused.values() for problem in found])
    await gateway.publish(dialect.name, events)
    # Counted in the client's items (one may become several canonical events).
    return answer(len(items) - len(refused), refused)
