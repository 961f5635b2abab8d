"""`playhead status` tells a stalled worker from a working one.

The worker's metrics (and /livez, and the warehouse's HTTP interface) are
played by a real HTTP server serving canned answers: what is tested is how
status reads and judges them, not the worker (tests/e2e covers the worker).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import REPO, free_port

from config.settings import Settings, to_env
from devkit import status
from devkit.status import KafkaFigures, PartitionLag

HEALTHY = """\
# HELP playhead_worker_seconds_since_progress Seconds since the worker last finished a batch.
# TYPE playhead_worker_seconds_since_progress gauge
playhead_worker_seconds_since_progress 0.8
# TYPE playhead_worker_stalled gauge
playhead_worker_stalled 0.0
# TYPE playhead_worker_consumer_lag gauge
playhead_worker_consumer_lag{partition="0"} 30.0
playhead_worker_consumer_lag{partition="1"} 12.0
# TYPE playhead_worker_sink_set_aside counter
playhead_worker_sink_set_aside_total 0.0
# TYPE playhead_worker_dead_letters counter
playhead_worker_dead_letters_total{reason="late"} 3.0
playhead_worker_dead_letters_total{reason="sink_refused"} 0.0
# TYPE playhead_worker_open_sessions gauge
playhead_worker_open_sessions 17.0
# TYPE playhead_worker_state_memory_bytes gauge
playhead_worker_state_memory_bytes{use="bound"} 3.3554432e+07
playhead_worker_state_memory_bytes{use="cache"} 1.048576e+07
playhead_worker_state_memory_bytes{use="memtables"} 2.097152e+06
"""


def stalled_metrics(*, seconds: float = 340.4, set_aside: float = 0.0,
                    verdict: bool | None = True) -> str:
    text = (HEALTHY
            .replace("progress 0.8", f"progress {seconds}")
            .replace('partition="0"} 30.0', 'partition="0"} 700.0')
            .replace('partition="1"} 12.0', 'partition="1"} 500.0')
            .replace("set_aside_total 0.0", f"set_aside_total {set_aside}")
            .replace('reason="sink_refused"} 0.0', f'reason="sink_refused"}} {set_aside}'))
    if verdict is None:  # a worker that exports no verdict of its own
        return text.replace("playhead_worker_stalled 0.0\n", "")
    return text.replace("playhead_worker_stalled 0.0", f"playhead_worker_stalled {int(verdict)}.0")


@dataclass
class Fake:
    """What the fake worker and warehouse answer; tests change it between calls."""

    metrics: str = HEALTHY
    livez: tuple[int, dict[str, object]] = (200, {"status": "ok"})
    warehouse: tuple[int, str] = (200, "26.9.2.1\t100\t5260\n")
    paths: list[str] = field(default_factory=list)


@pytest.fixture
def fake() -> Iterator[tuple[Fake, int]]:
    answers = Fake()

    class Handler(BaseHTTPRequestHandler):
        def _send(self, code: int, body: str, kind: str) -> None:
            data = body.encode()
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            answers.paths.append(self.path)
            if self.path == "/metrics":
                self._send(200, answers.metrics, "text/plain; version=0.0.4")
            elif self.path == "/livez":
                code, body = answers.livez
                self._send(code, json.dumps(body), "application/json")
            else:
                self._send(404, "not found", "text/plain")

        def do_POST(self) -> None:  # noqa: N802
            # The warehouse's HTTP interface: status asks one query.
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self._send(*answers.warehouse, "text/tab-separated-values")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    # shutdown() waits for serve_forever's next poll: 0.5 s by default, at every teardown.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                              daemon=True)
    thread.start()
    try:
        yield answers, server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def settings(fake: tuple[Fake, int], tmp_path: Path) -> Settings:
    port = fake[1]
    return Settings(state_dir=tmp_path, metrics_host="0.0.0.0", metrics_port=port,
                    clickhouse_url=f"http://127.0.0.1:{port}",
                    kafka_bootstrap=f"127.0.0.1:{free_port()}")


@pytest.fixture
def kafka_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """Kafka answering: committed offsets behind the ends, two dead letters held."""
    figures = KafkaFigures([PartitionLag(0, 100, 800), PartitionLag(1, 60, 560)], dead_letters=2)
    monkeypatch.setattr(status, "kafka_figures", lambda _settings: figures)


def line(lines: list[str], start: str) -> str:
    return next(entry for entry in lines if entry.startswith(start))


@pytest.mark.usefixtures("kafka_up")
def test_a_working_worker_shows_its_last_batch(fake: tuple[Fake, int],
                                               settings: Settings) -> None:
    lines = status.report(settings)
    assert line(lines, "progress") == (
        "progress        last batch finished 0.8 s ago, 42 messages waiting")
    assert not any("likely cause" in entry for entry in lines)
    assert line(lines, "open sessions") == (
        f"open sessions   17 (http://127.0.0.1:{fake[1]}/metrics)")
    assert line(lines, "dead letters") == (
        "dead letters    2 held in playhead.events.dlq; this worker since its start: late 3")
    assert line(lines, "warehouse").startswith("warehouse       ClickHouse 26.9.2.1 at")
    assert "/livez" not in fake[0].paths  # asked only when stalled
    assert status.worker_process_state(True, settings, status.worker_gauges(settings)) == "running"


@pytest.mark.usefixtures("kafka_up")
def test_a_stalled_worker_says_so_and_what_to_check(fake: tuple[Fake, int],
                                                    settings: Settings) -> None:
    answers, _ = fake
    answers.metrics = stalled_metrics()
    answers.livez = (503, {"status": "stalled", "seconds_since_progress": 340.4, "lag": 1200,
                           "detail": "ClickHouse refused the batch's insert 14 times"})
    lines = status.report(settings)
    assert line(lines, "progress") == (
        "progress        worker stalled: no batch finished for 340 s with 1200 messages waiting")
    # Kafka and the warehouse answer here, nothing was set aside: the worker's log tells.
    cause = line(lines, "  likely cause")
    assert "retries a write the warehouse refuses, or it is wedged" in cause, cause
    assert "the warehouse answers here" in cause
    advice = line(lines, "  next")
    assert "read the worker's log" in advice and "/livez" in advice, advice
    assert line(lines, "  worker says") == (
        "  worker says   ClickHouse refused the batch's insert 14 times")
    assert lines.index(line(lines, "  worker says")) < lines.index(cause)  # its word first
    assert status.worker_process_state(True, settings, status.worker_gauges(settings)) == (
        "stalled: no batch finished for 340 s with 1200 messages waiting")
    assert status.worker_process_state(False, settings, status.worker_gauges(settings)) == (
        "stopped")


@pytest.mark.usefixtures("kafka_up")
def test_a_stall_behind_a_refusing_warehouse_points_at_the_warehouse(
        fake: tuple[Fake, int], settings: Settings) -> None:
    answers, _ = fake
    answers.metrics = stalled_metrics()
    answers.warehouse = (500, "Code: 243. DB::Exception: Cannot reserve 1.00 MiB, not enough "
                              "space. (NOT_ENOUGH_SPACE)\n")
    lines = status.report(settings)
    assert "worker stalled" in line(lines, "progress")
    assert "the warehouse does not take queries" in line(lines, "  likely cause")
    assert "fix the warehouse" in line(lines, "  next")
    assert "NOT_ENOUGH_SPACE" in line(lines, "warehouse")
    assert not any(entry.startswith("  worker says") for entry in lines)  # /livez said nothing


@pytest.mark.usefixtures("kafka_up")
def test_sessions_set_aside_by_the_warehouse_are_shown_and_named_as_the_cause(
        fake: tuple[Fake, int], settings: Settings) -> None:
    answers, _ = fake
    answers.metrics = stalled_metrics(set_aside=4)
    lines = status.report(settings)
    assert line(lines, "dead letters").endswith(
        "this worker since its start: late 3, sink_refused 4; "
        "4 sessions set aside (refused by the warehouse for their content)")
    cause = line(lines, "  likely cause")
    assert cause.startswith("  likely cause  the warehouse refused 4 sessions for their content")


def test_a_stall_with_kafka_unreachable_points_at_kafka(fake: tuple[Fake, int],
                                                        settings: Settings) -> None:
    fake[0].metrics = stalled_metrics()
    lines = status.report(settings)  # the real probe, against a port nothing listens on
    assert line(lines, "  kafka not reachable")
    assert line(lines, "  likely cause").startswith("  likely cause  Kafka does not answer")


@pytest.mark.usefixtures("kafka_up")
def test_without_the_workers_verdict_status_applies_the_same_rule(
        fake: tuple[Fake, int], settings: Settings) -> None:
    answers, _ = fake
    answers.metrics = stalled_metrics(seconds=90, verdict=None)
    assert line(status.report(settings), "progress") == (
        "progress        last batch finished 90.0 s ago, 1200 messages waiting")
    longer = settings.model_copy(update={"stall_seconds": 60.0})
    assert line(status.report(longer), "progress").startswith(
        "progress        worker stalled: no batch finished for 90 s")
    # A worker that finished nothing for long but has nothing waiting is idle, not stalled.
    answers.metrics = stalled_metrics(seconds=900, verdict=None).replace(
        "700.0", "0.0").replace("500.0", "0.0")
    assert line(status.report(settings), "progress") == (
        "progress        last batch finished 900.0 s ago, nothing waiting")


@pytest.mark.usefixtures("kafka_up")
def test_an_older_worker_or_a_silent_one_leaves_progress_unknown(
        fake: tuple[Fake, int], settings: Settings) -> None:
    answers, port = fake
    answers.metrics = "playhead_worker_open_sessions 3.0\n"
    assert line(status.report(settings), "progress") == (
        f"progress        unknown: http://127.0.0.1:{port}/metrics has no "
        "playhead_worker_seconds_since_progress")
    gone = settings.model_copy(update={"metrics_port": free_port()})
    scraped = status.worker_gauges(gone)
    assert line(status.report(gone, scraped), "progress").startswith(
        "progress        unknown: worker metrics not reachable")
    assert status.worker_process_state(True, gone, scraped) == (
        "running  (its metrics do not answer: see below)")


def test_playhead_status_prints_a_stalled_worker_in_the_process_table(
        fake: tuple[Fake, int], settings: Settings) -> None:
    fake[0].metrics = stalled_metrics()
    # The worker's pid file names a live process (this one): the process table says running...
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    (settings.run_dir / "worker.pid").write_text(str(os.getpid()))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLAYHEAD_")}
    shown = subprocess.run([sys.executable, "-m", "playhead", "status"], cwd=REPO, text=True,
                           env={**env, **to_env(settings)}, capture_output=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    # ... unless the worker's own gauges say it gets nothing done.
    assert ("worker     stalled: no batch finished for 340 s with 1200 messages waiting"
            in shown.stdout), shown.stdout
    assert "worker     running" not in shown.stdout
    assert "gateway    stopped" in shown.stdout


@pytest.mark.usefixtures("kafka_up")
def test_status_reads_the_real_workers_metrics(tmp_path: Path) -> None:
    """The worker's own metrics server (processors/metrics.py), stalled by its clock."""
    from aiokafka import TopicPartition

    from processors.handling import WorkerCounters
    from processors.metrics import Progress, WorkerMetrics

    now = [1000.0]
    progress = Progress(stall_seconds=120.0, clock=lambda: now[0])
    tps = TopicPartition("playhead.events", 0), TopicPartition("playhead.events", 1)
    progress.batch_done({tps[0]: 99, tps[1]: 199}, {tps[0]: 500, tps[1]: 500})
    counters = WorkerCounters()
    server = WorkerMetrics(counters, lambda: 5, progress=progress).serve("127.0.0.1", free_port())
    assert server is not None
    settings = Settings(state_dir=tmp_path, metrics_port=server.server_address[1],
                        clickhouse_url=f"http://127.0.0.1:{free_port()}")
    try:
        now[0] += 2
        lines = status.report(settings)
        assert line(lines, "progress") == (
            "progress        last batch finished 2.0 s ago, 700 messages waiting")
        now[0] += 300
        counters.dead_letters["late"] += 2
        lines = status.report(settings)
        assert line(lines, "progress") == (
            "progress        worker stalled: no batch finished for 302 s with 700 messages waiting")
        assert line(lines, "  worker says").startswith("  worker says   no batch finished")
        # Nothing answers on the warehouse's address here: the warehouse is the likely cause.
        assert "the warehouse does not take queries" in line(lines, "  likely cause")
        assert "this worker since its start: late 2" in line(lines, "dead letters")
    finally:
        server.shutdown()
        server.server_close()
