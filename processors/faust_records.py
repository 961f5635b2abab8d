"""The agent's records, handed over a fetch at a time: no Faust Event, conductor or
channel put per Kafka record.

Faust's fetcher hands every record, one at a time, to the conductor, which
decodes it into an ``Event`` and puts it on the agent's channel queue, and the
agent acknowledges each through the event: about 25 µs a record (measured,
bench/record_path.py), a third of a worker's time when each record carries one
event. For a topic whose schema is ``RecordsSchema`` and which one channel
reads (the agent's, drained by ``faust_stream.take_held_batches``),
``DirectRecords`` puts each partition's fetched records on that channel's
queue as one ``RecordChunk`` of aiokafka's own records instead. What Faust's
path does per record is kept, per chunk:

- records below the partition's read offset are dropped, gaps in its offsets
  are recorded, the read offset advances, and offsets are committed every
  ``broker_commit_every`` acknowledgements, as ``Consumer._drain_messages``
  does;
- nothing is handed over after the consumer generation changed during the
  fetch, or once the consumer's flow stopped (``getmany``'s checks); each
  chunk carries the generation it was fetched in, and the taker skips a chunk
  of an earlier one or taken while flow control is suspended, as Faust's
  stream iterator skips such events. The queue is the channel's, so Faust's
  flow control clears it at a rebalance and the actor's stop ends the taker;
- before the put, the fetcher waits for what the conductor waits for (flow
  control, a producer buffer over its limit) and for room: while the queue
  holds ``maxsize`` records (``stream_buffer_maxsize``), as a full queue
  makes the conductor wait. Like Faust's callback, that wait is raced against
  the consumer's suspension, which abandons it;
- tracking: what a batch takes of a chunk (a ``Piece``) is tracked as one
  unacknowledged message in Faust's consumer when taken, so a rebalance or a
  stop waits for it (``Consumer.wait_empty``), and acknowledged as its
  records' offsets at once (``ack_pieces``: ``Consumer.ack``'s bookkeeping,
  per piece), so commits cover acknowledged records only, as before.

Records of every other topic (table changelogs during recovery, any other)
take Faust's path unchanged. Faust's per-record sensor hooks are not called
for the agent's records (the worker's monitor ignores them: faust_monitor.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import faust
from faust.serializers.schemas import DecodeFunction
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.consumer import Consumer as FaustConsumer
from faust.types import TP, AppT, Message
from faust.types.tuples import ack_lock
from mode import ServiceT
from mode.utils.futures import notify


class Record(Protocol):
    """What the agent reads of a record: aiokafka's ``ConsumerRecord`` (direct) or
    Faust's ``Message`` (its own path) alike."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Any: ...


class RecordChunk:
    """Records of one partition, fetched together, in offset order."""

    __slots__ = ("tp", "records", "generation_id")

    def __init__(self, tp: TP, records: Sequence[Any], generation_id: int) -> None:
        self.tp = tp
        self.records = records
        self.generation_id = generation_id


class Piece:
    """The records a batch took of a chunk: one unacknowledged message to Faust's
    consumer (``wait_empty`` reads ``acked`` and ``refcount``)."""

    __slots__ = ("tp", "first", "last", "count", "records", "acked", "refcount",
                 "__weakref__")

    def __init__(self, tp: TP, records: Sequence[Any]) -> None:
        self.tp = tp
        self.records = records
        self.first = records[0].offset
        self.last = records[-1].offset
        self.count = len(records)
        self.acked = False
        self.refcount = 1

    def offsets(self) -> Iterable[int]:
        if self.last - self.first == self.count - 1:
            return range(self.first, self.last + 1)
        return [record.offset for record in self.records]

    def __repr__(self) -> str:
        return f"<Piece: {self.tp} offsets {self.first}..{self.last}>"


class RecordsSchema(faust.Schema[bytes, bytes]):
    """Marks a topic whose records go straight to its one reader, the agent's batch
    taker, as ``RecordChunk``s. Should Faust's path carry them (another channel
    reading the topic), they come as events of the records' bytes, without
    Faust's codec registry (whose ``raw`` serializers return the same bytes
    through registry and settings lookups for every record)."""

    def __init__(self) -> None:
        super().__init__(key_serializer="raw", value_serializer="raw")

    def compile(self, app: AppT, *, on_key_decode_error: Any = None,
                on_value_decode_error: Any = None,
                default_propagate: bool = False) -> DecodeFunction:
        event: Any = app.conf.Event

        async def decode(message: Message, *, propagate: bool = default_propagate) -> Any:
            return event(app, message.key, message.value, message.headers, message)

        return decode


def held(queue: Any) -> int:
    """Records waiting in a channel queue (chunks count their records)."""
    return sum(len(item.records) if type(item) is RecordChunk else 1
               for item in queue._queue)


def make_room(consumer: Any, queue: Any) -> None:
    """After the taker took from ``queue``: wakes a fetcher waiting for room in it."""
    room = getattr(consumer, "_room", None)
    if room is not None and not room.done() and held(queue) < queue.maxsize:
        room.set_result(None)


def track(consumer: Any, piece: Piece) -> None:
    consumer._unacked_messages.add(piece)


def ack_pieces(consumer: Any, pieces: Sequence[Piece]) -> None:
    """``Consumer.ack`` for every record of ``pieces``, a piece at a time."""
    if not pieces:
        return
    acks_enabled_for = consumer.app.topics.acks_enabled_for
    with ack_lock:
        acked_now = 0
        for piece in pieces:
            if piece.acked:
                continue
            piece.acked = True
            piece.refcount = 0
            consumer._unacked_messages.discard(piece)
            tp = piece.tp
            if not acks_enabled_for(tp.topic):
                continue
            committed = consumer._committed_offset[tp]
            offsets = piece.offsets()
            if committed is not None and piece.first < committed:
                offsets = [offset for offset in offsets if offset >= committed]
            index = consumer._acked_index[tp]
            fresh = set(offsets)
            fresh.difference_update(index)
            if fresh:
                index.update(fresh)
                consumer._acked[tp].extend(fresh)  # sorted before each commit
                acked_now += len(fresh)
        consumer._n_acked += acked_now
        notify(consumer._waiting_for_ack)


class DirectRecords(FaustConsumer):
    """Faust's consumer whose fetcher hands a ``RecordsSchema`` topic's records to its
    reader's queue a partition's fetch at a time (mixed in before the driver's)."""

    _room: asyncio.Future[None] | None = None
    _since_yield: int = 0

    async def _drain_messages(self, fetcher: ServiceT) -> None:
        # Faust's loop (transport/consumer.py), the body taken apart per fetch.
        consumer_should_stop = self._stopped.is_set
        fetcher_should_stop = fetcher._stopped.is_set  # type: ignore[attr-defined]
        set_flag, unset_flag = self.diag.set_flag, self.diag.unset_flag
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                set_flag(CONSUMER_FETCHING)
                await self.sleep(0)
                if not self.should_stop:
                    await self._drain_fetch()
                unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            unset_flag(CONSUMER_FETCHING)

    async def _drain_fetch(self) -> None:
        # Consumer.getmany's checks, per partition instead of per record.
        records, active = await self._wait_next_records(1.0)
        app = self.app
        generation = app.consumer_generation_id
        if records is None or self.should_stop:
            return
        if not self.flow_active:
            self.log.dev("getmany called while flow not active. Seek back to committed offsets.")
            try:
                await self.perform_seek()
            except Exception as ex:
                self.log.warning(f"exception performing seek when flow not active {ex}")
            return
        buffered = self._buffered_partitions
        for tp, fetched in records.items():
            if not self.flow_active or app.consumer_generation_id != generation:
                break
            if active is not None and tp not in active and tp not in buffered:
                continue
            app.monitor.track_tp_end_offset(tp, self.highwater(tp))
            queue = self._records_queue(tp)
            if queue is None:
                if not await self._deliver_each(tp, fetched, generation):
                    break
            elif fetched:
                await self._hand_over(tp, fetched, queue, generation)

    def _records_queue(self, tp: TP) -> Any:
        # The channels the conductor would hand tp's records to.
        channels = self.app.topics._tp_index.get(tp)  # type: ignore[attr-defined]
        if channels is None or len(channels) != 1:
            return None
        (channel,) = channels
        return channel.queue if isinstance(channel.schema, RecordsSchema) else None

    async def _hand_over(self, tp: TP, fetched: Sequence[Any], queue: Any,
                         generation: int) -> None:
        read_offset = self._read_offset
        r_offset = read_offset[tp]
        if r_offset is not None and fetched[0].offset < r_offset:
            for record in fetched:
                if record.offset < r_offset:
                    self.log.dev("DROPPED MESSAGE ROFF %r: k=%r v=%r",
                                 record.offset, record.key, record.value)
            fetched = [record for record in fetched if record.offset >= r_offset]
            if not fetched:
                return
        if self.app.topics.acks_enabled_for(tp.topic):
            await self._add_gaps(tp, r_offset, fetched)
        commit_every = self._commit_every
        if commit_every is not None and self._n_acked >= commit_every:
            self._n_acked = 0
            await self.commit()
        # Raced against the suspension, as Faust's fetcher races its callback.
        await self.wait_first(self._put(RecordChunk(tp, fetched, generation), queue),
                              self.suspend_flow.wait())
        read_offset[tp] = fetched[-1].offset
        self._since_yield += len(fetched)
        if self._since_yield > 100:
            self._since_yield = 0
            await asyncio.sleep(0)

    async def _add_gaps(self, tp: TP, r_offset: int | None, fetched: Sequence[Any]) -> None:
        first = fetched[0].offset
        if fetched[-1].offset - first == len(fetched) - 1:
            if r_offset and first - r_offset > 1:
                await self._add_gap(tp, r_offset + 1, first)
            return
        previous = r_offset
        for record in fetched:
            if previous and record.offset - previous > 1:
                await self._add_gap(tp, previous + 1, record.offset)
            previous = record.offset

    async def _put(self, chunk: RecordChunk, queue: Any) -> None:
        # What the conductor waits for before it puts a record on a queue (flow
        # control, a producer buffer over its limit, room), then the put.
        await self.app.flow_control.acquire()
        await self.app.producer.buffer.wait_until_ebb()
        limit = queue.maxsize
        while limit and held(queue) >= limit:
            room = self._room = self.loop.create_future()
            try:
                await room
            finally:
                self._room = None
        queue.force_put_nowait(chunk)

    async def _deliver_each(self, tp: TP, fetched: Sequence[Any], generation: int) -> bool:
        # Faust's path, a record at a time (getmany's checks, then the drain's).
        callback, app = self.callback, self.app
        read_offset = self._read_offset
        commit_every = self._commit_every
        for record in fetched:
            if not self.flow_active or app.consumer_generation_id != generation:
                return False
            message = self._to_message(tp, record)
            self._since_yield += 1
            if self._since_yield > 100:
                self._since_yield = 0
                await asyncio.sleep(0)
            offset = message.offset
            r_offset = read_offset[tp]
            if r_offset is None or offset >= r_offset:
                gap = offset - (r_offset or 0)
                if gap > 1 and r_offset and app.topics.acks_enabled_for(message.topic):
                    await self._add_gap(tp, r_offset + 1, offset)
                if commit_every is not None and self._n_acked >= commit_every:
                    self._n_acked = 0
                    await self.commit()
                await self.wait_first(callback(message), self.suspend_flow.wait())
                read_offset[tp] = offset
            else:
                self.log.dev("DROPPED MESSAGE ROFF %r: k=%r v=%r",
                             offset, message.key, message.value)
        return True
