"""A batch's table changes stored as Faust would store them, without its per-change layers.

Faust stores a table change one key at a time: ``Table.__setitem__`` puts it
in the partition's RocksDB database, then ``send_changelog`` wraps it in a
``PendingMessage`` and a ``FutureMessage``, queues it in the producer buffer,
and its ``publish_message`` hands it to aiokafka with sensors and two done
callbacks, the last of which (``_on_changelog_sent``) writes the delivered
offset into RocksDB as the partition's persisted changelog offset. That is
most of the cost of a change; the work it has to do is the RocksDB write,
one changelog record in the key's partition, and the persisted offset.

Here a batch's changes are written to each partition's database in one
RocksDB write batch, and its changelog records go into Faust's producer
buffer as one item (``ChangelogBatch``), which the buffer's task hands to
aiokafka in order, exactly where Faust's own messages would have been: the
buffer stays the one queue of table changes, ``changelog_handed_over`` and
Faust's flush before a commit wait for them as before. The persisted offset
is set once per partition, when the partition's last record of the batch is
delivered: the value Faust's callbacks leave after the same records.

What is stored is what Faust stores: the same keys and values in the same
databases, the same changelog records (key, value or tombstone, partition,
headers), a deletion of an absent key writes nothing, as ``table.pop(key,
None)`` does not. Recovery (``Store.apply_changelog_batch``) and standbys read
that changelog as before. tests/processors/test_table_batch.py compares both
paths and recovers a table from the records written here. Left out: the
sensors' table and send hooks (the worker's monitor ignores them,
faust_monitor.py) and the app's ``on_produce_message`` signal (nothing in the
worker connects to it).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from functools import partial
from typing import Any

import rocksdict
from faust.types import TP

logger = logging.getLogger(__name__)

Record = tuple[int, bytes, bytes | None]  # changelog partition, key, value (None: a tombstone)


def write_batch(store: Any, writes: Iterable[tuple[Any, str, bytes | None]]) -> list[Record]:
    """Writes (token, key, value) into ``store``'s partition databases, in one RocksDB
    write batch per partition; returns their changelog records, in order.

    The partition is the token's (the record that changed the key), as Faust's
    table takes it from the current event. A deletion of a key neither stored
    nor written earlier in ``writes`` writes nothing and sends no tombstone.
    """
    batches: dict[int, Any] = {}
    present: dict[bytes, bool] = {}  # keys written so far: whether they now exist
    key_index = store._key_index
    records: list[Record] = []
    for token, key, value in writes:
        partition: int = token.partition
        raw = key.encode()
        if value is None:
            exists = present.get(raw)
            if exists is None:
                exists = store._db_for_partition(partition).get(raw) is not None
            if not exists:
                continue
        batch = batches.get(partition)
        if batch is None:
            batch = batches[partition] = rocksdict.WriteBatch(raw_mode=True)
        if value is None:
            batch.delete(raw)
        else:
            batch.put(raw, value)
        present[raw] = value is not None
        key_index[raw] = partition  # as Faust's Store._set (and _get, before a deletion)
        records.append((partition, raw, value))
    for partition, batch in batches.items():
        store._db_for_partition(partition).write(batch)
    return records


class ChangelogBatch:
    """A batch's changelog records as one item of Faust's producer buffer.

    The buffer's task calls ``fut.message.channel.publish_message(fut)`` for
    each item; here item, message and channel are this object.
    """

    def __init__(self, table: Any, records: list[Record]):
        self.message = self
        self.channel = self
        self._table = table
        self._records = records

    async def publish_message(self, fut: Any, wait: bool = False) -> None:
        table = self._table
        producer: Any = await table.app.maybe_start_producer()
        kafka = producer._ensure_producer()
        topic = table.changelog_topic.get_topic_name()
        # What Faust's Topic.publish_message and Producer.send pass for a change: no
        # headers (record batches are Kafka 0.11's, which takes them).
        headers: list[tuple[str, bytes]] = []
        # Each partition's records go to aiokafka as record batches of its own
        # size limit, not one ``send`` apiece: a send is a coroutine, a future and
        # the accumulator's bookkeeping per record, about a twentieth of the
        # worker's main thread when every session of a batch changes. A
        # partition's records keep their order; aiokafka queues a batch behind
        # the partition's unsent ones.
        filling: dict[int, tuple[Any, int]] = {}  # partition: builder, records in it
        last: dict[int, tuple[Any, int]] = {}  # partition: delivery, its records
        for partition, key, value in self._records:
            builder, count = filling.pop(partition, (None, 0))
            if builder is not None and builder.append(
                    timestamp=None, key=key, value=value, headers=headers) is None:
                # Full: sent, and the record starts the next one.
                last[partition] = (await kafka.send_batch(builder, topic, partition=partition),
                                   count)
                builder = None
            if builder is None:
                builder, count = kafka.create_batch(), 0
                if builder.append(timestamp=None, key=key, value=value,
                                  headers=headers) is None:
                    # Larger than a batch: aiokafka's send sizes its own for it.
                    last[partition] = (await kafka.send(topic, value, key=key,
                                                        partition=partition,
                                                        headers=headers), 1)
                    continue
            filling[partition] = (builder, count + 1)
        for partition, (builder, count) in filling.items():
            last[partition] = (await kafka.send_batch(builder, topic, partition=partition),
                               count)
        for partition, (delivery, count) in last.items():
            delivery.add_done_callback(partial(self._delivered, topic, partition, count))

    def _delivered(self, topic: str, partition: int, count: int, delivery: Any) -> None:
        if delivery.cancelled() or delivery.exception() is not None:
            # As Faust's _on_published: logged, and no persisted offset from it
            # (recovery then replays from an earlier one, which is safe).
            error = "cancelled" if delivery.cancelled() else delivery.exception()
            logger.warning("changelog %s[%d] not delivered: %s", topic, partition, error)
            return
        # A batch's delivery names its first record's offset; its records' are consecutive.
        last = delivery.result().offset + count - 1
        self._table.data.set_persisted_offset(TP(topic, partition), last)
