"""`playhead --set KEY=VALUE`: flags over the environment, through the same Settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from config.settings import SettingsError
from playhead.cli import main
from playhead.overrides import parse, settings_with

REPO = Path(__file__).resolve().parents[2]


def test_keys_may_be_fields_variables_or_dashed() -> None:
    assert parse(["gateway_port=1", "PLAYHEAD_KAFKA_BOOTSTRAP=h:9", "worker-id=w"]) == {
        "gateway_port": "1", "kafka_bootstrap": "h:9", "worker_id": "w"}


def test_a_flag_wins_over_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLAYHEAD_TOPIC_PARTITIONS", "3")
    monkeypatch.setenv("PLAYHEAD_GATEWAY_PORT", "8081")
    children: dict[str, str] = {}
    settings = settings_with(["topic_partitions=12"], children)
    assert settings.topic_partitions == 12 and settings.gateway_port == 8081
    # Exported so the processes `playhead up` starts see the flag too.
    assert children == {"PLAYHEAD_TOPIC_PARTITIONS": "12"}


def test_lists_and_objects_are_json() -> None:
    children: dict[str, str] = {}
    settings = settings_with(['disabled_organizations=["a", "b"]', 'write_keys={"k": "org"}'],
                             children)
    assert settings.disabled_organizations == frozenset({"a", "b"})
    assert settings.write_keys == {"k": "org"}
    assert children["PLAYHEAD_WRITE_KEYS"] == '{"k": "org"}'
    with pytest.raises(SettingsError, match="cors_origins: not JSON"):
        parse(["cors_origins=*"])


def test_errors_name_the_key() -> None:
    with pytest.raises(SettingsError, match="gateway_prot: no such setting; did you mean "
                                            "gateway_port"):
        parse(["gateway_prot=1"])
    with pytest.raises(SettingsError, match="expected KEY=VALUE"):
        parse(["gateway_port"])
    with pytest.raises(SettingsError, match="PLAYHEAD_TOPIC_PARTITIONS"):
        settings_with(["topic_partitions=zero"], {})


def test_cli_exits_2_naming_the_bad_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--set", "nope=1", "status"]) == 2
    assert "--set nope: no such setting" in capsys.readouterr().err


def test_cli_flag_reaches_the_command() -> None:
    # A real process, as a user runs it: the DDL names the database given by flag.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLAYHEAD_")}
    done = subprocess.run(
        [sys.executable, "-m", "playhead", "--set", "clickhouse_database=flagged",
         "--set", "PLAYHEAD_CLICKHOUSE_CLUSTER=c1", "migrate", "--print-ddl"],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "CREATE TABLE IF NOT EXISTS flagged.session_versions_local ON CLUSTER c1" in done.stdout
