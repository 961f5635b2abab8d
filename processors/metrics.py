"""The worker's Prometheus metrics, served as text on ``PLAYHEAD_METRICS_PORT``.

The hot path only bumps plain counters (``WorkerCounters``); they are turned
into Prometheus families when scraped, so an event costs no lock or label
lookup. Sink timings are observed once per batch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Histogram, start_http_server
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
    "late": "Events for sessions past their lateness window (dead-lettered as late).",
}


class WorkerMetrics:
    def __init__(self, counters: WorkerCounters, open_sessions: Callable[[], int],
                 state_memory: Callable[[], dict[str, int]] = dict):
        self.registry = CollectorRegistry()
        self.counters = counters
        self.open_sessions = open_sessions
        self.state_memory = state_memory
        self.lag: dict[int, int] = {}  # partition -> messages behind the high watermark
        self.sink_batch = Histogram(
            f"{PREFIX}sink_batch_sessions", "Sessions written to ClickHouse per batch.",
            buckets=(1, 5, 10, 25, 50, 100, 250, 500, 1000, 5000), registry=self.registry)
        self.sink_seconds = Histogram(
            f"{PREFIX}sink_seconds", "Time to write one batch to ClickHouse, retries included.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry)
        self.registry.register(_Totals(self))

    def serve(self, host: str, port: int) -> bool:
        if not port:
            return False
        try:
            start_http_server(port, addr=host, registry=self.registry)
        except OSError as err:
            # Metrics are worth a warning, not a stopped pipeline.
            log.warning("metrics not served: cannot listen on %s:%s: %s", host, port, err)
            return False
        log.info("metrics on http://%s:%s/metrics", host, port)
        return True


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
        for reason in sorted({"late", "undecodable", "invalid", "empty", *counters.dead_letters}):
            dead.add_metric([reason], counters.dead_letters[reason])
        yield dead
        lag = GaugeMetricFamily(f"{PREFIX}consumer_lag",
                                "Messages of an owned partition not yet processed.",
                                labels=["partition"])
        for partition, behind in sorted(dict(self._m.lag).items()):
            lag.add_metric([str(partition)], behind)
        yield lag
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
