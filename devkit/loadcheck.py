"""What a load run must find in ClickHouse, and what it found.

The expectation is computed by the pure core over the events that were
acknowledged, so "zero loss" means: every acknowledged session is in the
``sessions`` view with its exact duration, and the ``consumption_by_bucket``
curve sums to exactly the listeners and listens those sessions contribute.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from clickhouse_connect.driver.client import Client

from processors.session import Rules, summarize
from schemas.event import PlaybackEvent


@dataclass(frozen=True)
class Figures:
    sessions: int
    kept: int
    duration_seconds: float
    listeners: int  # sum over buckets of distinct sessions
    listens: int  # sum over buckets of intervals

    def matches(self, other: Figures) -> bool:
        # Durations are sums of doubles on both sides: equal to the millisecond.
        return (self.sessions, self.kept, self.listeners, self.listens) == (
            other.sessions, other.kept, other.listeners, other.listens) and abs(
            self.duration_seconds - other.duration_seconds) < 1e-3 * max(1, self.sessions)


@dataclass
class Expected:
    organization: str
    # session id -> (kept, duration, listeners, listens): a retried session counts once.
    sessions: dict[str, tuple[bool, float, int, int]] = field(default_factory=dict)

    def add(self, events: Iterable[PlaybackEvent], rules: Rules) -> None:
        result = summarize(events, rules)
        buckets = result.buckets
        self.sessions[result.session_id] = (result.kept, result.duration_seconds,
                                            len(buckets), sum(buckets.values()))

    def figures(self) -> Figures:
        rows = self.sessions.values()
        return Figures(len(rows), sum(1 for r in rows if r[0]),
                       round(sum(r[1] for r in rows), 6),
                       sum(r[2] for r in rows), sum(r[3] for r in rows))


def counted(client: Client, database: str, organization: str) -> Figures:
    """What the analysts' views hold for one organization."""
    params = {"org": organization}
    sessions, kept, duration = client.query(
        f"SELECT count(), sum(kept), sum(duration_seconds) FROM {database}.sessions "
        "WHERE organization_id = {org:String}", parameters=params).result_rows[0]
    listeners, listens = client.query(
        f"SELECT sum(listeners), sum(listens) FROM {database}.consumption_by_bucket "
        "WHERE organization_id = {org:String}", parameters=params).result_rows[0]
    return Figures(int(sessions), int(kept or 0), round(float(duration or 0), 6),
                   int(listeners or 0), int(listens or 0))


def wait_for(client: Client, database: str, expected: Expected,
             timeout: float = 120.0) -> tuple[Figures, float]:
    """Poll until the views match (or ``timeout``); the last figures and seconds waited."""
    want = expected.figures()
    started = time.monotonic()
    while True:
        found = counted(client, database, expected.organization)
        waited = time.monotonic() - started
        if found.matches(want) or waited > timeout:
            return found, waited
        time.sleep(1.0)
