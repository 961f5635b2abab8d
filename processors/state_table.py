"""The worker's session state in Faust's table: the only code that touches Faust's private API.

Faust keeps a table per partition in RocksDB with a changelog topic. The
worker needs three things Faust does not offer publicly: to bind a change to
its key's partition inside a batch, to scan a partition's stored sessions
(index rebuilds and the sweep), and to wait until table changes have left
Faust's producer buffer. All three live here, with the per-partition
open-session indexes built from the scans.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Iterable
from typing import Any

import faust
from faust.streams import _current_event

from processors import state_codec
from processors.batch import Change, open_entries
from processors.completeness import PendingSessions, horizon
from processors.erasures import ErasedSessions
from processors.faust_records import Record
from processors.faust_transport import BulkProducerBuffer
from processors.held_writes import ABSENT, HeldWrites, Staged
from processors.open_index import OpenSessions
from processors.session import Rules
from processors.state_store import BoundedRocksDBOptions
from processors.table_batch import ChangelogBatch, write_batch

STATE_TABLE = "session_state"

# The changelog is compacted (Faust's default); these bound how long a
# superseded or deleted session (an erased one) stays in it: a segment closes
# within a day and is compacted within a day of that, and a deletion's own
# tombstone goes a day later (docs/operations/erasure.md). Applied when Faust
# creates the topic; an existing one keeps its configuration.
DAY_MS = str(24 * 3600 * 1000)
CHANGELOG_CONFIG = {"segment.ms": DAY_MS, "max.compaction.lag.ms": DAY_MS,
                    "delete.retention.ms": DAY_MS}


class _Current:
    # What Faust's table and store read of the event being processed: its
    # record (``message``: partition and topic).
    __slots__ = ("message", "__weakref__")

    def __init__(self, record: Record):
        self.message = record


class _Processing:
    # Faust writes a table change to the changelog partition of the event
    # being processed. In a batch, that is the batch's last record, not the
    # record that changed the key, so bind one of the key's partition.
    def __init__(self, record: Record):
        self._current = _Current(record)  # held here: Faust keeps a weak reference
        self._ref = weakref.ref(self._current)

    def __enter__(self) -> None:
        # Faust types the variable as holding events; its table reads ``message`` only.
        self._token = _current_event.set(self._ref)  # type: ignore[arg-type]

    def __exit__(self, *_: object) -> None:
        _current_event.reset(self._token)


class StateTable:
    def __init__(self, app: faust.App, partitions: int, memory_mib: int, sweep_batch: int,
                 watermark_rules: Rules | None = None,
                 clock: Callable[[], float] = time.time,
                 erased: ErasedSessions | None = None):
        # bytes types make Faust store keys as UTF-8 and values (state_codec) as they are.
        self.table = app.Table(STATE_TABLE, default=None, partitions=partitions,
                               options={"driver": "rocksdict"}, key_type=bytes,
                               value_type=bytes, extra_topic_configs=CHANGELOG_CONFIG)
        # Partition databases open later, on assignment, with these options.
        self.options = BoundedRocksDBOptions(memory_mib)
        store: Any = self.table.data  # Faust's RocksDB store, used through its private API
        store.rocksdb_options = self.options
        self._store = store
        self._app = app
        self._sweep_batch = sweep_batch
        self._sweep_from: dict[int, bytes | None] = {}
        self._indexes: dict[int, OpenSessions] = {}
        # With a watermark: per partition, the sessions that can still change.
        self._rules = watermark_rules
        self._clock = clock
        self._pending: dict[int, PendingSessions] = {}
        # Per partition, erased sessions the sweep found: dropped with the next
        # change of that partition (a deletion needs an event of its partition).
        self._erased_found: dict[int, set[str]] = {}
        # The erasures the worker follows on the control topic (playhead/worker.py).
        self._erased = erased or ErasedSessions()
        # Batches' writes not stored yet (held_writes.py).
        self._held = HeldWrites()

    def begin(self) -> None:
        """A batch starts: its writes are held (``stage``) until ``commit``."""
        self._held.begin()

    def stage(self, changes: Iterable[Change]) -> Staged:
        """The batch's changes join its held writes, which it returns: stored by
        ``commit`` once its rows are written."""
        for change in changes:
            # Before the change: a found key may be the one changed (then it was
            # loaded, which already decided about it, and is no longer found).
            self._drop_found(change.token)
            self._pop_or_hold(change.token, change.key, change.value)
        return self._held.close()

    def commit(self, staged: Staged) -> None:
        """A batch's held writes to the table, in the order batches were taken:
        in one RocksDB write batch per partition, their changelog records in the
        producer buffer as one item (table_batch.py)."""
        writes = self._held.take(staged)
        buffer = self._app.producer.buffer
        if not isinstance(buffer, BulkProducerBuffer) or self._app.in_transaction:
            # Faust's path, change by change (the worker never takes it).
            for token, key, value in writes:
                self._write_through_faust(token, key, value)
            return
        table: Any = self.table
        verified = table._verified_source_topics_for_partitions
        for topic in {token.topic for token, _, _ in writes}:
            if topic not in verified:
                # Faust's check that the events topic has the changelog's
                # partitions, made on a table's first change from a topic.
                table._verify_source_topic_partitions(topic)
        records = write_batch(self._store, writes)
        if records:
            buffer.put(ChangelogBatch(self.table, records))  # type: ignore[arg-type]

    def abandon(self) -> None:
        """Held writes dropped (their batches were never acknowledged: they come again)."""
        self._held.clear()
        self.forget_indexes()  # they hold those batches' sessions too

    def _pop_or_hold(self, token: Any, key: str, value: bytes | None = None) -> None:
        if self._held.open is not None:
            self._held.open.put(token, key, value)
            return
        self._write_through_faust(token, key, value)

    def _write_through_faust(self, token: Any, key: str, value: bytes | None) -> None:
        with _Processing(token):
            if value is None:
                self.table.pop(key, None)
            else:
                self.table[key] = value

    def load(self, key: str, token: Any) -> bytes | None:
        value: Any = self._held.read(key)
        if value is ABSENT:
            value = self._stored(key, token)
        for found in self._erased_found.values():
            found.discard(key)  # decided here, now: a sweep's finding is stale
        self._drop_found(token)  # a token of this partition: drop what a sweep found
        if value is not None and self._is_erased(key, bytes(value)):
            # Gone from RocksDB and, by a tombstone, from the changelog: the
            # session starts afresh as if never seen (docs/operations/erasure.md).
            self._pop_or_hold(token, key)
            return None
        return bytes(value) if value is not None else None

    def _stored(self, key: str, token: Any) -> bytes | None:
        # What ``self.table.get(key)`` returns with the token as Faust's current
        # event: Store._get reads the token's partition database and notes a
        # found key's partition. Faust's way asks the database twice (``get``
        # asks ``__contains__`` first), serializes the key twice and calls the
        # table sensors: a tenth of a busy worker's main thread, measured.
        raw = key.encode()  # Faust's raw key serializer (table_batch writes them so)
        partition: int = token.partition
        value: bytes | None = self._store._db_for_partition(partition).get(raw)
        if value is not None:
            self._store._key_index[raw] = partition
        return value

    def _is_erased(self, key: str, raw: bytes) -> bool:
        header = state_codec.peek(raw)
        return self._erased.covers(key, max(header.last_activity, header.closed_at))

    def store(self, changes: Iterable[Change]) -> None:
        """Changes stored at once (no batch held)."""
        if self._held.open is None:
            self.begin()
        self.commit(self.stage(changes))

    def _drop_found(self, token: Any) -> None:
        partition = getattr(token, "partition", None)
        found = self._erased_found.pop(partition, None) if partition is not None else None
        for key in found or ():
            self._pop_or_hold(token, key)

    async def changelog_handed_over(self) -> None:
        # Table changes wait in Faust's producer buffer. Faust flushes it before
        # committing offsets, but its flush gives up as soon as one message
        # takes over 0.1 s to hand over (a rebalance, a slow broker) and the
        # commit goes ahead: a worker stopped or killed then loses state
        # changes of events whose offsets are committed. So the batch is only
        # acknowledged once every change is with the Kafka client, whose own
        # flush (before the commit) waits for delivery.
        buffer = self._app.producer.buffer
        if isinstance(buffer, BulkProducerBuffer):
            # Also waits for the change its task is handing over right now.
            await buffer.handed_over()
            return
        while buffer.size:
            await buffer.flush_atmost(buffer.size)

    def _db(self, partition: int) -> Any:
        return self._store._db_for_partition(partition)

    def index(self, partition: int) -> OpenSessions:
        """The partition's open sessions, built from its stored sessions on first use
        after an assignment (its recovery from the changelog is done by then)."""
        if partition not in self._indexes:
            # Only ever built with no writes of this partition held: the batch
            # that first touches a partition builds it before its own writes,
            # and indexes are forgotten only once held batches are stored.
            items = self._store._visible_items(self._db(partition))
            rules = self._rules
            pending = (PendingSessions(horizon(rules.lateness_seconds,
                                               rules.idle_timeout_seconds))
                       if rules is not None else None)
            self._indexes[partition] = OpenSessions(open_entries(
                ((key.decode(), value) for key, value in items), pending, self._clock(), rules))
            if pending is not None:
                self._pending[partition] = pending
        return self._indexes[partition]

    def pending(self, partition: int) -> PendingSessions | None:
        """The partition's sessions that can still change (None without a watermark)."""
        self.index(partition)
        return self._pending.get(partition)

    def forget_indexes(self) -> None:
        """After a rebalance: another worker may have changed these partitions meanwhile."""
        self._indexes.clear()
        self._pending.clear()
        self._sweep_from.clear()

    def open_sessions(self) -> int:
        return sum(len(index) for index in list(self._indexes.values()))

    def memory(self) -> dict[str, int]:
        return self.options.memory(list(self._store._dbs.values()))

    def sweep_slice(self, partition: int) -> list[tuple[str, bytes]]:
        """The next ``sweep_batch`` stored entries of a partition, wrapping around."""
        it = self._db(partition).iter()
        cursor = self._sweep_from.get(partition)
        if cursor is None:
            it.seek_to_first()
        else:
            it.seek(cursor)
            if it.valid() and it.key() == cursor:
                it.next()
        offset_key = self._store.offset_key
        out: list[tuple[str, bytes]] = []
        while it.valid() and len(out) < self._sweep_batch:
            key = it.key()
            if key != offset_key:
                text, raw = key.decode(), it.value()
                held = self._held.read(text)
                if held is not ABSENT:
                    # Held writes stand for what the table will hold: a deleted
                    # one is skipped as a deletion stored already would be.
                    if held is None:
                        it.next()
                        continue
                    assert isinstance(held, bytes)
                    raw = held
                if self._is_erased(text, raw):
                    self._erased_found.setdefault(partition, set()).add(text)
                else:
                    out.append((text, raw))
            it.next()
        self._sweep_from[partition] = it.key() if it.valid() else None
        return out
