"""Events per second through one gateway process, beside a raw aiokafka producer.

Starts a broker of its own, then in the same run:

1. raw: one aiokafka producer (acks=all, idempotent) sending already-encoded
   canonical events as fast as it can: the ceiling Kafka sets on this machine;
2. gateway: one `playhead gateway` process loaded by wrk with Omny requests of
   100 events (25 sessions x 4 events), every answer waiting for Kafka's ack.

Prints progress on stderr and one JSON line on stdout at the end.
Usage: .venv/bin/python bench/gateway_throughput.py [--seconds 20] [--connections 16]
       [--processes 1]

``--in-process`` measures instead, without Kafka or a server, the CPU time per
event of one such request through the app and of each stage (parse, judge:
validation, conversion and bounds; encoding), the best of several rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from config.settings import Settings, to_env  # noqa: E402
from devkit.local import services  # noqa: E402
from devkit.local.kafka import KafkaBroker  # noqa: E402
from processors.topics import ensure_topics  # noqa: E402
from schemas import event_codec  # noqa: E402
from schemas.event import EventKind, PlaybackEvent  # noqa: E402

EVENTS_PER_REQUEST = 100


def say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def omny_body(org: str, now: float) -> dict[str, object]:
    clip = str(uuid.uuid4())
    events = []
    for _ in range(EVENTS_PER_REQUEST // 4):
        session = str(uuid.uuid4())
        for seq, (kind, position, offset) in enumerate(
                [("Start", 0, -300), ("Stop", 120, -180), ("Start", 200, -180),
                 ("Stop", 260, -120)], start=1):
            events.append({"OrganizationId": org, "ClipId": clip, "SessionId": session,
                           "Type": kind, "Position": position, "SeqNumber": seq,
                           "Timestamp": int(now + offset)})
    return {"Source": "MobileApp", "Events": events, "Completed": True}


async def raw_producer(settings: Settings, seconds: float) -> float:
    codec = event_codec()
    now = time.time()
    messages = [
        (f"org/s{i % 5000}".encode(),
         codec.encode(PlaybackEvent(f"raw-{i}", "org", f"s{i % 5000}", "clip", "Web",
                                    EventKind.START, float(i), i, now).to_record()))
        for i in range(20_000)]
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all",
                                enable_idempotence=True, linger_ms=5)
    await producer.start()
    sent = 0
    started = time.perf_counter()
    try:
        while time.perf_counter() - started < seconds:
            futures = [await producer.send(settings.events_topic, value, key=key)
                       for key, value in messages[:2000]]
            await asyncio.gather(*futures)
            sent += len(futures)
            messages = messages[2000:] + messages[:2000]
    finally:
        await producer.stop()
    return sent / (time.perf_counter() - started)


def wrk_gateway(
    settings: Settings, seconds: float, connections: int, work: Path
) -> dict[str, float]:
    org = str(uuid.uuid4())
    body = json.dumps(omny_body(org, time.time()))
    script = work / "post.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = {json.dumps(body)}\n"
        "done = function(summary, latency, requests)\n"
        '  io.write(string.format("RESULT %d %d %d %d\\n", summary.requests, '
        "summary.errors.status + summary.errors.connect + summary.errors.read + "
        "summary.errors.write + summary.errors.timeout, latency:percentile(50), "
        "latency:percentile(99)))\n"
        "end\n")
    url = f"{settings.gateway_url}/api/consumption/events?organizationId={org}"
    run = subprocess.run(["wrk", "-t", "1", "-c", str(connections), "-d", f"{seconds:.0f}s",
                          "--latency", "-s", str(script), url],
                         capture_output=True, text=True, timeout=seconds + 60)
    line = next(x for x in run.stdout.splitlines() if x.startswith("RESULT"))
    requests, errors, p50, p99 = (int(x) for x in line.split()[1:])
    return {"requests": requests, "errors": errors, "p50_ms": p50 / 1000, "p99_ms": p99 / 1000,
            "events_per_s": (requests - errors) * EVENTS_PER_REQUEST / seconds}


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time of ``pids`` and their children so far, in seconds."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    return total / ticks


def gateway_pids(settings: Settings) -> list[int]:
    """The gateway's process and, with several, uvicorn's worker processes."""
    parent = services.status(settings, "gateway").pid
    if parent is None:
        return []
    children = Path(f"/proc/{parent}/task/{parent}/children")
    found = [int(x) for x in children.read_text().split()] if children.exists() else []
    return [parent, *found]


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU jiffies of the whole machine so far, from /proc/stat."""
    values = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def answers(settings: Settings) -> dict[str, float]:
    """The gateway's answers so far by status, from its own metrics."""
    text = httpx.get(f"{settings.gateway_url}/metrics", timeout=5).text
    found: dict[str, float] = {}
    for status, value in re.findall(
            r'^playhead_gateway_requests_total\{[^}]*status="(\d+)"[^}]*\} (\S+)$', text, re.M):
        found[status] = found.get(status, 0.0) + float(value)
    return found


class EncodingPublisher:
    """Encodes and partitions what it is given as the Kafka publisher does; sends nothing."""

    def __init__(self) -> None:
        self.producer: Any = None

    async def publish(self, events: Any) -> None:
        from schemas.partitioner import partition_of
        if self.producer is None:
            from schemas.producer import EventProducer
            self.producer = EventProducer("127.0.0.1:9")  # never started
        for key, _, _ in self.producer.records(list(events)):
            partition_of(key, 4)

    async def publish_dead_letters(self, letters: Any) -> None:
        raise AssertionError("the bench's requests are valid")

    async def close(self) -> None:
        if self.producer is not None:
            await self.producer.stop()

    async def ready(self) -> bool:
        return True


def best_per_event(run: Any, rounds: int = 7, repeat: int = 50) -> float:
    """The least CPU time per event of ``repeat`` calls, over ``rounds`` rounds, in µs."""
    run()
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(repeat):
            run()
        best = min(best, (time.process_time() - started) / repeat)
    return best / EVENTS_PER_REQUEST * 1e6


def in_process() -> dict[str, float]:
    from control.registry import Registry
    from ingest.app import create_app
    from ingest.dialects import omny
    from ingest.routes.omny import judge

    org = str(uuid.uuid4())
    raw = json.dumps(omny_body(org, time.time())).encode()
    publisher = EncodingPublisher()
    app = create_app(Settings(), publisher=publisher, control=Registry())
    gateway = app.state.gateway
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": "/api/consumption/events",
             "raw_path": b"/api/consumption/events", "root_path": "",
             "query_string": f"organizationId={org}".encode(),
             "headers": [(b"host", b"bench"), (b"content-type", b"application/json"),
                         (b"content-length", str(len(raw)).encode())],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    statuses: set[int] = set()

    async def request() -> None:
        messages = [{"type": "http.request", "body": raw, "more_body": False}]

        async def receive() -> Any:
            return messages.pop() if messages else {"type": "http.disconnect"}

        async def send(message: Any) -> None:
            if message["type"] == "http.response.start":
                statuses.add(message["status"])

        await app(dict(scope), receive, send)

    loop = asyncio.new_event_loop()
    try:
        whole = best_per_event(lambda: loop.run_until_complete(request()))
        assert statuses == {200}, statuses
        body = omny.OmnyEnvelope.model_validate_json(raw)
        context = gateway.context(org, "Events")
        events = judge(gateway, body, context).events
        loop.run_until_complete(publisher.publish(events))  # the producer, once
        stages = {
            "parse: JSON and envelope": best_per_event(
                lambda: omny.OmnyEnvelope.model_validate_json(raw)),
            "judge: validate, convert, bounds": best_per_event(
                lambda: judge(gateway, body, context)),
            "encode: records() with partitions": best_per_event(
                lambda: loop.run_until_complete(publisher.publish(events))),
        }
        loop.run_until_complete(publisher.close())
    finally:
        loop.close()
    return {"whole request through the app": whole, **stages}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--processes", type=int, default=1,
                        help="gateway processes sharing the port (PLAYHEAD_GATEWAY_PROCESSES)")
    parser.add_argument("--in-process", action="store_true",
                        help="CPU time per event in this process, by stage; no Kafka, no wrk")
    args = parser.parse_args()
    if args.in_process:
        figures = in_process()
        for stage, micros in figures.items():
            say(f"{stage}: {micros:.1f} µs/event")
        print(json.dumps({"benchmark": "gateway_in_process", "date": time.strftime("%Y-%m-%d"),
                          "us_per_event": {k: round(v, 2) for k, v in figures.items()}}))
        return
    if shutil.which("wrk") is None:
        sys.exit("bench needs wrk: `apt-get install wrk` (make bench installs it)")
    work = Path(tempfile.mkdtemp(prefix="playhead-bench-"))
    settings = Settings(state_dir=work, kafka_bootstrap="127.0.0.1:19792",
                        kafka_controller_port=19793, gateway_port=19780,
                        kafka_libs_dir=REPO / ".playhead" / "kafka" / "libs-3.9.1",
                        events_topic="bench.events", topic_partitions=4)
    broker = KafkaBroker(settings)
    say("starting Kafka")
    broker.up(timeout=300)
    try:
        ensure_topics(settings)
        say(f"raw aiokafka producer for {args.seconds:.0f}s")
        raw = asyncio.run(raw_producer(settings, args.seconds))
        say(f"raw: {raw:,.0f} events/s; starting the gateway, {args.processes} process(es)")
        services.start(settings, "gateway", ["gateway"],
                       services.http_ok(f"{settings.gateway_url}/healthz"),
                       env={**to_env(settings), "PLAYHEAD_LOG_LEVEL": "warning",
                            "PLAYHEAD_GATEWAY_PROCESSES": str(args.processes)})
        wrk_gateway(settings, 3, args.connections, work)  # warm up: producer, caches
        say(f"gateway under wrk, {args.connections} connections, {args.seconds:.0f}s")
        before = answers(settings)
        pids = gateway_pids(settings)
        cpu_before, busy_before = cpu_seconds(pids), machine_busy()
        gateway = wrk_gateway(settings, args.seconds, args.connections, work)
        # CPU the gateway used per second of the run: near 1 per process means it
        # is CPU-bound, well below means it waited (on Kafka, or for a core).
        gateway_cpu = (cpu_seconds(pids) - cpu_before) / args.seconds
        busy_after = machine_busy()
        machine = (busy_after[0] - busy_before[0]) / max(1, busy_after[1] - busy_before[1])
        statuses = {status: count - before.get(status, 0)
                    for status, count in answers(settings).items()
                    if count - before.get(status, 0) and not status.startswith("2")}
        say(f"gateway: {gateway['events_per_s']:,.0f} events/s; not 2xx: {statuses or 'none'}; "
            f"gateway CPU {gateway_cpu:.2f} cores, machine {machine:.0%} busy")
        if statuses:  # why, in the gateway's own words
            log = services.log_file(settings, "gateway").read_text(errors="replace")
            for line in [x for x in log.splitlines() if '"level": "error"' in x
                         or '"level": "warning"' in x][:5]:
                say(f"gateway log: {line[:400]}")
    finally:
        services.stop(settings, "gateway")
        broker.down()
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({
        "benchmark": "gateway_throughput", "date": time.strftime("%Y-%m-%d"),
        "cpus": os.cpu_count(), "events_per_request": EVENTS_PER_REQUEST,
        "gateway_processes": args.processes,
        "gateway_events_per_s": round(gateway["events_per_s"]),
        "raw_producer_events_per_s": round(raw),
        "gateway_share_of_raw": round(gateway["events_per_s"] / raw, 3),
        "gateway_p50_ms": gateway["p50_ms"], "gateway_p99_ms": gateway["p99_ms"],
        "gateway_errors": gateway["errors"], "gateway_errors_by_status": statuses,
        "gateway_cpu_cores": round(gateway_cpu, 2),
        "gateway_events_per_cpu_second": round(gateway["events_per_s"] / max(gateway_cpu, 1e-9)),
        "machine_busy_share": round(machine, 2), "load_average": os.getloadavg()}))


if __name__ == "__main__":
    main()
