"""What an operator wants on one screen: consumer lag, open sessions, dead letters, warehouse.

Every probe is bounded (a few seconds) and reports what it could not reach
instead of failing, so `playhead status` answers even when half the platform
is down. Lag is the consumer group's committed offset against each
partition's end offset, read with the admin and consumer APIs (aiokafka's
``describe_consumer_groups`` fails against Kafka 3.9, so it is not used).

A running worker process is not a working one: the worker's own gauges say
when it last finished a batch and how many messages wait for it, and a worker
with messages waiting that has finished none for ``PLAYHEAD_STALL_SECONDS`` is
shown as stalled, with the likeliest cause and what to do next.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlparse

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from config.settings import Settings

TIMEOUT = 4.0  # seconds per probe; a status screen must not hang on a dead part


@dataclass(frozen=True)
class PartitionLag:
    partition: int
    committed: int | None  # None: the group has committed nothing here yet
    end: int

    @property
    def lag(self) -> int:
        # Nothing committed yet: everything retained is still to be read.
        return self.end - (self.committed or 0)


@dataclass
class KafkaFigures:
    partitions: list[PartitionLag] = field(default_factory=list)
    dead_letters: int | None = None  # messages held in the dead-letter topic
    error: str | None = None

    @property
    def total_lag(self) -> int:
        return sum(p.lag for p in self.partitions)


async def _kafka_figures(settings: Settings) -> KafkaFigures:
    timeout_ms = int(TIMEOUT * 1000)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap,
                                request_timeout_ms=timeout_ms)
    figures = KafkaFigures()
    await admin.start()
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap,
                                request_timeout_ms=timeout_ms, enable_auto_commit=False)
    try:
        await consumer.start()
        # Only existing topics are named: asking for a missing one can make a
        # broker that allows auto-creation create it with the wrong size.
        names = set(await admin.list_topics())
        topics = [t for t in (settings.events_topic, settings.dead_letter_topic) if t in names]
        described = await admin.describe_topics(topics) if topics else []
        parts = {t["topic"]: sorted(p["partition"] for p in t["partitions"]) for t in described}
        events = [TopicPartition(settings.events_topic, p)
                  for p in parts.get(settings.events_topic, [])]
        dlq = [TopicPartition(settings.dead_letter_topic, p)
               for p in parts.get(settings.dead_letter_topic, [])]
        ends = await consumer.end_offsets(events + dlq) if events or dlq else {}
        if events:
            committed = await admin.list_consumer_group_offsets(
                settings.worker_id, partitions=events)
            for tp in events:
                meta = committed.get(tp)
                offset = meta.offset if meta is not None and meta.offset >= 0 else None
                figures.partitions.append(PartitionLag(tp.partition, offset, ends[tp]))
        if dlq:
            starts = await consumer.beginning_offsets(dlq)
            figures.dead_letters = sum(ends[tp] - starts[tp] for tp in dlq)
    finally:
        await consumer.stop()
        await admin.close()
    return figures


@contextmanager
def _quiet(*names: str) -> Iterator[None]:
    # aiokafka logs every refused connection at error level and httpx every
    # request at info: the screen says what matters once, in its own words.
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def kafka_figures(settings: Settings) -> KafkaFigures:
    try:
        with _quiet("aiokafka"):
            return asyncio.run(asyncio.wait_for(_kafka_figures(settings), TIMEOUT * 3))
    except Exception as err:
        return KafkaFigures(error=str(err) or type(err).__name__)


def worker_url(settings: Settings, path: str = "/metrics") -> str:
    # A worker listening on all addresses is reached on loopback from here.
    host = settings.metrics_host
    host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    return f"http://{host}:{settings.metrics_port}{path}"


def metrics_url(settings: Settings) -> str:
    return worker_url(settings, "/metrics")


# One sample line of Prometheus' text format: name{labels} value.
_SAMPLE = re.compile(r"^(playhead_worker_[a-z0-9_]+(?:\{[^}]*\})?) (\S+)$", re.M)


def worker_gauges(settings: Settings) -> tuple[dict[str, float] | None, str]:
    """The worker's samples (gauges and counters) by sample name, or None and why not known."""
    if not settings.metrics_port:
        return None, "worker metrics are off (PLAYHEAD_METRICS_PORT=0)"
    url = metrics_url(settings)
    try:
        answer = httpx.get(url, timeout=TIMEOUT)
    except httpx.HTTPError as err:
        return None, f"worker metrics not reachable at {url} ({type(err).__name__})"
    if answer.status_code != 200:
        return None, f"worker metrics at {url} answered {answer.status_code}"
    return {name: float(value) for name, value in _SAMPLE.findall(answer.text)}, url


Gauges = tuple[dict[str, float] | None, str]


def _samples(gauges: dict[str, float], name: str) -> dict[str, float]:
    """A family's samples by their labels' text (`partition="0"`; "" for none)."""
    found = {}
    for sample, value in gauges.items():
        if sample == name:
            found[""] = value
        elif sample.startswith(name + "{"):
            found[sample[len(name) + 1:-1]] = value
    return found


def _by_label(gauges: dict[str, float], name: str, label: str) -> dict[str, float]:
    found = {}
    for labels, value in _samples(gauges, name).items():
        match = re.search(rf'(?:^|,){label}="([^"]*)"', labels)
        if match:
            found[match.group(1)] = value
    return found


def open_sessions(settings: Settings, scraped: Gauges | None = None) -> tuple[int | None, str]:
    """The worker's open-session gauge, or None and why it is not known."""
    gauges, source = scraped or worker_gauges(settings)
    if gauges is None:
        return None, source
    if "playhead_worker_open_sessions" not in gauges:
        return None, f"{source} has no playhead_worker_open_sessions"
    return int(gauges["playhead_worker_open_sessions"]), source


def state_store_line(scraped: Gauges) -> str:
    gauges, source = scraped
    if gauges is None:
        return f"unknown: {source}"
    use = 'playhead_worker_state_memory_bytes{{use="{}"}}'.format
    if use("bound") not in gauges:
        return f"unknown: {source} has no playhead_worker_state_memory_bytes"
    mib = {name: gauges.get(use(name), 0.0) / 2**20 for name in ("cache", "memtables", "bound")}
    return (f"{mib['cache']:.1f} of {mib['bound']:.0f} MiB in memory "
            f"({mib['memtables']:.1f} MiB memtables; PLAYHEAD_STATE_MEMORY_MIB)")


@dataclass(frozen=True)
class Progress:
    """Whether the worker gets anything done, from its own gauges."""

    seconds: float  # since it last finished a batch
    waiting: int  # messages of its partitions not yet processed, at scrape time
    stalled: bool

    @property
    def phrase(self) -> str:
        if self.stalled:
            return (f"worker stalled: no batch finished for {self.seconds:.0f} s "
                    f"with {self.waiting} messages waiting")
        waiting = f"{self.waiting} messages waiting" if self.waiting else "nothing waiting"
        return f"last batch finished {self.seconds:.1f} s ago, {waiting}"


def progress(settings: Settings, scraped: Gauges) -> tuple[Progress | None, str]:
    """The worker's progress, or None and why it is not known.

    ``playhead_worker_stalled`` is the worker's own verdict (the rule of its
    /livez). A worker that exports only the seconds since progress is judged
    here by the same rule with this side's ``stall_seconds``.
    """
    gauges, source = scraped
    if gauges is None:
        return None, source
    seconds = gauges.get("playhead_worker_seconds_since_progress")
    if seconds is None:
        return None, f"{source} has no playhead_worker_seconds_since_progress"
    # No lag samples: the worker owns no partition, so nothing waits for it.
    waiting = int(sum(_samples(gauges, "playhead_worker_consumer_lag").values()))
    verdict = gauges.get("playhead_worker_stalled")
    stalled = verdict >= 1 if verdict is not None else (
        waiting > 0 and seconds > settings.stall_seconds)
    return Progress(seconds, waiting, stalled), source


def livez_detail(settings: Settings) -> str | None:
    """What the worker's /livez says about its stall, if it says anything."""
    try:
        answer = httpx.get(worker_url(settings, "/livez"), timeout=TIMEOUT)
        body = answer.json()
    except (httpx.HTTPError, ValueError):
        return None
    detail = body.get("detail") if isinstance(body, dict) else None
    return str(detail) if detail else None


def _worker_log(settings: Settings) -> str:
    from devkit.local.services import log_file

    log = log_file(settings, "worker")
    return str(log) if log.exists() else "`kubectl logs` of the worker pod"


def stall_advice(settings: Settings, gauges: dict[str, float], kafka: KafkaFigures,
                 warehouse_answers: bool | None) -> tuple[str, str]:
    """The likeliest cause of a stall and what to do next, from what this screen saw."""
    log = _worker_log(settings)
    set_aside = sum(_samples(gauges, "playhead_worker_sink_set_aside_total").values())
    refused = _by_label(gauges, "playhead_worker_dead_letters_total", "reason").get(
        "sink_refused", 0.0)
    if kafka.error:
        return ("Kafka does not answer here (see above); a worker that cannot reach it "
                "can neither fetch nor commit",
                "bring Kafka back; the worker resumes by itself")
    if warehouse_answers is False:
        return ("the warehouse does not take queries (see `warehouse` below): the worker "
                "retries its write with backoff and holds its offsets, so nothing is lost",
                "fix the warehouse (reachable, disk, too many parts, migrations); "
                f"the worker catches up by itself. Its log: {log}")
    if set_aside or refused:
        return (f"the warehouse refused {max(set_aside, refused):.0f} sessions for their "
                "content (set aside as sink_refused dead letters); it may refuse this "
                "batch for another reason, which the worker retries",
                f"read the refused insert and ClickHouse's error in the worker's log: {log}")
    answers = ("the warehouse answers here" if warehouse_answers
               else "the warehouse is not queried from here")
    return (f"Kafka and {answers}: the worker retries a write the warehouse refuses, "
            "or it is wedged",
            f"read the worker's log ({log}): a retried insert names ClickHouse's error; "
            "no line for minutes means a wedged worker: restart it (on Kubernetes its "
            "liveness probe on /livez does)")


def progress_lines(settings: Settings, scraped: Gauges, kafka: KafkaFigures,
                   warehouse_answers: bool | None) -> list[str]:
    state, source = progress(settings, scraped)
    if state is None:
        return [f"progress        unknown: {source}"]
    lines = [f"progress        {state.phrase}"]
    if state.stalled and scraped[0] is not None:
        # The worker's own word first (its /livez), then what this screen infers.
        detail = livez_detail(settings)
        if detail:
            lines.append(f"  worker says   {detail}")
        cause, action = stall_advice(settings, scraped[0], kafka, warehouse_answers)
        lines += [f"  likely cause  {cause}", f"  next          {action}"]
    return lines


def dead_letters_line(settings: Settings, figures: KafkaFigures, scraped: Gauges) -> str:
    dead = "unknown" if figures.dead_letters is None else str(figures.dead_letters)
    line = f"{dead} held in {settings.dead_letter_topic}"
    gauges = scraped[0] or {}
    reasons = {r: n for r, n in sorted(_by_label(
        gauges, "playhead_worker_dead_letters_total", "reason").items()) if n}
    if reasons:
        line += "; this worker since its start: " + ", ".join(
            f"{reason} {n:.0f}" for reason, n in reasons.items())
    set_aside = sum(_samples(gauges, "playhead_worker_sink_set_aside_total").values())
    if set_aside:
        line += (f"; {set_aside:.0f} sessions set aside (refused by the warehouse for their "
                 "content)")
    return line


def _warehouse(settings: Settings) -> tuple[str, bool | None]:
    """The warehouse line, and whether the warehouse answered (None: not asked)."""
    url = settings.clickhouse_url
    if url.startswith("chdb://"):
        return (f"embedded chDB at {urlparse(url).path}, opened by the workers (not queried)",
                None)
    db = settings.clickhouse_database
    query = (f"SELECT version(), (SELECT max(number) FROM {db}.schema_migrations), "
             "(SELECT sum(rows) FROM system.parts WHERE active AND database = "
             f"'{db}' AND table = 'session_versions') FORMAT TabSeparated")
    try:
        answer = httpx.post(url.rstrip("/") + "/", content=query, timeout=TIMEOUT)
    except httpx.HTTPError as err:
        return f"not reachable at {url} ({type(err).__name__})", False
    if answer.status_code != 200:
        first = answer.text.strip().splitlines()[0] if answer.text.strip() else ""
        return f"{url} answered {answer.status_code}: {first[:160]}", False
    version, migration, rows = (answer.text.strip().split("\t") + ["", "", ""])[:3]
    return (f"ClickHouse {version} at {url}, database {db} at migration {migration}, "
            f"{rows or 0} session rows (before deduplication)"), True


def final_through_line(rows: list[tuple[str, str]], shown: int = 3) -> str:
    """The complete-through watermarks, oldest first (organization, instant or \\N) (pure)."""
    marks = [(org, stamp) for org, stamp in rows if org]
    shared = next((stamp for org, stamp in rows if not org), None)
    if not rows or shared in (None, "\\N"):
        return ("unknown: not every partition has reported yet (no worker has run, or "
                "PLAYHEAD_MAX_EVENT_AGE_SECONDS is 0: nothing is ever final)")
    if not marks:
        return f"{_instant(shared)}, every organization"
    parts = [f"{org} {_instant(stamp)}" for org, stamp in marks[:shown]]
    more = f"; {len(marks) - shown} more, all later" if len(marks) > shown else ""
    count = f"{len(marks)} organization" + ("s" if len(marks) > 1 else "")
    return ", ".join(parts) + more + f" (oldest first; {count})"


def _instant(stamp: str) -> str:
    return stamp[:19] + " UTC"


def completeness_line(settings: Settings) -> str:
    """Per organization, the instant before which no figure changes again (m0006)."""
    url = settings.clickhouse_url
    if url.startswith("chdb://"):
        return "embedded chDB, not queried"
    query = (f"SELECT organization_id, complete_through FROM {settings.clickhouse_database}"
             ".completeness ORDER BY complete_through, organization_id FORMAT TabSeparated")
    try:
        answer = httpx.post(url.rstrip("/") + "/", content=query, timeout=TIMEOUT)
    except httpx.HTTPError as err:
        return f"unknown: warehouse not reachable ({type(err).__name__})"
    if answer.status_code != 200:
        return "unknown: the warehouse has no view completeness (run `playhead migrate`)"
    rows = [tuple((line.split("\t") + [""])[:2]) for line in answer.text.splitlines() if line]
    return final_through_line([(org, stamp) for org, stamp in rows])


def rules_summary(rows: list[tuple[str, ...]], settings: Settings, shown: int = 5) -> str:
    """The qualifying-play rules (organization, source, day, min, threshold, width) (pure)."""
    default = (f"{settings.min_session_seconds:g} s, 95 %, {settings.bucket_seconds:g} s "
               "buckets")
    if not rows:
        return f"none: every organization counts with the deployment's {default}"
    if any(len(row) != 6 for row in rows):
        raise ValueError("a row of qualifying_rules has six columns")
    parts = [f"{org}{'/' + source if source else ''} from {day}: min {float(least):g} s, "
             f"complete at {float(share):g}, {int(width)} s buckets"
             for org, source, day, least, share, width in rows[:shown]]
    more = f"; {len(rows) - shown} more (playhead rules list)" if len(rows) > shown else ""
    return "; ".join(parts) + more + f" (others: {default})"


def rules_line(settings: Settings) -> str:
    """Each organization's qualifying-play rules (m0010; docs/operations/rules.md)."""
    query = ("SELECT organization_id, source, effective_day, min_session_seconds, "
             f"completion_threshold, bucket_seconds FROM {settings.clickhouse_database}"
             ".qualifying_rules FINAL ORDER BY organization_id, source, effective_day "
             "FORMAT TabSeparated")
    try:
        answer = httpx.post(settings.clickhouse_url.rstrip("/") + "/", content=query,
                            timeout=TIMEOUT)
    except httpx.HTTPError as err:
        return f"unknown: warehouse not reachable ({type(err).__name__})"
    if answer.status_code != 200:
        return "unknown: the warehouse has no table qualifying_rules (run `playhead migrate`)"
    rows = [tuple(line.split("\t")) for line in answer.text.splitlines() if line]
    try:
        return rules_summary(rows, settings)
    except ValueError:  # not the table's columns: an answer status cannot read
        return "unknown: the warehouse's answer about qualifying_rules was not understood"


def warehouse_line(settings: Settings) -> str:
    return _warehouse(settings)[0]


def report(settings: Settings, scraped: Gauges | None = None) -> list[str]:
    """The lines `playhead status` prints under the process table."""
    with _quiet("aiokafka", "httpx"):
        return _report(settings, scraped)


def _report(settings: Settings, scraped: Gauges | None) -> list[str]:
    figures = kafka_figures(settings)
    lines = [f"consumer group {settings.worker_id} on {settings.events_topic}:"]
    if figures.error:
        lines.append(f"  kafka not reachable at {settings.kafka_bootstrap}: {figures.error}")
    elif not figures.partitions:
        lines.append("  topic does not exist yet (created by `playhead up` or a worker)")
    else:
        lines.append(f"  {'partition':>9} {'committed':>12} {'end':>12} {'lag':>10}")
        for p in figures.partitions:
            committed = "-" if p.committed is None else str(p.committed)
            lines.append(f"  {p.partition:>9} {committed:>12} {p.end:>12} {p.lag:>10}")
        lines.append(f"  {'total':>9} {'':>12} {'':>12} {figures.total_lag:>10}")
    # Once per screen: an unreachable worker costs one timeout.
    scraped = scraped or worker_gauges(settings)
    warehouse, warehouse_answers = _warehouse(settings)
    lines += progress_lines(settings, scraped, figures, warehouse_answers)
    count, source = open_sessions(settings, scraped)
    lines.append(f"open sessions   {count} ({source})" if count is not None
                 else f"open sessions   unknown: {source}")
    lines.append(f"state store     {state_store_line(scraped)}")
    lines.append(f"dead letters    {dead_letters_line(settings, figures, scraped)}")
    lines.append(f"warehouse       {warehouse}")
    if warehouse_answers:
        lines.append(f"final through   {completeness_line(settings)}")
        lines.append(f"rules           {rules_line(settings)}")
    return lines


def worker_process_state(running: bool, settings: Settings, scraped: Gauges) -> str:
    """The worker's word in the process table: a live process is not always a working one."""
    if not running:
        return "stopped"
    state, _ = progress(settings, scraped)
    if state is not None and state.stalled:
        return state.phrase.removeprefix("worker ")
    if scraped[0] is None and settings.metrics_port:
        return "running  (its metrics do not answer: see below)"
    return "running"


def screen(settings: Settings) -> str:
    """All of `playhead status`: the local processes, then the report."""
    from devkit.local import platform, services
    from devkit.local.kafka import KafkaBroker

    with _quiet("aiokafka", "httpx"):
        scraped = worker_gauges(settings)
    broker = KafkaBroker(settings).status()
    lines = [f"kafka      {'running' if broker.running else 'stopped'}  {broker.bootstrap}"]
    where = {platform.GATEWAY: settings.gateway_url, platform.WAREHOUSE: settings.clickhouse_url,
             platform.WORKER: "", platform.API: settings.api_url}
    for name in (platform.WAREHOUSE, platform.GATEWAY, platform.WORKER, platform.API):
        running = services.status(settings, name).running
        state = (worker_process_state(running, settings, scraped) if name == platform.WORKER
                 else "running" if running else "stopped")
        lines.append(f"{name:<10} {state}  {where[name]}".rstrip())
    return "\n".join([*lines, "", *report(settings, scraped)])
