"""`playhead dlq` on the real pipeline: list by reason, show, and replay that counts once."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from conftest import Pipeline, free_port, produce_raw, running_pipeline, wait_until
from samples import omny_request

from config.settings import Settings
from playhead import dlq
from playhead.cli import _parser

pytestmark = pytest.mark.integration  # a pipeline

NOW = time.time()


@pytest.fixture(scope="module")
def pipeline(kafka: Settings, warehouse_url: str,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    # Events older than an hour are refused: an Omny session of two hours ago is kept aside.
    with running_pipeline(kafka, warehouse_url, tmp_path_factory.mktemp("dlq"),
                          max_event_age_seconds=3600.0, metrics_port=free_port()
                          ) as (settings, client):
        yield Pipeline(settings, client)


def duplicates(pipeline: Pipeline) -> float:
    text = httpx.get(f"http://127.0.0.1:{pipeline.settings.metrics_port}/metrics", timeout=5).text
    return next(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                if line.startswith('playhead_worker_events_total{outcome="duplicate"}'))


def dlq_command(settings: Settings, *argv: str) -> int:
    """`playhead dlq ARGV` as the command parses and runs it, against ``settings``."""
    args = _parser().parse_args(["dlq", *argv])
    code: int = args.run(args, settings)
    return code


def test_a_stale_session_is_listed_shown_and_replayed_once_however_often(
        pipeline: Pipeline, capsys: pytest.CaptureFixture[str]) -> None:
    org, clip = str(uuid.uuid4()), str(uuid.uuid4())
    fresh, stale = str(uuid.uuid4()), str(uuid.uuid4())
    body = omny_request(session=fresh, clip=clip, org=org, now=NOW)
    body["Events"] += omny_request(session=stale, clip=clip, org=org, now=NOW - 7200)["Events"]
    answer = pipeline.post_omny(body, org)
    assert answer.status_code == 200 and answer.json() == {"Enabled": True}
    pipeline.wait_for_version(fresh, 4)
    produce_raw(pipeline.settings, b"not avro at all")  # the worker dead-letters it

    settings = pipeline.settings
    letters = wait_until(lambda: len(dlq.read(settings)) >= 2 and dlq.read(settings), 60,
                         "both dead letters")
    assert letters
    assert sorted(letter.reason for letter in letters) == ["too_old", "undecodable"]
    assert dlq_command(settings, "list") == 0
    listing = capsys.readouterr().out
    assert "too_old" in listing and "undecodable" in listing and "[gateway]" in listing
    assert dlq_command(settings, "show", "--reason", "too_old") == 0
    shown = capsys.readouterr().out
    assert f"{org}/{stale}" in shown and "h old" in shown and '"Events"' in shown

    # Replayed once: counted; replayed again: every event a duplicate, counted once.
    assert dlq_command(settings, "replay", "--reason", "too_old") == 0
    assert "replayed 1 letters (4 events)" in capsys.readouterr().out
    pipeline.wait_for_version(stale, 4)
    before = duplicates(pipeline)
    assert dlq_command(settings, "replay", "--reason", "too_old") == 0
    wait_until(lambda: duplicates(pipeline) >= before + 4, 60, "the second replay to arrive")
    rows = pipeline.rows(f"SELECT session_id, duration_seconds FROM {pipeline.db}.sessions "
                         "WHERE clip_id = {c:String} ORDER BY session_id", c=clip)
    assert sorted(rows) == sorted([(fresh, pytest.approx(239.144)),
                                   (stale, pytest.approx(239.144))])
    buckets = pipeline.buckets(clip)
    assert {(listeners, listens) for _, listeners, listens in buckets} == {(2, 2)}


def test_what_cannot_go_back_is_named_and_nothing_is_sent(
        pipeline: Pipeline, capsys: pytest.CaptureFixture[str]) -> None:
    settings = pipeline.settings
    wait_until(lambda: any(letter.reason == "undecodable" for letter in dlq.read(settings)),
               60, "the undecodable dead letter")
    assert dlq_command(settings, "replay") == 2  # nothing chosen: says how to choose
    assert "--reason" in capsys.readouterr().out
    assert dlq_command(settings, "replay", "--reason", "undecodable") == 1
    out = capsys.readouterr().out
    assert "replayed 0 letters" in out and "not replayed" in out and "C3 01" in out
