"""Rules every dialect applies to every event, as pure functions of time."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from schemas.bounds import MAX_TIMESTAMP, MIN_TIMESTAMP, timestamp_violation
from schemas.event import PlaybackEvent

# Where a canonical field of an event came from in the client's request, so a
# bound it breaks is named as sent: (event, "position_seconds") -> "Events[2].Position".
Locate = Callable[[PlaybackEvent, str], str]


class EventRejected(ValueError):
    """One event cannot be accepted; ``reason`` is a short machine-readable word."""

    def __init__(self, path: str, reason: str, message: str):
        self.path = path
        self.reason = reason
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class Stamped:
    timestamp: float
    adjusted: str | None  # why the server replaced the client's time, if it did


@dataclass(frozen=True, slots=True)
class TimestampPolicy:
    max_future_seconds: float = 300.0
    max_age_seconds: float = 86_400.0  # 0 accepts any age

    def keeps(self, stamp: float, now: float) -> bool:
        """Whether ``apply`` would take ``stamp`` as it is (no refusal, no adjustment):
        the hot path's check, without building a path for a problem it will not name."""
        return (MIN_TIMESTAMP <= stamp < MAX_TIMESTAMP and stamp <= now + self.max_future_seconds
                and (not self.max_age_seconds or stamp >= now - self.max_age_seconds))

    def apply(self, stamp: float | None, now: float, path: str) -> Stamped:
        if stamp is None:
            return Stamped(now, "missing")
        # Checked before the future rule replaces it: a client time in the year
        # 30,000 is not a clock running ahead, and the dialects derive sequence
        # numbers from the client's time, which must stay representable too.
        outside = timestamp_violation(path, stamp)
        if outside is not None:
            raise EventRejected(path, outside.reason, outside.message)
        if stamp > now + self.max_future_seconds:
            # A client clock running ahead: keep the event, trust the server's time.
            return Stamped(now, "future")
        if self.max_age_seconds and stamp < now - self.max_age_seconds:
            hours = (now - stamp) / 3600
            raise EventRejected(
                path, "too_old",
                f"{path}: event is {hours:.1f} h old; events older than "
                f"{self.max_age_seconds / 3600:g} h are not accepted "
                "(PLAYHEAD_MAX_EVENT_AGE_SECONDS)")
        return Stamped(stamp, None)


def fields_at(prefix: str, names: Mapping[str, str]) -> Locate:
    """A Locate for items whose canonical fields each come from one field of the item.

    ``names`` maps canonical names to the dialect's (``position_seconds`` ->
    ``Position``); ``attributes.<key>`` follows ``attributes``. A field not in
    ``names`` keeps its canonical name, so a problem still names the item.
    """
    def locate(_: PlaybackEvent, canonical: str) -> str:
        head, dot, rest = canonical.partition(".")
        name = names[head] + dot + rest if head in names else canonical
        return f"{prefix}.{name}" if prefix and name else prefix or name
    return locate
