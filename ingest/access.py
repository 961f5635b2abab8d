"""Who may write what, and how fast: write keys and rate limits (pure)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from control.credentials import Kind
from control.registry import Registry


class AccessDenied(Exception):
    def __init__(self, status: int, message: str, retry_after: float | None = None):
        self.status = status
        self.retry_after = retry_after
        super().__init__(message)


@dataclass(frozen=True)
class WriteKeys:
    """Write keys: from the settings (key -> organization) and from the control topic.

    Once any key exists, in either place, every write needs one, and a key
    writes only its own organization.
    """

    keys: Mapping[str, str] = field(default_factory=dict)
    control: Registry = field(default_factory=Registry)

    @property
    def required(self) -> bool:
        return bool(self.keys) or self.control.has_keys(Kind.WRITE)

    def owner(self, key: str | None, now: float) -> str:
        """The organization ``key`` writes for; AccessDenied (401) saying why not."""
        if not key:
            raise AccessDenied(401, "a write key is required: send it as 'Authorization: "
                                    "Bearer <key>', the X-Playhead-Key header or ?key=")
        owner = self.keys.get(key)
        if owner is not None:
            return owner
        verdict = self.control.verify(key, Kind.WRITE, now)
        if verdict.credential is None:
            raise AccessDenied(401, f"write key refused: {verdict.refusal}")
        return verdict.credential.organization

    def check(self, key: str | None, organizations: Iterable[str], now: float) -> str | None:
        """The key's organization, when keys are required; 403 for another organization's."""
        if not self.required:
            return None
        owner = self.owner(key, now)
        foreign = sorted(set(organizations) - {owner})
        if foreign:
            raise AccessDenied(403, f"this write key belongs to organization {owner} and "
                                    f"cannot write for {', '.join(foreign)}")
        return owner


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
