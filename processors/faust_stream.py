"""The agent's batches, drained from its channel in bulk instead of an event at a time.

``Stream.take_events`` hands events to the agent through Faust's stream
iterator, which yields to the event loop before every event and passes each
through a processor that fills the batch from another task: a turn of the
loop and several awaits per Kafka record. ``take_batches`` takes whatever is
queued in one go: mostly ``RecordChunk``s, a partition's fetched records put
there by the consumer (processors/faust_records.py), or events, should Faust's
conductor carry the topic. It does per chunk (per event) only what that
iterator does for Faust's bookkeeping, in the same order:

- a chunk (event) delivered while flow control is suspended (a rebalance) or
  by an earlier consumer generation is skipped, neither tracked nor
  acknowledged: the rebalance's seek sets its partition back to the
  committed offset, so whoever owns the partition next, this worker
  included, reads it again (Faust's iterator skips it too, but acknowledges
  it, which can let a commit pass it; the seek itself is
  ``faust_transport.SeekWithTheFetcherStill``);
- what a batch takes of a chunk (a ``Piece``: a full batch leaves the rest of
  the chunk to the next) is tracked as unacknowledged when taken (an event,
  and reported to the sensors, when it comes in);
- once the agent is done with a batch (its rows written, its state handed
  over), every record of it is acknowledged: only acknowledged offsets are
  committed. ``take_batches`` acknowledges a batch when the next one is asked
  for; ``take_held_batches`` leaves that to the agent, which may take the next
  batch before the last is done with (processors/batch_pipeline.py).

The agent's task never sets Faust's current event here (``take_events``
does not either: its iterator runs in another task), so messages the agent
sends go out at once rather than waiting for an acknowledgement.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

from processors.faust_records import Piece, Record, RecordChunk, ack_pieces, make_room, track


@dataclass
class HeldBatch:
    """A batch handed over and not acknowledged until ``ack`` is called: the agent
    may take the next batch while this one is still being written."""

    records: list[Record]
    first: dict[Any, int]  # offset of each partition's first record, and last
    last: dict[Any, int]
    _stream: Any
    _pieces: list[Piece]
    _events: list[Any]  # those that came through Faust's path, with their sensor state
    _states: list[Any]

    def ack(self) -> None:
        ack_pieces(self._stream.app.consumer, self._pieces)
        for event, state in zip(self._events, self._states, strict=True):
            _ack(self._stream, event, state)


@dataclass
class _Taking:
    records: list[Record] = field(default_factory=list)
    first: dict[Any, int] = field(default_factory=dict)
    last: dict[Any, int] = field(default_factory=dict)
    pieces: list[Piece] = field(default_factory=list)
    events: list[Any] = field(default_factory=list)
    states: list[Any] = field(default_factory=list)


async def take_batches(stream: Any, max_: int,
                       within: float) -> AsyncIterator[list[Record]]:
    """Batches of at most ``max_`` records, each handed over at most ``within`` seconds
    after its first record arrived, and acknowledged when the next one is asked for."""
    async with aclosing(take_held_batches(stream, max_, within)) as held_batches:
        async for held in held_batches:
            yield held.records
            held.ack()


async def take_held_batches(stream: Any, max_: int,
                            within: float) -> AsyncGenerator[HeldBatch, None]:
    """As ``take_batches``, but each batch is acknowledged by the agent (``ack``), in
    the order taken, whenever it is done with it."""
    app = stream.app
    queue = stream.channel.queue
    flow_control = app.flow_control
    acking_topics = app.topics.acking_topics
    consumer = app.consumer
    track_event = consumer.unacked.add
    on_message_in, on_event_in = stream._on_message_in, stream._on_stream_event_in
    # The rest of a chunk a full batch left: taken first by the next batch.
    rest: tuple[RecordChunk, int] | None = None

    def admissible(generation_id: int | None) -> bool:
        return bool(flow_control.is_active() and generation_id == app.consumer_generation_id)

    def take(item: Any, start: int, into: _Taking) -> None:
        nonlocal rest
        rest = None
        if type(item) is not RecordChunk:
            admit_event(item, into)
            return
        if not admissible(item.generation_id):
            return  # skipped: neither tracked nor acknowledged, read again by its owner
        records = item.records
        end = min(len(records), start + max_ - len(into.records))
        taken = records[start:end] if start or end < len(records) else records
        piece = Piece(item.tp, taken)
        if item.tp.topic in acking_topics:
            track(consumer, piece)
        into.pieces.append(piece)
        into.records.extend(taken)
        into.first.setdefault(item.tp, piece.first)
        into.last[item.tp] = piece.last
        if end < len(records):
            rest = (item, end)

    def admit_event(event: Any, into: _Taking) -> None:
        # Faust's own path: an event per record (a topic another channel reads too).
        message = event.message
        if not admissible(message.generation_id):
            return
        tp, offset = message.tp, message.offset
        if message.topic in acking_topics and not message.tracked:
            message.tracked = True
            track_event(message)
            on_message_in(tp, offset, message)
        into.records.append(message)
        into.first.setdefault(tp, offset)
        into.last[tp] = offset
        into.events.append(event)
        into.states.append(on_event_in(tp, offset, stream, event))

    def get_nowait() -> Any:
        item = queue.get_nowait()
        make_room(consumer, queue)
        return item

    async def get(timeout: float | None = None) -> Any:
        item = await (queue.get() if timeout is None else asyncio.wait_for(queue.get(), timeout))
        make_room(consumer, queue)
        return item

    started = await stream.maybe_start()
    try:
        while not stream.should_stop:
            batch = _Taking()
            try:
                if rest is not None:
                    take(*rest, batch)
                if not batch.records:
                    take(await get(), 0, batch)
                deadline = time.monotonic() + within
                while len(batch.records) < max_:
                    if not queue.empty():
                        take(get_nowait(), 0, batch)
                        continue
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    try:
                        item = await get(remaining)
                    except TimeoutError:
                        break
                    take(item, 0, batch)
            except StopAsyncIteration:
                # Faust's actor ends its stream so when the agent stops
                # (Actor.cancel); the records taken are left unacknowledged.
                return
            if not batch.records:
                continue  # only skipped ones
            yield HeldBatch(batch.records, batch.first, batch.last, stream, batch.pieces,
                            batch.events, batch.states)
    finally:
        if started:
            await stream.stop()
            stream.service_reset()


def _ack(stream: Any, event: Any, state: Any) -> None:
    # Stream.ack, with the sensor state the event came in with (as Faust's
    # iterator passes it).
    last = event.ack()
    message = event.message
    tp, offset = message.tp, message.offset
    stream._on_stream_event_out(tp, offset, stream, event, state)
    if last:
        stream._on_message_out(tp, offset, message)
