"""The one interface every dialect module offers, and what a conversion is told.

A dialect module converts what its clients send with
``to_events(body, context) -> list[PlaybackEvent]`` and says where each
canonical field came from with ``locate(body, path) -> Locate``. ``body`` is
the dialect's own validated input (a model, or a small dataclass when the
request carries more than its JSON, such as a path parameter); ``context``
is everything else the conversion depends on. docs/gateway.md, "Adding a
dialect".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from ingest.policy import Locate, Stamped, TimestampPolicy
from schemas.event import PlaybackEvent

Body = TypeVar("Body")

# Converting outside a request (replaying dead letters, tests) must not refuse
# history, so without a policy of its own a conversion accepts any age.
ANY_AGE = TimestampPolicy(max_age_seconds=0)


@dataclass(frozen=True, slots=True)
class DialectContext:
    """Who sent the body, when it arrived, the time rules, and where the body sits.

    ``path`` is how problems name the body inside the request: ``""`` for a
    whole request, ``events[3]`` for one item of a batch.
    """

    organization: str
    received_at: float
    policy: TimestampPolicy = ANY_AGE
    path: str = ""

    def at(self, name: str) -> str:
        """The path of one of the body's fields: ``events[3].timestamp``."""
        return f"{self.path}.{name}" if self.path else name

    def item(self, index: int) -> DialectContext:
        """The context of the body's ``index``-th item, named ``<path>[index]``."""
        return dataclasses.replace(self, path=f"{self.path}[{index}]")

    def stamp(self, stamp: float | None, name: str) -> Stamped:
        """The client's time ``stamp`` (field ``name``) under the policy."""
        return self.policy.apply(stamp, self.received_at, self.at(name))


# The two functions of a dialect module, as the routes' helpers take them.
Convert = Callable[[Body, DialectContext], list[PlaybackEvent]]
LocateIn = Callable[[Body, str], Locate]


@dataclass(frozen=True, slots=True)
class Dialect(Generic[Body]):
    """A dialect module's name and its two functions, as a route hands them to ingest/batch.py."""

    name: str
    to_events: Convert[Body]
    locate: LocateIn[Body]
