"""Publish canonical events straight to Kafka, as the gateway does.

For high-volume producers that skip the HTTP gateway::

    from schemas.producer import EventProducer
    from schemas.event import PlaybackEvent

    async with EventProducer("kafka:9092") as producer:
        await producer.publish(events)   # returns once Kafka acknowledged all of them

Records are keyed by organization/session and encoded in Avro single-object
encoding with the newest schema versions (docs/architecture.md, "Writing to
Kafka directly"): the events of one session in one ``publish`` call travel
together as one batch record (up to 500 of them), a lone event as a
single-event record. ``publish`` retries what Kafka refused for a transient
reason, and a retried event is harmless because workers dedupe by event id.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from schemas import EventCodec, event_codec
from schemas.event import PlaybackEvent, session_key
from schemas.event_writer import BodyWriter, EventWriter
from schemas.partitioner import partition_of

Event = PlaybackEvent | Mapping[str, Any]

log = logging.getLogger(__name__)


# A record of a session's events: enough to share Kafka's and the worker's per-record
# cost, small enough that a record of bounded events stays far below Kafka's 1 MB.
MAX_RECORD_EVENTS = 500
MAX_RECORD_BYTES = 256 * 1024
# A Kafka record batch: many records, far below the broker's 1 MB message.max.bytes.
MAX_BATCH_BYTES = 512 * 1024


def _chunks(members: list[Event]) -> list[list[Event]]:
    """Consecutive runs of at most MAX_RECORD_EVENTS events and about MAX_RECORD_BYTES."""
    if len(members) == 1:
        return [members]
    out: list[list[Event]] = [[]]
    size = 0
    for member in members:
        estimate = _size(member)
        if out[-1] and (len(out[-1]) >= MAX_RECORD_EVENTS or size + estimate > MAX_RECORD_BYTES):
            out.append([])
            size = 0
        out[-1].append(member)
        size += estimate
    return out


def _size(event: Event) -> int:
    # A fair guess, not a bound: ids and numbers take a few hundred bytes, and
    # only attributes vary much. Any one bounded event fits far under Kafka's limit.
    attributes = (event.attributes if isinstance(event, PlaybackEvent)
                  else event.get("attributes"))
    if not attributes:
        return 300
    return 300 + sum(map(len, attributes)) + sum(map(len, attributes.values()))


class PublishFailed(RuntimeError):
    """Some events were not acknowledged after every retry; ``failed`` says which."""

    def __init__(self, failed: list[Any], cause: BaseException):
        self.failed = failed
        super().__init__(f"{len(failed)} events not acknowledged by Kafka: {cause!r}")


def _key(event: PlaybackEvent | Mapping[str, Any]) -> bytes:
    if isinstance(event, PlaybackEvent):
        return event.session_key.encode()
    return session_key(event["organization_id"], event["session_id"]).encode()


def _record(event: PlaybackEvent | Mapping[str, Any]) -> Mapping[str, Any]:
    return event.to_record() if isinstance(event, PlaybackEvent) else event


class EventProducer:
    def __init__(
        self,
        bootstrap: str,
        topic: str = "playhead.events",
        *,
        linger_ms: int = 5,
        retries: int = 3,
        request_timeout_seconds: float = 30.0,
        codec: EventCodec | None = None,
        **producer_options: Any,
    ):
        self.topic = topic
        self._retries = retries
        self._codec = codec or event_codec()
        # Writes the codec's bytes about five times faster (schemas/event_writer.py).
        self._writer = EventWriter.matching(self._codec)
        # acks=all + idempotence: an acknowledged event is on every in-sync
        # replica, and the producer's own retries never duplicate it. A partition
        # has one batch in flight at a time (idempotence; aiokafka also keeps one
        # produce request per broker in flight), so what waits meanwhile goes
        # out together in the next: batches up to MAX_BATCH_BYTES, not 16 KiB.
        producer_options.setdefault("max_batch_size", MAX_BATCH_BYTES)
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, acks="all", enable_idempotence=True,
            linger_ms=linger_ms, request_timeout_ms=int(request_timeout_seconds * 1000),
            **producer_options)
        self._lanes: dict[int, _Lane] = {}

    @property
    def client(self) -> AIOKafkaProducer:
        return self._producer

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        # What the lanes hold first, then what aiokafka buffers: every caller gets its answer.
        await asyncio.gather(*(lane.drained() for lane in self._lanes.values()),
                             return_exceptions=True)
        await self._producer.stop()

    async def __aenter__(self) -> EventProducer:
        try:
            await self.start()
        except BaseException:
            # aiokafka counts a producer open until stop(), also when start() failed.
            await self.stop()
            raise
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        await self.stop()

    def records(self, events: list[Event]) -> list[tuple[bytes, bytes, list[Event]]]:
        """(key, value, events) of the Kafka records that carry ``events``.

        A session's events in one call share records: one batch message per
        up to ``MAX_RECORD_EVENTS`` of them (and at most ``MAX_RECORD_BYTES``),
        a lone event as a single-event message. The per-record cost of Kafka
        and the worker is then shared by the events of a record.
        """
        sessions: dict[bytes, list[Event]] = {}
        last_organization: str | None = None
        last_session: str | None = None
        members: list[Event] = []
        for event in events:
            if isinstance(event, PlaybackEvent):
                # A session's events mostly come one after another, often sharing the
                # very strings: the key is then not built again.
                if event.session_id is last_session and event.organization_id is last_organization:
                    members.append(event)
                    continue
                members = sessions.setdefault(event.session_key.encode(), [])
                last_organization, last_session = event.organization_id, event.session_id
            else:
                members = sessions.setdefault(_key(event), [])
                last_organization = last_session = None
            members.append(event)
        bodies = BodyWriter()  # the call's events share most of their ids
        return [(key, self._encode(chunk, bodies), chunk)
                for key, members in sessions.items() for chunk in _chunks(members)]

    def _encode(self, chunk: list[Event], bodies: BodyWriter) -> bytes:
        """One record's value: the hand-written writer for events, fastavro for the rest."""
        writer = self._writer
        events = [e for e in chunk if isinstance(e, PlaybackEvent)]
        if writer is not None and len(events) == len(chunk):
            try:
                if len(events) == 1:
                    return writer.event_header + bodies.bodies(events)[0]
                return writer.encode_batch(bodies.bodies(events))
            except (TypeError, ValueError, AttributeError, KeyError, OverflowError):
                pass  # a value of an unexpected type: fastavro says what is wrong with it
        if len(chunk) == 1:
            return self._codec.encode(_record(chunk[0]))
        return self._codec.encode_batch([_record(e) for e in chunk])

    async def _send_batches(self, events: list[Event]
                            ) -> tuple[list[tuple[list[Event], _Waiter, int]], list[_Waiter]]:
        """Encode the records and queue them on their partitions' lanes: for each record,
        in order, its events, the waiter of its lane's records and its place there; and
        the waiters.

        The partition is computed here with Kafka's default partitioner, so a
        session lands where any other client would put it. A call's records on
        one lane share one waiter (not a future each): a 100-event request is
        25 records on a few lanes.
        """
        partitions = sorted(await self._producer.partitions_for(self.topic))
        count = len(partitions)
        by_lane: dict[int, list[tuple[bytes, bytes]]] = {}
        places: list[tuple[list[Event], int, int]] = []
        for key, value, members in self.records(events):
            partition = partitions[partition_of(key, count)]
            records = by_lane.setdefault(partition, [])
            places.append((members, partition, len(records)))
            records.append((key, value))
        waiters = {partition: self._lane(partition).queue(records)
                   for partition, records in by_lane.items()}
        return ([(members, waiters[partition], index) for members, partition, index in places],
                list(waiters.values()))

    def _lane(self, partition: int) -> _Lane:
        lane = self._lanes.get(partition)
        if lane is None:
            lane = self._lanes[partition] = _Lane(self._producer, self.topic, partition)
        return lane

    async def publish(self, events: Iterable[Event]) -> None:
        """Send every event and wait for Kafka's acknowledgement of each."""
        pending = list(events)
        delay = 0.2
        for attempt in range(self._retries + 1):
            failed: list[Event] = []
            error: BaseException | None = None
            try:
                deliveries, waiters = await self._send_batches(pending)
            except KafkaError as err:
                # No metadata, or a partition's slot never freed: some batches may
                # be on their way, so all are resent; the worker drops the repeats
                # by event id.
                deliveries, waiters, failed, error = [], [], pending, err
            if len(waiters) == 1:
                await waiters[0].future  # cancelled with its caller, as gather's would be
            elif waiters:
                await asyncio.gather(*(waiter.future for waiter in waiters))
            for members, waiter, index in deliveries:
                outcome = waiter.errors[index]
                if outcome is not None:
                    failed += members
                    error = outcome
            if not failed:
                return
            assert error is not None
            if not isinstance(error, KafkaError) or not error.retriable or attempt == self._retries:
                raise PublishFailed(failed, error) from error
            log.warning("retrying %d events after %r", len(failed), error)
            await asyncio.sleep(delay)
            delay *= 2
            pending = failed


class _Lane:
    """One partition's records on their way: queued while the previous batch is out.

    aiokafka sends one batch per partition at a time and holds the next until
    that one is acknowledged. Handing it one batch per ``publish`` call made
    every concurrent call wait its turn, one call's records per round trip;
    a lane instead sends everything queued since its last batch in the next
    one (group commit), in the order queued. A call's waiter says, for each of
    its records, whether Kafka acknowledged it; nothing queued is dropped: a
    failed batch fails each of its records, and ``EventProducer.stop`` drains
    the lanes first.
    """

    def __init__(self, producer: AIOKafkaProducer, topic: str, partition: int):
        self._producer = producer
        self._topic = topic
        self._partition = partition
        self._queued: list[_Entry] = []
        self._sending: asyncio.Task[None] | None = None

    def queue(self, records: list[tuple[bytes, bytes]]) -> _Waiter:
        """Queue (key, value) records; the waiter says, once each is settled, how."""
        waiter = _Waiter(len(records))
        self._queued += [(key, value, waiter, index)
                         for index, (key, value) in enumerate(records)]
        if self._sending is None:
            self._sending = asyncio.create_task(self._send())
        return waiter

    async def drained(self) -> None:
        if self._sending is not None:
            await asyncio.shield(self._sending)

    async def _send(self) -> None:
        taken: list[_Entry] = []
        try:
            while self._queued:
                taken, self._queued = self._queued, []
                batches = self._batches(taken)
                for index, (batch, entries) in enumerate(batches):
                    # Closed, it is sent as soon as its turn comes instead of lingering
                    # linger_ms for records that would only come through this lane.
                    batch.close()
                    try:
                        delivery = await self._producer.send_batch(
                            batch, self._topic, partition=self._partition)
                    except Exception as err:  # no slot in time, producer closed
                        # The batches behind it would wait as long for the same answer:
                        # their callers hear it now and may retry.
                        _settle([e for _, later in batches[index:] for e in later], err)
                        break
                    delivery.add_done_callback(
                        lambda done, entries=entries: _settle(entries, _outcome(done)))
                taken = []
        finally:
            self._sending = None
            # Cancelled midway (the loop closing): say so to whoever waits.
            left = taken + self._queued
            self._queued = []
            _settle(left, KafkaError("the producer stopped before sending these records"))

    def _batches(self, entries: list[_Entry]) -> list[tuple[Any, list[_Entry]]]:
        # A record over the batch size goes alone in a batch of its own (aiokafka takes
        # any record into an empty batch): if Kafka refuses it, it fails alone.
        out: list[tuple[Any, list[_Entry]]] = [(self._producer.create_batch(), [])]
        for entry in entries:
            key, value, waiter, _ = entry
            if waiter.future.done():
                continue  # its caller gave up waiting (a deadline) and was told so: not sent
            if out[-1][0].append(key=key, value=value, timestamp=None) is None:
                out.append((self._producer.create_batch(), []))
                out[-1][0].append(key=key, value=value, timestamp=None)
            out[-1][1].append(entry)
        return [(batch, queued) for batch, queued in out if queued]


class _Waiter:
    """One ``publish`` call's records on one lane: ``future`` is done once every one of
    them is settled, ``errors`` then says each one's failure (None: acknowledged).
    Cancelled, it is its caller giving up: what is still queued is not sent."""

    __slots__ = ("errors", "future", "left")

    def __init__(self, count: int):
        self.future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.errors: list[BaseException | None] = [None] * count
        self.left = count

    def settle(self, index: int, error: BaseException | None) -> None:
        if self.future.done():
            return  # its caller stopped waiting (a deadline)
        self.errors[index] = error
        self.left -= 1
        if not self.left:
            self.future.set_result(None)


# A queued record: key, value, the waiter of its call's records on the lane, its place there.
_Entry = tuple[bytes, bytes, _Waiter, int]


def _outcome(delivery: asyncio.Future[Any]) -> BaseException | None:
    error: BaseException | None = (KafkaError("the batch's delivery was cancelled")
                                   if delivery.cancelled() else delivery.exception())
    return error


def _settle(entries: list[_Entry], error: BaseException | None) -> None:
    for _, _, waiter, index in entries:
        waiter.settle(index, error)
