"""Which stored sessions an erasure removes from a worker's state (pure).

Erasure records (control/records.py, ``ErasureRecord``) come from the control
topic. A stored session goes when its state key digests, under a record's
salt, to one of the record's digests and its state was last changed before
the record was issued: the state then holds the subject's events as they
were when the warehouse rows were deleted. A session the subject starts
afterwards under the same key (a music-clips day session, say) is new data
and stays; docs/semantics.md, "Erasure", says why.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable

from control.records import ErasureRecord, state_key_digest

# Per organization, newest first: (issued at, salt, digests).
Index = dict[str, list[tuple[float, str, frozenset[str]]]]


class ErasedSessions:
    """The erasures a worker knows, asked per stored session it is about to use.

    ``version`` changes whenever ``records`` may have (the control registry's
    version), so the index is rebuilt only then. A record older than
    ``horizon_seconds`` is not asked: a state last changed before it is past
    its lateness window and its tombstone's time, so the sweep has removed it.
    """

    def __init__(self, records: Callable[[], Iterable[ErasureRecord]] = tuple,
                 version: Callable[[], int] = lambda: 0,
                 horizon_seconds: float = math.inf,
                 clock: Callable[[], float] = time.time):
        self._records, self._version = records, version
        self._horizon, self._clock = horizon_seconds, clock
        self._seen: int | None = None
        self._index: Index = {}

    def _current(self) -> Index:
        version = self._version()
        if version != self._seen:
            index: Index = {}
            for record in self._records():
                index.setdefault(record.organization, []).append(
                    (record.issued_at, record.salt, frozenset(record.digests)))
            for entries in index.values():
                entries.sort(key=lambda entry: entry[0], reverse=True)
            self._index, self._seen = index, version
        return self._index

    def covers(self, key: str, changed_at: float) -> bool:
        """Whether the stored state of ``key``, last changed at ``changed_at``, is erased."""
        entries = self._current().get(key.partition("/")[0])
        if not entries:
            return False
        floor = self._clock() - self._horizon
        for issued_at, salt, digests in entries:
            # Newest first: once a record predates the change (or the horizon), all do.
            if issued_at <= changed_at or issued_at < floor:
                return False
            if state_key_digest(salt, key) in digests:
                return True
        return False
