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

from collections.abc import Callable, Iterable

from control.records import ErasureRecord, state_key_digest


class ErasedSessions:
    """The erasures a worker knows, asked per stored session it is about to use."""

    def __init__(self, records: Callable[[], Iterable[ErasureRecord]] = tuple):
        self._records = records
        self._sets: dict[str, frozenset[str]] = {}  # per request: its digests, for lookups

    def covers(self, key: str, changed_at: float) -> bool:
        """Whether the stored state of ``key``, last changed at ``changed_at``, is erased."""
        organization = key.partition("/")[0]
        for record in self._records():
            # Only the organization's own records: one digest per record asked.
            if record.organization != organization or changed_at >= record.issued_at:
                continue
            digests = self._sets.get(record.request_id)
            if digests is None:
                digests = self._sets[record.request_id] = frozenset(record.digests)
            if state_key_digest(record.salt, key) in digests:
                return True
        return False


NOTHING_ERASED = ErasedSessions()
