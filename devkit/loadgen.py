"""`playhead loadgen`: realistic Omny sessions at a steady rate through the gateway.

Each request is one completed listening session, as an Omny player sends it:
one to four listened intervals (pauses, resumes, skips ahead), about one in
seven under 10 s (counted but kept out of the curves), a few with an event
repeated inside the request, and a few requests sent twice (a client retry).
The expected figures of every session are computed with the pure core
(``processors.session.summarize``) over the very events sent, so a run can be
checked against what ClickHouse counted (``devkit.loadcheck``).
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from devkit.loadcheck import Expected
from ingest.dialects.context import DialectContext
from ingest.dialects.omny import OmnyRequest, OmnySource, to_events
from processors.session import Rules

SHORT_SHARE = 0.15  # sessions under 10 s
DUPLICATE_SHARE = 0.03  # one event repeated inside the request
RETRY_SHARE = 0.03  # the whole request sent again after its answer
CLIPS = 25
# A client retries refused requests the way the gateway asks (503 + Retry-After).
RETRIES = 5


@dataclass
class Progress:
    started: float = field(default_factory=time.monotonic)
    requests: int = 0  # sent, retries included
    accepted: int = 0  # sessions acknowledged (2xx)
    events: int = 0  # events in acknowledged requests, duplicates included
    errors: Counter[str] = field(default_factory=Counter)  # sessions given up, by cause
    retried: int = 0  # 503s and connection errors that were retried
    latencies: list[float] = field(default_factory=list)

    @property
    def elapsed(self) -> float:
        return max(time.monotonic() - self.started, 1e-9)

    def line(self, in_flight: int) -> str:
        return (f"[loadgen {self.elapsed:6.1f}s] sessions {self.accepted} accepted "
                f"({self.accepted / self.elapsed:.1f}/s), events {self.events} "
                f"({self.events / self.elapsed:.0f}/s), errors {sum(self.errors.values())}, "
                f"retried {self.retried}, in flight {in_flight}")

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.latencies) or [0.0]
        return {
            "seconds": round(self.elapsed, 2),
            "requests": self.requests,
            "sessions_accepted": self.accepted,
            "events_accepted": self.events,
            "sessions_per_second": round(self.accepted / self.elapsed, 2),
            "events_per_second": round(self.events / self.elapsed, 1),
            "errors": dict(self.errors),
            "retried": self.retried,
            "latency_p50_ms": round(ordered[len(ordered) // 2] * 1000, 1),
            "latency_p99_ms": round(ordered[min(len(ordered) - 1,
                                                int(len(ordered) * 0.99))] * 1000, 1),
        }


class SessionMaker:
    """Omny request bodies for one organization; deterministic for a seed."""

    def __init__(self, organization: str, seed: int = 0):
        self.organization = organization
        self.rng = random.Random(seed)
        base = uuid.UUID(organization)
        self.clips = [(str(uuid.uuid5(base, f"clip-{i}")), self.rng.uniform(120, 3600))
                      for i in range(CLIPS)]
        self.sources = [s.value for s in OmnySource]

    def body(self, now: float) -> dict[str, Any]:
        rng = self.rng
        clip, length = rng.choice(self.clips)
        session = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        short = rng.random() < SHORT_SHARE
        spans: list[tuple[float, float]] = []  # (start position, listened seconds)
        position = 0.0 if rng.random() < 0.8 else rng.uniform(0, length / 2)
        for _ in range(1 if short else rng.randint(1, 4)):
            listened = rng.uniform(0.5, 9.0) if short else rng.uniform(5, 400)
            spans.append((round(position, 3), round(listened, 3)))
            position += listened
            if rng.random() < 0.3:  # skipped ahead before resuming
                position += rng.uniform(10, 120)
        # Wall clock: intervals back to back with pauses, ending a little before now.
        clock = now - rng.uniform(1, 30) - sum(s for _, s in spans) - 30 * len(spans)
        events: list[dict[str, Any]] = []
        for start, listened in spans:
            for kind, at in (("Start", start), ("Stop", round(start + listened, 3))):
                events.append({"OrganizationId": self.organization, "ClipId": clip,
                               "SessionId": session, "Type": kind, "Position": at,
                               "SeqNumber": len(events) + 1,
                               # Milliseconds: what the wire keeps, so expectations match.
                               "Timestamp": round(clock, 3)})
                clock += listened if kind == "Start" else rng.uniform(0, 30)
        if rng.random() < DUPLICATE_SHARE:
            events.append(dict(rng.choice(events)))
        return {"Source": rng.choice(self.sources), "Events": events, "Completed": True}

    def retry(self) -> bool:
        return self.rng.random() < RETRY_SHARE


async def _post(client: httpx.AsyncClient, url: str, body: dict[str, Any],
                progress: Progress) -> bool:
    for attempt in range(RETRIES + 1):
        progress.requests += 1
        sent = time.perf_counter()
        try:
            answer = await client.post(url, json=body)
        except httpx.HTTPError as err:
            cause, wait = type(err).__name__, 0.5 * 2 ** attempt
        else:
            progress.latencies.append(time.perf_counter() - sent)
            if answer.is_success:
                return True
            if answer.status_code not in (429, 503):
                progress.errors[f"http_{answer.status_code}"] += 1
                return False
            cause = f"http_{answer.status_code}"
            wait = float(answer.headers.get("Retry-After", 1))
        if attempt < RETRIES:
            progress.retried += 1
            await asyncio.sleep(wait)
    progress.errors[cause] += 1
    return False


async def run(gateway_url: str, organization: str, rate: float, seconds: float,
              rules: Rules, seed: int = 0, concurrency: int = 64,
              report: Callable[[str], None] | None = None,
              report_every: float = 5.0) -> tuple[Progress, Expected]:
    """Send ``rate`` sessions a second for ``seconds``; return what happened and what to expect."""
    maker = SessionMaker(organization, seed)
    expected = Expected(organization)
    progress = Progress()
    url = f"{gateway_url.rstrip('/')}/api/consumption/events?organizationId={organization}"
    slots = asyncio.Semaphore(concurrency)
    tasks: set[asyncio.Task[None]] = set()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def one(client: httpx.AsyncClient, body: dict[str, Any], retry: bool) -> None:
        try:
            accepted = False
            for _ in range(2 if retry else 1):
                if await _post(client, url, body, progress):
                    progress.events += len(body["Events"])
                    accepted = True
            if accepted:
                progress.accepted += 1
                # The gateway's own mapping, then the pure core: what the worker must count.
                events = to_events(OmnyRequest.model_validate(body),
                                   DialectContext(str(uuid.UUID(organization)), time.time()))
                expected.add(events, rules)
        finally:
            slots.release()

    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        total = int(rate * seconds)
        next_report = report_every
        for index in range(total):
            # Open loop: each session has its due time, so a slow answer
            # does not lower the offered rate (up to `concurrency` in flight).
            delay = progress.started + index / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await slots.acquire()
            task = asyncio.create_task(one(client, maker.body(time.time()), maker.retry()))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            if report and progress.elapsed >= next_report:
                report(progress.line(len(tasks)))
                next_report += report_every
        await asyncio.gather(*list(tasks))
    if report:
        report(progress.line(0))
    return progress, expected


def stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def command(gateway_url: str, rate: float, seconds: float, organization: str | None,
            seed: int, concurrency: int, rules: Rules,
            verify: tuple[str, str] | None = None, timeout: float = 300.0) -> dict[str, Any]:
    """`playhead loadgen`: run, print progress on stderr, optionally check ClickHouse."""
    organization = organization or str(uuid.uuid4())
    stderr(f"[loadgen] {rate:g} sessions/s for {seconds:g}s to {gateway_url} "
           f"as organization {organization}")
    progress, expected = asyncio.run(run(gateway_url, organization, rate, seconds, rules,
                                         seed=seed, concurrency=concurrency, report=stderr))
    result: dict[str, Any] = {"organization": organization, "offered_rate": rate,
                              **progress.summary(), "expected": vars(expected.figures())}
    if verify:
        from devkit.loadcheck import wait_for
        from sinks.client import connect

        url, database = verify
        stderr(f"[loadgen] waiting for {len(expected.sessions)} sessions in {database} ...")
        found, waited = wait_for(connect(url), database, expected, timeout)
        result.update(counted=vars(found), counted_after_seconds=round(waited, 1),
                      lossless=found.matches(expected.figures()))
    return result
