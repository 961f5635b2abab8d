"""The agent's batches, drained from its channel in bulk instead of an event at a time.

``Stream.take_events`` hands events to the agent through Faust's stream
iterator, which yields to the event loop before every event and passes each
through a processor that fills the batch from another task: a turn of the
loop and several awaits per Kafka record. ``take_batches`` takes whatever
the conductor has queued in one go and does per event only what that
iterator does for Faust's bookkeeping, in the same order:

- an event delivered while flow control is suspended (a rebalance) or by an
  earlier consumer generation is skipped, neither tracked nor acknowledged:
  the rebalance's seek sets its partition back to the committed offset, so
  whoever owns the partition next, this worker included, reads it again
  (Faust's iterator skips it too, but acknowledges it, which can let a
  commit pass it; the seek itself is ``faust_transport.SeekWithTheFetcherStill``);
- every other event is tracked as unacknowledged and reported to the
  sensors when it comes in;
- once the agent is done with a batch (its rows written, its state handed
  over), every event of it is acknowledged, as ``take_events`` does: only
  acknowledged offsets are committed. ``take_held_batches`` leaves that to
  the agent, which may take the next batch before the last is done with
  (processors/batch_pipeline.py).

The agent's task never sets Faust's current event here (``take_events``
does not either: its iterator runs in another task), so messages the agent
sends go out at once rather than waiting for an acknowledgement.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

from faust.types import EventT


@dataclass
class HeldBatch:
    """A batch handed over and not acknowledged until ``ack`` is called: the agent
    may take the next batch while this one is still being written."""

    events: list[EventT[bytes]]
    _stream: Any
    _states: list[Any]

    def ack(self) -> None:
        for event, state in zip(self.events, self._states, strict=True):
            _ack(self._stream, event, state)


async def take_batches(stream: Any, max_: int,
                       within: float) -> AsyncIterator[list[EventT[bytes]]]:
    """Batches of at most ``max_`` events, each handed over at most ``within`` seconds
    after its first event arrived, and acknowledged when the next one is asked for."""
    async with aclosing(take_held_batches(stream, max_, within)) as held_batches:
        async for held in held_batches:
            yield held.events
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
    track = consumer.unacked.add
    on_message_in, on_event_in = stream._on_message_in, stream._on_stream_event_in

    def admit(event: Any, into: list[EventT[bytes]], states: list[Any]) -> None:
        message = event.message
        if (not flow_control.is_active()
                or message.generation_id != app.consumer_generation_id):
            return
        tp, offset = message.tp, message.offset
        if message.topic in acking_topics and not message.tracked:
            message.tracked = True
            track(message)
            on_message_in(tp, offset, message)
        into.append(event)
        states.append(on_event_in(tp, offset, stream, event))

    started = await stream.maybe_start()
    try:
        while not stream.should_stop:
            events: list[EventT[bytes]] = []
            states: list[Any] = []
            try:
                admit(await queue.get(), events, states)
                deadline = time.monotonic() + within
                while len(events) < max_:
                    if not queue.empty():
                        admit(queue.get_nowait(), events, states)
                        continue
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    try:
                        event = await asyncio.wait_for(queue.get(), remaining)
                    except TimeoutError:
                        break
                    admit(event, events, states)
            except StopAsyncIteration:
                # Faust's actor ends its stream so when the agent stops
                # (Actor.cancel); the events taken are left unacknowledged.
                return
            if not events:
                continue  # only skipped ones
            yield HeldBatch(events, stream, states)
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
