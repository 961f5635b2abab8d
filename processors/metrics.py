"""The worker's Prometheus metrics and liveness, served on ``PLAYHEAD_METRICS_PORT``.

The hot path only bumps plain counters (``WorkerCounters``); they are turned
into Prometheus families when scraped, so an event costs no lock or label
lookup. Sink timings are observed once per batch.

``/livez`` answers 503 while the worker is stalled: messages are waiting
(lag above 0) and no batch has finished for ``PLAYHEAD_STALL_SECONDS``. A
healthy worker finishes a batch at least every tick, so "no batch" means the
sink is held, the worker is wedged, or it stopped consuming. Lag is computed
when asked, from the partitions' high watermarks and the last offsets the
worker finished, so it keeps growing while the worker is stuck.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from processors.handling import WorkerCounters

log = logging.getLogger("playhead.worker")
PREFIX = "playhead_worker_"
SESSION_OUTCOMES = {
    "opened": "Sessions that received their first event.",
    "closed": "Sessions closed (complete or idle), short ones included; re-closes count again.",
    "dropped_short": "Closed sessions under the minimum duration, kept out of histograms.",
    "reopened": "Closed sessions re-opened by an event within the lateness window.",
    "continued": "Late parts begun: a new event for a session past its lateness window.",
    "late": "Events for sessions past their lateness window whose tombstone keeps no event "
            "ids (dead-lettered as late).",
}
SET_ASIDE_HELP = ("Sessions the warehouse refused for their content while it answered "
                  "otherwise; their events are dead-lettered as sink_refused.")
DEAD_LETTER_REASONS = ("late", "undecodable", "invalid", "empty", "out_of_bounds",
                       "session_limit", "clip_mismatch", "sink_refused")


@dataclass
class Progress:
    """Where the worker stands, per partition: the offsets it was handed, finished, and
    the high watermark last seen (wall ``clock`` in seconds).

    Written by the agent (the event loop), read by the metrics thread: plain
    dict reads and float stores, no lock needed for a gauge.
    """

    stall_seconds: float
    clock: Callable[[], float] = time.monotonic  # durations only: immune to clock corrections
    taken: dict[Any, int] = field(default_factory=dict)  # tp -> last offset handed over
    finished: dict[Any, int] = field(default_factory=dict)  # tp -> last offset finished
    high: dict[Any, int] = field(default_factory=dict)  # tp -> next offset, as last seen
    last_batch: float = field(init=False)
    in_flight_since: float | None = None
    sink_error: str | None = None  # while the sink retries: its last error
    # Owned partitions: since when, and when a message of theirs last came. The worker
    # ticks each one every second, so an owned partition that hands over nothing, not
    # even its ticks, is not being fetched (faust-streaming/faust#629 after a rebalance).
    owned_since: dict[Any, float] = field(default_factory=dict)
    seen: dict[Any, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.last_batch = self.clock()

    def assigned(self) -> None:
        """Partitions (re)assigned: recovery of their state is not a stall."""
        self.last_batch = self.clock()
        self.in_flight_since = None
        self.owned_since.clear()

    def owning(self, partitions: set[Any]) -> None:
        """The partitions this worker ticks now (every tick): each is due a message."""
        now = self.clock()
        for tp in partitions:
            self.owned_since.setdefault(tp, now)
        for tp in [tp for tp in self.owned_since if tp not in partitions]:
            del self.owned_since[tp]

    def silent(self) -> list[Any]:
        """Owned partitions from which nothing came for ``stall_seconds`` while no batch
        was held (a held batch, on the sink say, explains the silence itself)."""
        if self.in_flight_since is not None:
            return []
        now = self.clock()
        return sorted((tp for tp, since in list(self.owned_since.items())
                       if now - max(since, self.seen.get(tp, since)) > self.stall_seconds),
                      key=lambda tp: tp.partition)

    def batch_started(self, first: dict[Any, int], last: dict[Any, int]) -> None:
        """A batch handed over: ``first`` and ``last`` offset per partition."""
        for tp, offset in first.items():
            # A partition's first batch: what came before it is not this worker's.
            self.finished.setdefault(tp, offset - 1)
        self.taken.update(last)
        self.in_flight_since = self.clock()
        for tp in last:
            self.seen[tp] = self.in_flight_since

    def batch_done(self, offsets: dict[Any, int], high: dict[Any, int]) -> None:
        self.finished.update(offsets)
        self.high.update(high)
        self.last_batch = self.clock()
        self.in_flight_since = None

    def forget(self, keep: set[Any]) -> None:
        """After a rebalance: partitions no longer owned are not this worker's lag."""
        for offsets in (self.taken, self.finished, self.high):
            for tp in [tp for tp in offsets if tp not in keep]:
                del offsets[tp]

    def lag(self) -> dict[int, int]:
        """Messages per partition not finished yet: known to be waiting, at least."""
        out = {}
        for tp, done in list(self.finished.items()):
            newest = max(self.high.get(tp, 0) - 1, self.taken.get(tp, done))
            out[tp.partition] = max(newest - done, 0)
        return out

    def seconds_since_progress(self) -> float:
        return max(self.clock() - self.last_batch, 0.0)

    def stalled(self) -> tuple[bool, float, int]:
        since, lag = self.seconds_since_progress(), sum(self.lag().values())
        holding = self.in_flight_since is not None  # a batch handed over and not finished
        stuck = (lag > 0 or holding) and since > self.stall_seconds
        return stuck or bool(self.silent()), since, lag


class WorkerMetrics:
    def __init__(self, counters: WorkerCounters, open_sessions: Callable[[], int],
                 state_memory: Callable[[], dict[str, int]] = dict,
                 progress: Progress | None = None):
        self.registry = CollectorRegistry()
        self.counters = counters
        self.open_sessions = open_sessions
        self.state_memory = state_memory
        self.progress = progress or Progress(120.0)
        # Set by the shell once its watermark writer exists (processors/watermark_writer.py).
        self.complete_through: Callable[[], dict[int, float]] = dict
        self.complete_through_written: Callable[[], float | None] = lambda: None
        self.sink_batch = Histogram(
            f"{PREFIX}sink_batch_sessions", "Sessions written to ClickHouse per batch.",
            buckets=(1, 5, 10, 25, 50, 100, 250, 500, 1000, 5000), registry=self.registry)
        self.sink_seconds = Histogram(
            f"{PREFIX}sink_seconds", "Time to write one batch to ClickHouse, retries included.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry)
        self.registry.register(_Totals(self))

    def liveness(self) -> tuple[int, dict[str, Any]]:
        stalled, since, lag = self.progress.stalled()
        body: dict[str, Any] = {"status": "stalled" if stalled else "ok",
                                "seconds_since_progress": round(since, 3), "lag": lag}
        sink_error = self.progress.sink_error
        if sink_error:
            body["sink_error"] = sink_error
        silent = self.progress.silent()
        if silent:
            body["silent_partitions"] = [tp.partition for tp in silent]
        if stalled:
            cause = (f"the ClickHouse sink keeps failing: {sink_error}" if sink_error
                     else f"partitions {body['silent_partitions']} hand over nothing, not "
                          "even the worker's ticks: the consumer stopped fetching them; "
                          "restart the worker" if silent else "see the worker's log")
            body["detail"] = (f"no batch finished for {since:.0f} s with {lag} messages "
                              f"waiting (PLAYHEAD_STALL_SECONDS={self.progress.stall_seconds:g}); "
                              f"{cause}")
        return (503 if stalled else 200), body

    def serve(self, host: str, port: int) -> ThreadingHTTPServer | None:
        """/metrics and /livez on a daemon thread; None when disabled or the port is taken."""
        if not port:
            return None
        try:
            server = ThreadingHTTPServer((host, port), _handler(self))
        except OSError as err:
            # Metrics are worth a warning, not a stopped pipeline.
            log.warning("metrics not served: cannot listen on %s:%s: %s", host, port, err)
            return None
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
        log.info("metrics on http://%s:%s/metrics, liveness on /livez", host, port)
        return server


def _handler(metrics: WorkerMetrics) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            path = self.path.split("?", 1)[0]
            if path == "/livez":
                status, body = metrics.liveness()
                self._answer(status, "application/json", json.dumps(body).encode())
            elif path in ("/metrics", "/"):
                self._answer(200, CONTENT_TYPE_LATEST, generate_latest(metrics.registry))
            else:
                self._answer(404, "application/json", b'{"error": "not found; try /metrics '
                                                      b'or /livez"}')

        def _answer(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:  # scrapes are not worth a log line each
            pass

    return Handler


class _Totals(Collector):
    def __init__(self, metrics: WorkerMetrics):
        self._m = metrics

    def collect(self) -> Iterator[Metric]:
        counters = self._m.counters
        for outcome, help_text in SESSION_OUTCOMES.items():
            family = CounterMetricFamily(f"{PREFIX}sessions_{outcome}", help_text)
            family.add_metric([], counters.sessions[outcome])
            yield family
        events = CounterMetricFamily(f"{PREFIX}events", "Events applied to a session, by outcome.",
                                     labels=["outcome"])
        for outcome in ("new", "duplicate", "reopened"):
            events.add_metric([outcome], counters.events[outcome])
        yield events
        dead = CounterMetricFamily(f"{PREFIX}dead_letters",
                                   "Messages sent to the dead-letter topic, by reason.",
                                   labels=["reason"])
        for reason in sorted({*DEAD_LETTER_REASONS, *counters.dead_letters}):
            dead.add_metric([reason], counters.dead_letters[reason])
        yield dead
        lag = GaugeMetricFamily(f"{PREFIX}consumer_lag",
                                "Messages of an owned partition not yet processed.",
                                labels=["partition"])
        for partition, behind in sorted(self._m.progress.lag().items()):
            lag.add_metric([str(partition)], behind)
        yield lag
        stalled, since, _ = self._m.progress.stalled()
        yield GaugeMetricFamily(f"{PREFIX}seconds_since_progress",
                                "Seconds since the worker last finished a batch.", value=since)
        yield GaugeMetricFamily(f"{PREFIX}stalled", "1 while messages wait and no batch has "
                                "finished for PLAYHEAD_STALL_SECONDS.", value=int(stalled))
        yield GaugeMetricFamily(f"{PREFIX}sink_retrying", "1 while a write to ClickHouse is "
                                "held and retried (the warehouse is away or refuses it).",
                                value=int(self._m.progress.sink_error is not None))
        set_aside = CounterMetricFamily(f"{PREFIX}sink_set_aside",
                                        SET_ASIDE_HELP)
        set_aside.add_metric([], counters.sessions["set_aside"])
        yield set_aside
        through = GaugeMetricFamily(
            f"{PREFIX}complete_through_seconds",
            "Per owned partition, the lowest complete-through bound (Unix seconds) this worker "
            "last wrote: nothing dated before it changes again. It trails the clock by about "
            "the lateness window; one that stops advancing holds every organization's "
            "watermark back.", labels=["partition"])
        for partition, bound in sorted(self._m.complete_through().items()):
            through.add_metric([str(partition)], bound)
        yield through
        written = GaugeMetricFamily(f"{PREFIX}complete_through_written_seconds",
                                    "When this worker last wrote complete-through bounds "
                                    "to the warehouse (Unix seconds); absent until it has.")
        if (at := self._m.complete_through_written()) is not None:
            written.add_metric([], at)
        yield written
        yield GaugeMetricFamily(f"{PREFIX}open_sessions", "Open sessions in owned partitions.",
                                value=self._m.open_sessions())
        memory = GaugeMetricFamily(
            f"{PREFIX}state_memory_bytes",
            "The state store's (RocksDB's) memory: cache (data, index and filter blocks and "
            "the memtables charged to it), cache_pinned, memtables, and its bound.",
            labels=["use"])
        for use, size in sorted(self._m.state_memory().items()):
            memory.add_metric([use], size)
        yield memory
