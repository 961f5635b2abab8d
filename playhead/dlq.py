"""`playhead dlq`: the dead-letter topic listed by reason, inspected, and replayed after a fix.

Two kinds of message land there (docs/worker.md, docs/gateway.md):

* the worker's: Playhead events in the wire format (one event, or a batch
  record when the whole record could not be read), with the reason in
  ``playhead-dlq-reason``;
* the gateway's Omny sessions: the client's JSON request for one session,
  with ``playhead-dlq-format: application/json``.

Replaying sends the chosen messages back into the pipeline: wire-format
values to the events topic as they are, Omny sessions as the canonical
events the gateway would have made of them, of any age (refusing them for
age again would make replay pointless) but inside every bound. Events keep
their ids, so a message replayed twice counts once: the worker drops the
second copy as a duplicate.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from pydantic import ValidationError

from config.settings import Settings
from ingest.dialects import omny
from ingest.dialects.context import DialectContext
from ingest.policy import EventRejected
from schemas import DecodeError, event_codec
from schemas.bounds import Bounds
from schemas.event import PlaybackEvent
from schemas.producer import EventProducer

REPLAYED_HEADER = "playhead-replayed-from"


@dataclass(frozen=True)
class Letter:
    """One message of the dead-letter topic."""

    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes]

    def header(self, name: str) -> str:
        return self.headers.get(f"playhead-dlq-{name}", b"").decode("utf-8", "replace")

    @property
    def reason(self) -> str:
        return self.header("reason") or "(none)"

    @property
    def at(self) -> str:
        return datetime.fromtimestamp(self.timestamp_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")

    @property
    def is_omny_session(self) -> bool:
        return self.header("format") == "application/json" and self.header(
            "source").startswith("gateway/omny")


def read(settings: Settings, timeout: float = 30.0) -> list[Letter]:
    """Every message of the dead-letter topic as it stands now, oldest first."""
    return asyncio.run(_read(settings, timeout))


async def _read(settings: Settings, timeout: float) -> list[Letter]:
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(settings.dead_letter_topic)
        if not partitions:
            await consumer._client.force_metadata_update()  # noqa: SLF001 (no public way)
            partitions = consumer.partitions_for_topic(settings.dead_letter_topic) or set()
        tps = [TopicPartition(settings.dead_letter_topic, p) for p in sorted(partitions)]
        if not tps:
            return []
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        letters: list[Letter] = []
        deadline = time.monotonic() + timeout
        async def behind() -> bool:
            for tp in tps:
                if await consumer.position(tp) < ends[tp]:
                    return True
            return False

        while await behind():
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {settings.dead_letter_topic} took over {timeout:g} s")
            batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
            for tp, messages in batch.items():
                letters += [Letter(tp.partition, m.offset, m.timestamp, m.key, m.value,
                                   {k: v for k, v in m.headers}) for m in messages
                            if m.offset < ends[tp]]
        return sorted(letters, key=lambda letter: (letter.timestamp_ms, letter.offset))
    finally:
        await consumer.stop()


def chosen(letters: Iterable[Letter], reason: str | None = None,
           offsets: Sequence[int] = ()) -> list[Letter]:
    """The letters of ``reason`` (any when None) and, when given, only those ``offsets``."""
    return [letter for letter in letters
            if (reason is None or letter.reason == reason)
            and (not offsets or letter.offset in offsets)]


def summary(letters: Sequence[Letter]) -> list[str]:
    """One line per reason: how many, from where, first and last, an example."""
    if not letters:
        return ["the dead-letter topic is empty"]
    counts = Counter(letter.reason for letter in letters)
    lines = [f"{'reason':<16} {'count':>7}  {'first':<19}  {'last':<19}  example"]
    for reason, count in counts.most_common():
        same = [letter for letter in letters if letter.reason == reason]
        sources = sorted({letter.header("source").split("/")[0] or "?" for letter in same})
        example = same[-1].header("detail").replace("\n", " ")
        lines.append(f"{reason:<16} {count:>7}  {same[0].at}  {same[-1].at}  "
                     f"[{','.join(sources)}] {example[:90]}")
    return lines


def describe(letter: Letter) -> list[str]:
    """A letter in full: where it came from, why, and what it holds."""
    lines = [f"offset {letter.partition}/{letter.offset}  {letter.at}  reason {letter.reason}",
             f"  key     {(letter.key or b'').decode('utf-8', 'replace')}",
             f"  source  {letter.header('source')}",
             f"  detail  {letter.header('detail')}"]
    if letter.is_omny_session:
        lines.append(f"  omny    {(letter.value or b'').decode('utf-8', 'replace')[:2000]}")
        return lines
    try:
        records = event_codec().decode_many(letter.value or b"")
    except DecodeError as err:
        lines.append(f"  value   {len(letter.value or b'')} bytes, not replayable: {err}")
        return lines
    for record in records[:20]:
        lines.append("  event   " + json.dumps(record, default=str, ensure_ascii=False)[:400])
    if len(records) > 20:
        lines.append(f"  …and {len(records) - 20} more events")
    return lines


class NotReplayable(ValueError):
    """A letter that cannot go back into the pipeline as it is; the message says why."""


def omny_events(letter: Letter, now: float, bounds: Bounds) -> list[PlaybackEvent]:
    """The canonical events of a dead-lettered Omny session, of any age, inside the bounds."""
    organization = (letter.key or b"").decode("utf-8", "replace").split("/", 1)[0]
    try:
        request = omny.OmnyRequest.model_validate_json(letter.value or b"")
        # Of any age: a dead letter is replayed long after it was sent.
        events = omny.to_events(request, DialectContext(str(uuid.UUID(organization)), now))
    except (ValidationError, ValueError, EventRejected) as err:
        raise NotReplayable(f"the session is still not valid: {err}") from err
    for event in events:
        violations = bounds.violations(event)
        if violations:
            raise NotReplayable("; ".join(v.message for v in violations))
    return events


async def replay(settings: Settings, letters: Sequence[Letter],
                 now: float) -> tuple[int, list[tuple[Letter, str]]]:
    """Send ``letters`` back; returns events sent and the letters that could not be."""
    codec, bounds = event_codec(), Bounds(settings.max_clip_seconds)
    raw: list[tuple[Letter, bytes]] = []
    rebuilt: list[PlaybackEvent] = []
    refused: list[tuple[Letter, str]] = []
    sent = 0
    for letter in letters:
        try:
            if letter.is_omny_session:
                rebuilt += omny_events(letter, now, bounds)
                continue
            count = len(codec.decode_many(letter.value or b""))
        except (NotReplayable, DecodeError) as err:
            refused.append((letter, str(err)))
            continue
        raw.append((letter, letter.value or b""))
        sent += count
    if rebuilt:
        async with EventProducer(settings.kafka_bootstrap, settings.events_topic) as producer:
            await producer.publish(rebuilt)
        sent += len(rebuilt)
    if raw:
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all",
                                    enable_idempotence=True)
        await producer.start()
        try:
            await asyncio.gather(*[await producer.send(
                settings.events_topic, value, key=letter.key,
                headers=[(REPLAYED_HEADER, f"{settings.dead_letter_topic}/{letter.partition}/"
                                           f"{letter.offset}".encode())])
                for letter, value in raw])
        finally:
            await producer.stop()
    return sent, refused


def add_commands(commands: Any) -> None:
    dlq = commands.add_parser(
        "dlq", help="list, inspect and replay dead letters",
        description="The dead-letter topic (PLAYHEAD_DEAD_LETTER_TOPIC): `list` counts its "
        "messages by reason, `show` prints them, `replay` sends the chosen ones back into the "
        "pipeline once their cause is fixed. A message replayed twice counts once (events "
        "keep their ids).")
    actions = dlq.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("list", help="messages per reason, with the first, last and an "
                       "example").set_defaults(run=_list)
    show = actions.add_parser("show", help="print dead letters in full")
    show.set_defaults(run=_show)
    replay_cmd = actions.add_parser("replay", help="send chosen dead letters back")
    replay_cmd.set_defaults(run=_replay)
    for parser in (show, replay_cmd):
        parser.add_argument("--reason", help="only letters with this reason (see `list`)")
        parser.add_argument("--offset", type=int, action="append", default=[],
                            help="only the letter at this offset (repeatable)")
    show.add_argument("--limit", type=int, default=20, help="most letters shown (default 20)")
    replay_cmd.add_argument("--dry-run", action="store_true",
                            help="say what would be replayed; send nothing")


def _list(args: argparse.Namespace, settings: Settings) -> int:
    print("\n".join(summary(read(settings))))
    return 0


def _show(args: argparse.Namespace, settings: Settings) -> int:
    picked = chosen(read(settings), args.reason, args.offset)
    for letter in picked[-args.limit:]:
        print("\n".join(describe(letter)))
    print(f"{len(picked)} letters" + (f", the last {args.limit} shown"
                                        if len(picked) > args.limit else ""))
    return 0


def _replay(args: argparse.Namespace, settings: Settings) -> int:
    if not args.reason and not args.offset:
        print("say which letters to replay: --reason REASON and/or --offset N "
              "(`playhead dlq list` shows the reasons)")
        return 2
    picked = chosen(read(settings), args.reason, args.offset)
    if args.dry_run:
        print(f"would replay {len(picked)} letters: "
              + ", ".join(f"{letter.partition}/{letter.offset}" for letter in picked[:50]))
        return 0
    sent, refused = asyncio.run(replay(settings, picked, time.time()))
    print(f"replayed {len(picked) - len(refused)} letters ({sent} events) into "
          f"{settings.events_topic}")
    for letter, why in refused:
        print(f"not replayed {letter.partition}/{letter.offset}: {why}")
    return 1 if refused else 0
