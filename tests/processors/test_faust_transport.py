"""The fetcher's wait_first without a task per record keeps Faust's race against a
suspended flow (processors/faust_transport.py)."""

from __future__ import annotations

import asyncio
import warnings

import pytest
from mode import Service

from processors import faust_transport
from processors.faust_transport import (
    BulkProducerBuffer,
    FirstStepInPlace,
    _started_producer_at_once,
)


class Fetcher(FirstStepInPlace, Service):
    pass


def run(coro):  # type: ignore[no-untyped-def]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a coroutine never awaited fails the test
        return asyncio.run(coro)


def test_a_callback_that_never_waits_runs_in_place_without_a_task() -> None:
    async def main() -> None:
        fetcher = Fetcher()
        suspend = asyncio.Event()
        delivered: list[int] = []

        async def callback(n: int) -> int:
            delivered.append(n)
            return n * 2

        tasks_before = len(asyncio.all_tasks())
        results = await fetcher.wait_first(callback(3), suspend.wait())
        assert results.results == [6] and not results.stopped
        assert delivered == [3]
        assert len(asyncio.all_tasks()) == tasks_before

    run(main())


def test_a_blocked_callback_finishes_in_a_task() -> None:
    async def main() -> None:
        fetcher = Fetcher()
        suspend, room = asyncio.Event(), asyncio.Event()
        steps: list[str] = []

        async def callback() -> str:
            steps.append("first")
            await room.wait()
            steps.append("rest")
            await asyncio.sleep(0)
            return "put"

        waiting = asyncio.ensure_future(fetcher.wait_first(callback(), suspend.wait()))
        await asyncio.sleep(0.01)
        assert steps == ["first"] and not waiting.done()
        room.set()
        results = await waiting
        assert steps == ["first", "rest"]
        assert "put" in results.results and not results.stopped

    run(main())


def test_a_suspended_flow_abandons_a_blocked_callback() -> None:
    async def main() -> None:
        fetcher = Fetcher()
        suspend, room = asyncio.Event(), asyncio.Event()
        cancelled: list[bool] = []

        async def callback() -> None:
            try:
                await room.wait()
            except asyncio.CancelledError:
                cancelled.append(True)
                raise

        waiting = asyncio.ensure_future(fetcher.wait_first(callback(), suspend.wait()))
        await asyncio.sleep(0.01)
        suspend.set()
        results = await waiting
        assert results.results == [True]  # the suspension won
        await asyncio.sleep(0)
        assert cancelled == [True]

    run(main())


def test_an_error_in_the_first_step_propagates() -> None:
    async def main() -> None:
        fetcher = Fetcher()

        async def callback() -> None:
            raise ValueError("undecodable")

        with pytest.raises(ValueError, match="undecodable"):
            await fetcher.wait_first(callback(), asyncio.Event().wait())

    run(main())


def test_a_stopped_service_reports_stopped() -> None:
    async def main() -> None:
        fetcher = Fetcher()
        fetcher._stopped.set()

        async def callback() -> None:
            return None

        assert (await fetcher.wait_first(callback(), asyncio.Event().wait())).stopped

    run(main())


def test_the_broker_scheme_selects_this_transport() -> None:
    from faust.transport.drivers import by_url

    assert by_url(f"{faust_transport.SCHEME}://localhost:9092") is faust_transport.Transport
    assert faust_transport.Transport.Consumer is faust_transport.Consumer


def test_the_broker_holds_the_worker_s_empty_fetches_briefly() -> None:
    # aiokafka fetches a partition again only in the next fetch to its broker;
    # one held for Faust's 1.5 s because its partitions had nothing new kept
    # a worker's backlog waiting (docs/worker.md, "Fetching a backlog").
    import faust

    app = faust.App("fetch-wait", broker=f"{faust_transport.SCHEME}://127.0.0.1:9",
                    web_enabled=False)
    thread = app.consumer._thread  # type: ignore[attr-defined]
    try:
        assert isinstance(thread, faust_transport.ShortFetchWait)

        async def wait_ms() -> int:
            consumer = thread._create_worker_consumer(app.transport)
            try:
                return int(consumer._fetch_max_wait_ms)
            finally:
                await consumer.stop()  # never started: nothing to leave behind

        assert run(wait_ms()) == faust_transport.FETCH_MAX_WAIT_MS <= 100
    finally:
        thread.thread_loop.close()


class Sent:
    """What publish_message received, in order, and how many turns of the loop it took."""

    def __init__(self) -> None:
        self.order: list[int] = []
        self.blocked = asyncio.Event()
        self.blocked.set()

    async def publish(self, fut: object) -> None:
        await self.blocked.wait()
        self.order.append(fut)  # type: ignore[arg-type]


def bulk_buffer(sent: Sent) -> BulkProducerBuffer:
    buffer = BulkProducerBuffer()

    async def send_pending(fut: object) -> None:
        await sent.publish(fut)

    buffer._send_pending = send_pending  # type: ignore[method-assign,assignment]
    return buffer


def test_the_bulk_buffer_hands_over_everything_in_order_in_one_turn() -> None:
    async def main() -> None:
        sent = Sent()
        buffer = bulk_buffer(sent)
        await buffer.start()
        try:
            for n in range(50):
                buffer.put(n)  # type: ignore[arg-type]
            assert buffer.size == 50
            await buffer.handed_over()
            assert sent.order == list(range(50)) and buffer.size == 0
        finally:
            await buffer.stop()

    run(main())


def test_handed_over_waits_for_the_message_being_sent() -> None:
    async def main() -> None:
        sent = Sent()
        buffer = bulk_buffer(sent)
        await buffer.start()
        try:
            sent.blocked.clear()  # the Kafka client makes the buffer wait (a full batch)
            buffer.put(1)  # type: ignore[arg-type]
            await asyncio.sleep(0.01)
            assert buffer.size == 0  # taken from the queue, not yet with the client
            waiting = asyncio.ensure_future(buffer.handed_over())
            await asyncio.sleep(0.01)
            assert not waiting.done()
            buffer.put(2)  # type: ignore[arg-type]
            sent.blocked.set()
            await waiting
            assert sent.order == [1, 2]
        finally:
            await buffer.stop()

    run(main())


def test_a_started_producer_is_returned_without_a_turn_of_the_loop() -> None:
    class App:
        in_transaction = False

        def __init__(self) -> None:
            self.producer = type("Producer", (), {"started": False})()
            self.stampeded = 0

        async def maybe_start_producer(self) -> object:
            self.stampeded += 1
            await asyncio.sleep(0)  # what mode's stampede does first
            self.producer.started = True
            return self.producer

    async def main() -> None:
        app = App()
        _started_producer_at_once(app)  # type: ignore[arg-type]
        assert await app.maybe_start_producer() is app.producer
        assert app.stampeded == 1  # not started yet: Faust's own start
        coro = app.maybe_start_producer()
        with pytest.raises(StopIteration) as done:
            coro.send(None)  # finishes in its first step: no yield to the loop
        assert done.value.value is app.producer and app.stampeded == 1

    run(main())
