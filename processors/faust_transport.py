"""Faust's aiokafka transport, without a task per Kafka record or per table change.

Faust's fetcher hands every record to the conductor through
``Service.wait_first(callback(message), suspend_flow.wait())``, so that a
callback blocked (a full channel queue, flow control during a rebalance)
is abandoned when the consumer suspends its flow. That wait costs four
tasks and an ``asyncio.wait`` per record, about half of what Faust spends
on a record before the agent sees it, although the callback almost never
blocks: it puts the event on the agent's channel queue and returns.

``Consumer.wait_first`` here runs the callback's first step in place. When
it finishes there (the usual case), nothing could have waited, so there is
nothing to race against and its result is returned as Faust's would be.
When it blocks, the rest of the callback becomes a task and Faust's own
``wait_first`` races it against the suspension exactly as before: rebalance,
flow control and commits are Faust's, unchanged.

The producer's side (``BulkProducerBuffer``, ``_started_producer_at_once``)
hands a batch's table changes to aiokafka in one turn of the loop. The
agent's own topic skips the conductor and Faust's codec registry altogether
(faust_records.py).

One change is to Faust's rebalance rather than its per-record path:
``SeekWithTheFetcherStill`` seeks the partitions back to their committed
offsets with the fetcher stopped, where Faust's seek raced it and could
commit records the agent never saw (docs/worker.md).

The app selects this transport with the broker URL scheme ``playhead://``
(``faust.transport.drivers.TRANSPORTS``, the registry behind Faust's
``broker`` setting). docs/worker.md, "Faust's per-record path", has the figures.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Generator
from typing import Any, ClassVar, cast

from faust.transport.consumer import Consumer as ConsumerBase
from faust.transport.drivers import TRANSPORTS
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.transport.producer import ProducerBuffer
from faust.types import AppT, ConsumerT, ProducerT
from faust.types.tuples import FutureMessage
from mode.services import Service, WaitArgT, WaitResults
from mode.utils.times import Seconds

from processors.faust_records import DirectRecords

SCHEME = "playhead"


class _Rest:
    """The rest of a coroutine whose first step already ran and yielded ``yielded``.

    Awaiting it hands ``yielded`` (the future the coroutine waits on) to the
    awaiting task, then drives the coroutine on as ``await`` would have.
    """

    __slots__ = ("coro", "yielded")

    def __init__(self, coro: Coroutine[Any, Any, Any], yielded: Any):
        self.coro = coro
        self.yielded = yielded

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, value = self.coro, self.yielded
        while True:
            try:
                sent = yield value
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # a cancellation, or an error thrown in
                try:
                    value = coro.throw(exc)
                except StopIteration as done:
                    return done.value
            else:
                try:
                    value = coro.send(sent)
                except StopIteration as done:
                    return done.value


async def _finish(coro: Coroutine[Any, Any, Any], yielded: Any) -> Any:
    return await _Rest(coro, yielded)


def _close(waitables: tuple[WaitArgT, ...]) -> None:
    # Coroutines never started (``suspend_flow.wait()``): closed, or Python
    # warns that they were never awaited.
    for waitable in waitables:
        if asyncio.iscoroutine(waitable):
            waitable.close()


class FirstStepInPlace(Service):
    """``wait_first`` that runs its first coroutine's first step in place."""

    async def wait_first(self, *coros: WaitArgT, timeout: Seconds | None = None) -> WaitResults:
        if timeout is not None:
            return await super().wait_first(*coros, timeout=timeout)
        first = coros[0] if coros else None
        if not asyncio.iscoroutine(first):
            return await super().wait_first(*coros)
        try:
            yielded = first.send(None)
        except StopIteration as done:
            _close(coros[1:])
            if self._stopped.is_set() or self._crashed.is_set():
                return WaitResults([], [], True)
            return WaitResults([first], [done.value], False)
        except BaseException:
            _close(coros[1:])
            raise  # as Faust's wait_first propagates the callback's error
        rest = asyncio.ensure_future(_finish(first, yielded))
        return await super().wait_first(rest, *coros[1:])


class SeekWithTheFetcherStill(ConsumerBase):
    """``perform_seek`` that first stops the fetcher handing over records.

    Faust seeks its stream partitions back to their committed offsets once a
    rebalance's recovery is done (``Recovery.on_recovery_completed``), but by
    then the recovery has already resumed the consumer's flow and the
    partitions, so the fetcher keeps handing records to the agent's queue
    while the seek awaits the broker. A partition sought early in that seek
    (aiokafka seeks each as soon as its committed offset is known) can then
    hand over records from the committed offset on after its seek; the seek
    ends by setting the fetcher's read offsets back to the committed offsets
    although aiokafka's positions are past those records; the caller's
    ``flow_control.resume()`` then clears the agent's queue, dropping those
    the agent had not taken yet. They are never fetched again, and the next
    record's distance from the reset read offset counts them as a gap in the
    partition (``Consumer._add_gap``, meant for compacted offsets), so the
    next commit goes past them: acknowledged by Kafka, never processed.

    Here the flow is stopped before the seek, and the seek waits until the
    fetcher has finished with the record it holds (its read offset set, its
    callback done or abandoned): no record is handed over from then on, so
    whatever the queue holds when it is cleared is behind the new positions
    and is fetched again. The flow stays stopped: every caller resumes it
    right after (``Recovery._resume_streams``, ``on_recovery_completed``),
    and the fetcher's own seek (a fetch that returned while the flow was
    stopped) runs with it stopped.
    """

    # The fetcher's task, and whether it holds no record: it holds those a
    # fetch returned until it asks for the next fetch, having handed each
    # over (or abandoned it to a suspended flow) and set its read offset.
    # Kept per fetch, not per record: nothing is added to a record's path.
    _fetcher: asyncio.Task[Any] | None = None
    _holds_none: asyncio.Event | None = None

    def _holds_nothing(self) -> asyncio.Event:
        if self._holds_none is None:
            self._holds_none = asyncio.Event()
            self._holds_none.set()
        return self._holds_none

    async def _wait_next_records(self, timeout: float) -> Any:
        holds_nothing = self._holds_nothing()
        self._fetcher = asyncio.current_task()
        holds_nothing.set()
        records, active_partitions = await super()._wait_next_records(timeout)
        if records:
            holds_nothing.clear()
        return records, active_partitions

    async def perform_seek(self) -> None:
        was_active = self.flow_active
        self.stop_flow()  # getmany hands over nothing more; a blocked callback is abandoned
        try:
            await self._fetcher_holds_nothing()
            await super().perform_seek()
        except BaseException:
            if was_active:
                self.resume_flow()
            raise

    async def _fetcher_holds_nothing(self) -> None:
        holds_nothing, fetcher = self._holds_nothing(), self._fetcher
        # Not when the fetcher itself seeks (a fetch that returned while the flow
        # was stopped), nor for a fetcher stopped while it held records.
        if (holds_nothing.is_set() or fetcher is None or fetcher.done()
                or fetcher is asyncio.current_task()):
            return
        waiting = asyncio.ensure_future(holds_nothing.wait())
        try:
            await asyncio.wait({waiting, fetcher}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiting.cancel()


# How long the broker may hold a fetch that finds no new records (Faust: 1,500 ms).
FETCH_MAX_WAIT_MS = 100


class ShortFetchWait(faust_aiokafka.AIOKafkaConsumerThread):
    """Faust's consumer thread, whose aiokafka consumer lets the broker hold an empty
    fetch for ``FETCH_MAX_WAIT_MS`` instead of Faust's fixed 1.5 s.

    aiokafka keeps one fetch in flight per broker, and leaves out of it the
    partitions whose fetched records the application has not taken yet. While
    the agent's queue is full, the events partitions' records wait in aiokafka,
    so after its 0.1 s prefetch back-off the fetch it sends holds only partitions
    with nothing new (Faust's leader topic, standby changelogs), and the broker
    keeps that fetch until something arrives or the wait ends. The events
    partitions, taken a moment later, could not be fetched again until then:
    a worker working through a backlog stood idle 0.3–1 s in every 1.7 s
    (docs/worker.md, "Fetching a backlog"). New records still come at once:
    the broker answers a fetch as soon as any of its partitions has some.
    """

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # Read by aiokafka when it builds its fetcher, at start.
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS
        return consumer


class Consumer(DirectRecords, SeekWithTheFetcherStill, FirstStepInPlace,
               faust_aiokafka.Consumer):
    """Faust's aiokafka consumer; its fetcher hands the agent's records over a fetch
    at a time (faust_records.DirectRecords) and the rest through FirstStepInPlace's
    ``wait_first``; its ``perform_seek`` is SeekWithTheFetcherStill's; the broker holds
    its empty fetches briefly (ShortFetchWait)."""

    def _new_consumer_thread(self) -> ShortFetchWait:
        return ShortFetchWait(self, loop=self.loop, beacon=self.beacon)


class BulkProducerBuffer(ProducerBuffer):
    """Faust's producer buffer (table changes wait here), handed to the Kafka client
    a whole batch at a time.

    Faust's buffer task hands one message to aiokafka per turn of the event loop,
    so aiokafka's sender wakes between them and sends a produce request for
    almost every message (measured: 14,322 batches for 17,276 table changes).
    Here the task hands over everything waiting, in order and without yielding
    unless aiokafka makes it wait, so a batch's changes share requests. One
    task still sends them all, in the order they were put.
    """

    def __post_init__(self) -> None:
        super().__post_init__()
        self._sending = False
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def size(self) -> int:
        # Faust's reads a setting through its settings machinery, per message
        # the conductor hands over (wait_until_ebb): this buffer is never threaded.
        return self.pending.qsize()

    def put(self, fut: FutureMessage) -> None:
        self._idle.clear()
        self.pending.put_nowait(fut)

    @Service.task
    async def _handle_pending(self) -> None:
        pending, send = self.pending, self._send_pending
        while not self.should_stop:
            message = await pending.get()
            self._sending = True
            try:
                await send(message)
                while not pending.empty():
                    await send(pending.get_nowait())
            finally:
                self._sending = False
            if pending.empty():
                self._idle.set()
            self.message_sent.set()

    async def handed_over(self) -> None:
        """Until every message put so far is with the Kafka client (not yet delivered:
        the client's flush, before a commit, waits for that)."""
        while self.size or self._sending:
            if self.state != "running":
                raise RuntimeError("Cannot flush: Producer not Running")
            try:
                await asyncio.wait_for(self._idle.wait(), timeout=1.0)
            except TimeoutError:
                continue  # checks the buffer task is still running


class Producer(faust_aiokafka.Producer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.app.conf.producer_threaded:
            buffer = BulkProducerBuffer(loop=self.loop, beacon=self.beacon)
            buffer.app = self.app
            self.buffer = buffer
        _started_producer_at_once(self.app)


def _started_producer_at_once(app: AppT) -> None:
    # Every message Faust publishes first awaits app.maybe_start_producer, a
    # mode ``stampede`` whose first act is ``await asyncio.sleep(0)``: a turn
    # of the event loop per message, in which aiokafka's sender takes the one
    # or two changes appended so far as a produce request of their own. Once
    # the producer runs, there is nothing to start and nothing to wait for.
    stampeded = app.maybe_start_producer

    async def maybe_start_producer() -> ProducerT:
        producer = app.producer
        if producer.started and not app.in_transaction:
            return producer
        return cast(ProducerT, await stampeded())

    # An instance attribute: the stampede is a non-data descriptor, and keeps
    # its own wrapper in the instance's __dict__ the same way.
    setattr(app, "maybe_start_producer", maybe_start_producer)  # noqa: B010


class Transport(faust_aiokafka.Transport):
    Consumer: ClassVar[type[ConsumerT]] = Consumer
    Producer: ClassVar[type[ProducerT]] = Producer


TRANSPORTS.aliases.setdefault(SCHEME, f"{__name__}:Transport")
