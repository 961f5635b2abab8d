"""The complete-through watermark: before which instant no figure can change again (pure).

docs/semantics.md ("Complete through") gives the argument; in short, a row
dated at ``t`` (a session's ``started_at``, an event's day) can still change
only through

* a session that can still change (open, or closed within its lateness
  window): it rewrites rows dated at or after its earliest event;
* an event a worker has not processed yet: the gateway accepted it at most
  ``PLAYHEAD_MAX_EVENT_AGE_SECONDS`` after its timestamp, so it starts or
  changes rows dated at or after ``T - margin``, ``T`` being any instant
  before the event reached its partition.

A worker knows ``T`` for a partition when it handles one of the partition's
tick messages: the tick's stamp was taken before it was appended, so every
record appended before it has been handled. The partition's bound is then
the least of ``T - margin`` and the earliest event of every session of the
partition that can still change, taken per organization.

Sessions are followed without a per-session entry: each change of a session
records its organization's earliest event in a slot of time (the slot of the
processing time it changed at), and a slot is forgotten once no session
recorded in it can still change. A session that can change again changes
(and records itself again) before its slot is forgotten: a closed one is
final ``lateness`` after its close, an open one closes within the idle
timeout of its last event. The slots make the bound late by at most one
slot's width, never early.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

SLOTS = 64  # per horizon: the bound lags the truth by at most horizon / SLOTS


def lag_margin(max_event_age: float, max_future: float, publish_timeout: float
               ) -> float | None:
    """How far before a tick's stamp an event not yet handled may be dated; None: unbounded.

    The gateway refuses events older than ``max_event_age`` by its own clock
    when it receives them, and takes up to ``publish_timeout`` to get an event
    into Kafka; ``max_future``, the skew it tolerates in clients' clocks,
    stands for the difference between its clock and a worker's. With
    ``max_event_age`` 0 any age is accepted and nothing is ever final.
    """
    if max_event_age <= 0:
        return None
    return max_event_age + max_future + publish_timeout


def horizon(lateness: float, idle_timeout: float) -> float:
    """How long after a change a session may still change again without changing first."""
    return max(lateness, idle_timeout)


@dataclass
class _Organization:
    slots: dict[int, float] = field(default_factory=dict)  # slot -> earliest event
    floor: float = math.inf  # min of ``slots``
    oldest: int | None = None  # min slot key


@dataclass
class PendingSessions:
    """Per organization of one partition: the earliest event of its sessions that can change."""

    horizon: float
    _organizations: dict[str, _Organization] = field(default_factory=dict)

    @property
    def width(self) -> float:
        return self.horizon / SLOTS

    def record(self, organization: str, earliest: float, at: float) -> None:
        """A session of ``organization`` changed (or was found open or closed) at ``at``."""
        if math.isinf(earliest):
            return
        slot = math.floor(at / self.width)
        entry = self._organizations.get(organization)
        if entry is None:
            entry = self._organizations[organization] = _Organization()
        known = entry.slots.get(slot)
        if known is None or earliest < known:
            entry.slots[slot] = earliest
        entry.floor = min(entry.floor, earliest)
        if entry.oldest is None or slot < entry.oldest:
            entry.oldest = slot

    def floors(self, now: float) -> dict[str, float]:
        """Organization -> earliest event of its sessions that may still change at ``now``."""
        # Slot k holds changes made before (k + 1) * width, each final by then +
        # horizon: it goes once that is past (the epsilon keeps a rounding from
        # dropping a slot early).
        live_from = math.floor((now - self.horizon) / self.width - 1e-9)
        out: dict[str, float] = {}
        for organization, entry in list(self._organizations.items()):
            if entry.oldest is not None and entry.oldest < live_from:
                entry.slots = {k: v for k, v in entry.slots.items() if k >= live_from}
                entry.floor = min(entry.slots.values(), default=math.inf)
                entry.oldest = min(entry.slots, default=None)
            if not entry.slots:
                del self._organizations[organization]
                continue
            out[organization] = entry.floor
        return out


SHARED = ""  # the organization_id of a partition's bound for organizations without own row


@dataclass(frozen=True, slots=True)
class Bound:
    """One row of ``completeness_bounds``: nothing dated before ``bound`` changes again."""

    partition: int
    partitions: int  # the events topic's partitions, all of which must report
    organization_id: str  # SHARED: every organization without a row of its own
    tick: float  # the tick's stamp: a later tick's row replaces it
    bound: float


def _millis_down(stamp: float) -> float:
    # The warehouse keeps milliseconds; rounding up could claim a row dated inside them.
    return math.floor(stamp * 1000) / 1000


def partition_bounds(partition: int, partitions: int, tick: float, margin: float,
                     floors: dict[str, float]) -> list[Bound]:
    """The rows a handled tick of ``partition`` stamped ``tick`` gives."""
    shared = _millis_down(tick - margin)
    rows = [Bound(partition, partitions, SHARED, tick, shared)]
    for organization, floor in sorted(floors.items()):
        own = _millis_down(min(shared, floor))
        if own < shared:
            rows.append(Bound(partition, partitions, organization, tick, own))
    return rows
