"""What every dialect route shares: policy, access, publishing and accounting."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from fastapi import Request

from ingest.access import AccessDenied, RateLimiter, WriteKeys
from ingest.metrics import GatewayMetrics
from ingest.policy import EventRejected, TimestampPolicy
from playhead.settings import Settings
from processors.events import PlaybackEvent

log = logging.getLogger("playhead.gateway")


class Publisher(Protocol):
    async def publish(self, events: Sequence[PlaybackEvent]) -> None: ...
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


@dataclass
class Gateway:
    settings: Settings
    publisher: Publisher
    clock: Callable[[], float] = time.time
    metrics: GatewayMetrics = field(default_factory=GatewayMetrics)

    def __post_init__(self) -> None:
        self.policy = TimestampPolicy(self.settings.max_future_seconds,
                                      self.settings.max_event_age_seconds)
        self.keys = WriteKeys(dict(self.settings.write_keys))
        self.limiter = RateLimiter(self.settings.rate_limit_per_second,
                                   self.settings.rate_limit_burst)

    @staticmethod
    def write_key(request: Request) -> str | None:
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip()
        return request.headers.get("x-playhead-key") or request.query_params.get("key")

    def admit(self, request: Request) -> None:
        """Rate limit by write key, else by client address (a FastAPI dependency)."""
        caller = self.write_key(request) or (request.client.host if request.client else "?")
        wait = self.limiter.admit(caller, self.clock())
        if wait:
            raise AccessDenied(429, f"rate limit of {self.settings.rate_limit_per_second:g} "
                                    f"requests/s exceeded; retry in {wait:g} s", wait)

    def authorize(self, request: Request, organizations: Iterable[str]) -> None:
        self.keys.check(self.write_key(request), organizations)

    def reject(self, dialect: str, problems: Iterable[Problem]) -> None:
        for problem in problems:
            self.metrics.rejected.labels(dialect, problem.reason).inc()

    async def publish(self, dialect: str, events: Sequence[PlaybackEvent]) -> None:
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

    def problems_from_validation(self, errors: Sequence[Any], prefix: str = "") -> list[Problem]:
        return [Problem(field_path(tuple(e["loc"]), prefix), "invalid", e["msg"]) for e in errors]


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
