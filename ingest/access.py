"""Who may write what, and how fast: write keys and rate limits (pure)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field


class AccessDenied(Exception):
    def __init__(self, status: int, message: str, retry_after: float | None = None):
        self.status = status
        self.retry_after = retry_after
        super().__init__(message)


@dataclass(frozen=True)
class WriteKeys:
    """Optional per-organization write keys: key -> the one organization it may write."""

    keys: Mapping[str, str] = field(default_factory=dict)

    @property
    def required(self) -> bool:
        return bool(self.keys)

    def check(self, key: str | None, organizations: Iterable[str]) -> None:
        if not self.required:
            return
        if not key:
            raise AccessDenied(401, "a write key is required: send it as 'Authorization: "
                                    "Bearer <key>', the X-Playhead-Key header or ?key=")
        owner = self.keys.get(key)
        if owner is None:
            raise AccessDenied(401, "unknown write key")
        foreign = sorted(set(organizations) - {owner})
        if foreign:
            raise AccessDenied(403, f"this write key belongs to organization {owner} and "
                                    f"cannot write for {', '.join(foreign)}")


@dataclass
class RateLimiter:
    """A token bucket per caller: ``rate`` requests per second, bursts up to ``burst``."""

    rate: float
    burst: int
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)  # tokens, time

    def admit(self, caller: str, now: float) -> float:
        """0 if admitted, else the seconds to wait before the next try."""
        if self.rate <= 0:
            return 0.0
        tokens, then = self._buckets.get(caller, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - then) * self.rate)
        if tokens >= 1.0:
            self._buckets[caller] = (tokens - 1.0, now)
            return 0.0
        self._buckets[caller] = (tokens, now)
        if len(self._buckets) > 100_000:  # forget idle callers rather than grow forever
            self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < 60}
        return math.ceil((1.0 - tokens) / self.rate * 1000) / 1000
