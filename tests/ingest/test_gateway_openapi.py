"""The published OpenAPI document holds: schemathesis finds no 5xx and no schema violation.

Runs against the real gateway over HTTP, publishing to the real broker.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO, free_port
from test_gateway_foundations import serve

from config.settings import Settings
from ingest.app import create_app
from processors.topics import ensure_topics

CHECKS = ("not_a_server_error,response_schema_conformance,status_code_conformance,"
          "content_type_conformance")


@pytest.fixture(scope="module")
def gateway(kafka: Settings) -> Iterator[str]:
    suffix = uuid.uuid4().hex[:8]
    settings = kafka.model_copy(update={
        "events_topic": f"test.st.{suffix}", "dead_letter_topic": f"test.st.{suffix}.dlq",
        "gateway_port": free_port()})
    ensure_topics(settings)
    yield from serve(settings)


@pytest.mark.integration
def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    gateway: str, tmp_path: Path
) -> None:
    run = subprocess.run(
        [str(Path(sys.executable).parent / "schemathesis"), "run", f"{gateway}/openapi.json",
         "--checks", CHECKS, "--max-examples", "40", "--seed", "20261123",
         "--phases", "examples,coverage,fuzzing",
         "--request-timeout", "20", "--report-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-8000:] + run.stderr[-2000:]


def test_committed_openapi_document_is_current() -> None:
    published = json.loads((REPO / "docs" / "openapi.json").read_text())
    assert published == create_app(Settings()).openapi(), (
        "regenerate it: .venv/bin/playhead openapi > docs/openapi.json")
