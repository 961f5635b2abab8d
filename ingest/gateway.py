"""What every dialect route shares: policy, access, publishing and accounting."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NewType, Protocol, cast

from fastapi import Request

from control.registry import Registry
from ingest.access import AccessDenied, RateLimiter, WriteKeys
from ingest.dialects.context import DialectContext
from ingest.gateway_config import GatewayConfig
from ingest.metrics import GatewayMetrics
from ingest.policy import EventRejected, Locate, TimestampPolicy
from schemas.bounds import Bounds
from schemas.event import PlaybackEvent

log = logging.getLogger("playhead.gateway")

# A canonical event that passed Bounds.violations (Gateway.admit_events, the one
# place that checks them): the only kind Gateway.publish takes, so a route
# cannot publish an event that skipped the check.
Admitted = NewType("Admitted", PlaybackEvent)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """Input kept for inspection instead of published: the client's own JSON, as sent."""

    key: bytes
    value: bytes
    reason: str
    detail: str
    source: str  # e.g. gateway/omny
    format: str = "application/json"

    def headers(self) -> list[tuple[str, bytes]]:
        return [("playhead-dlq-reason", self.reason.encode()),
                ("playhead-dlq-detail", self.detail.encode("utf-8", "backslashreplace")),
                ("playhead-dlq-source", self.source.encode()),
                ("playhead-dlq-format", self.format.encode())]


class Publisher(Protocol):
    async def publish(self, events: Sequence[PlaybackEvent]) -> None: ...
    async def publish_dead_letters(self, letters: Sequence[DeadLetter]) -> None: ...
    async def close(self) -> None: ...
    async def ready(self) -> bool: ...


@dataclass(frozen=True)
class Problem:
    """Why one event (or the request) was refused, in the answer's shape."""

    path: str
    reason: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "reason": self.reason, "message": self.message}

    @classmethod
    def of(cls, err: EventRejected) -> Problem:
        return cls(err.path, err.reason, str(err))

    @classmethod
    def all_of(cls, err: EventRejected) -> list[Problem]:
        return list(err.problems) if isinstance(err, OutOfBounds) else [cls.of(err)]

    @classmethod
    def from_validation(cls, error: Mapping[str, Any], prefix: str = "") -> Problem:
        """A pydantic error as a problem; bounds stated in a model keep their reason."""
        reason = "out_of_bounds" if error.get("type") == "out_of_bounds" else "invalid"
        return cls(field_path(tuple(error["loc"]), prefix), reason, error["msg"])


class OutOfBounds(EventRejected):
    """Canonical events outside schemas/bounds.py, each field named as the client sent it."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(problems)
        super().__init__(self.problems[0].path, "out_of_bounds",
                         "; ".join(p.message for p in self.problems))


@dataclass
class Gateway:
    config: GatewayConfig
    publisher: Publisher
    clock: Callable[[], float] = time.time
    metrics: GatewayMetrics = field(default_factory=GatewayMetrics)
    # What the control topic says now (keys, disabled organizations, catalogues);
    # create_app keeps it current in the background.
    control: Registry = field(default_factory=Registry)

    def __post_init__(self) -> None:
        self.bounds = Bounds(self.config.max_clip_seconds)
        self.policy = TimestampPolicy(self.config.max_future_seconds,
                                      self.config.max_event_age_seconds)
        self.keys = WriteKeys(dict(self.config.write_keys), self.control)
        self.limiter = RateLimiter(self.config.rate_limit_per_second,
                                   self.config.rate_limit_burst)

    def context(self, organization: str, path: str = "") -> DialectContext:
        """What a dialect converting this request is told: the time is read now."""
        return DialectContext(organization, self.clock(), self.policy, path)

    @staticmethod
    def write_key(request: Request) -> str | None:
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip()
        return request.headers.get("x-playhead-key") or request.query_params.get("key")

    async def admit(self, request: Request) -> None:
        """Rate limit by write key, else by client address (a FastAPI dependency; async,
        so FastAPI calls it in the event loop rather than a worker thread)."""
        caller = self.write_key(request) or (request.client.host if request.client else "?")
        wait = self.limiter.admit(caller, self.clock())
        if wait:
            raise AccessDenied(429, f"rate limit of {self.config.rate_limit_per_second:g} "
                                    f"requests/s exceeded; retry in {wait:g} s", wait)

    def authorize(self, request: Request, organizations: Iterable[str]) -> str | None:
        """The write key's organization when keys are required (401/403 when it may not
        write for ``organizations``); None when the gateway takes writes without keys."""
        return self.keys.check(self.write_key(request), organizations, self.clock())

    def is_disabled(self, organization: str) -> bool:
        return (organization in self.config.disabled_organizations
                or self.control.is_disabled(organization))

    def reject(self, dialect: str, problems: Iterable[Problem]) -> None:
        for problem in problems:
            self.metrics.rejected.labels(dialect, problem.reason).inc()

    def admit_events(self, events: Sequence[PlaybackEvent], locate: Locate) -> list[Admitted]:
        """The events, if every one keeps the bounds; OutOfBounds naming each field otherwise.

        Every route's events pass here before Gateway.publish: a value outside
        a bound would stall the worker, overflow a ClickHouse column or not fit
        in a Kafka message, and retrying cannot fix it, so it is the client's 4xx.
        """
        problems: dict[str, Problem] = {}
        for event in events:
            for violation in self.bounds.violations(event):
                path = locate(event, violation.field)
                problems.setdefault(path, Problem(path, violation.reason,
                                                  f"{path}: {violation.message}"))
        if problems:
            raise OutOfBounds(list(problems.values()))
        return cast(list[Admitted], list(events))

    def admit_plain(self, events: list[PlaybackEvent] | None) -> list[Admitted] | None:
        """The events when each one is plainly within every bound (``admit_events``'s own
        fast check); None otherwise, and the caller takes ``admit_events``'s path, which
        names each field."""
        if events is None or not self.bounds.all_plainly_within(events):
            return None
        return cast(list[Admitted], events)

    async def publish(self, dialect: str, events: Sequence[Admitted]) -> None:
        """Return once Kafka acknowledged every event; PublishUnavailable otherwise."""
        if not events:
            return
        started = time.perf_counter()
        await self.publisher.publish(events)
        elapsed = time.perf_counter() - started
        self.metrics.produce_seconds.observe(elapsed)
        self.metrics.accepted.labels(dialect).inc(len(events))
        log.debug("accepted", extra={"dialect": dialect, "events": len(events),
                                    "produce_ms": round(elapsed * 1000, 2)})

    async def publish_with_dead_letters(self, dialect: str, events: Sequence[Admitted],
                                        letters: Sequence[DeadLetter]) -> None:
        """Publish events and dead letters; return once Kafka acknowledged all of them."""
        if not letters:  # the common case: no task per request for what is not there
            await self.publish(dialect, events)
            return
        await asyncio.gather(self.publish(dialect, events),
                             self.publisher.publish_dead_letters(letters))
        for letter in letters:
            self.metrics.dead_letters.labels(dialect, letter.reason).inc()


def field_path(location: tuple[Any, ...], prefix: str = "") -> str:
    """('body', 'Events', 0, 'Position') -> 'Events[0].Position'."""
    path = prefix
    for part in location:
        if part == "body":
            continue
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "body"
