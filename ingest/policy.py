"""Rules every dialect applies to every event, as pure functions of time."""

from __future__ import annotations

from dataclasses import dataclass


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

    def apply(self, stamp: float | None, now: float, path: str) -> Stamped:
        if stamp is None:
            return Stamped(now, "missing")
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
