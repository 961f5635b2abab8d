"""Settings: validated once, errors name the variable, docs list every one."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import Settings, SettingsError, load_settings, settings_table, to_env
from playhead.cli import main

DOCS = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLAYHEAD_TOPIC_PARTITIONS", "zero")
    with pytest.raises(SettingsError, match="PLAYHEAD_TOPIC_PARTITIONS"):
        load_settings()


def test_unknown_clickhouse_scheme_is_refused() -> None:
    with pytest.raises(SettingsError, match="PLAYHEAD_CLICKHOUSE_URL.*chdb:///"):
        load_settings(clickhouse_url="mysql://x")


def test_cli_prints_the_bad_variable_and_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PLAYHEAD_GATEWAY_PORT", "99999")
    assert main(["status"]) == 2
    assert "PLAYHEAD_GATEWAY_PORT" in capsys.readouterr().err


def test_settings_survive_the_trip_to_a_child_process(monkeypatch: pytest.MonkeyPatch) -> None:
    original = Settings(disabled_organizations=frozenset({"a", "b"}), topic_partitions=7)
    for key, value in to_env(original).items():
        monkeypatch.setenv(key, value)
    assert load_settings() == original


def test_configuration_doc_lists_every_setting() -> None:
    assert settings_table() in DOCS.read_text(), "regenerate docs/configuration.md's table"


def test_a_timeline_too_long_for_the_views_is_refused_naming_both_settings() -> None:
    with pytest.raises(SettingsError, match="PLAYHEAD_BUCKET_SECONDS.*PLAYHEAD_MAX_CLIP_SECONDS"):
        load_settings(bucket_seconds=0.001)
    assert load_settings(bucket_seconds=1.0, max_clip_seconds=604_800).max_clip_seconds == 604_800


def test_windows_shorter_than_the_gateways_accepted_age_are_refused_naming_the_settings(
) -> None:
    with pytest.raises(SettingsError, match=(
            "PLAYHEAD_LATENESS_SECONDS \\+ PLAYHEAD_TOMBSTONE_SECONDS .*"
            "PLAYHEAD_MAX_EVENT_AGE_SECONDS \\+ PLAYHEAD_MAX_FUTURE_SECONDS")):
        load_settings(lateness_seconds=3600, tombstone_seconds=3600,
                      max_event_age_seconds=86_400)
    # Covered: every acknowledged event finds its session's tombstone.
    covered = load_settings(lateness_seconds=10, tombstone_seconds=86_400,
                            max_event_age_seconds=86_000, max_future_seconds=300)
    assert covered.lateness_seconds == 10
    # Any age is the operator's explicit choice: nothing to compare with.
    assert load_settings(tombstone_seconds=0, max_event_age_seconds=0).tombstone_seconds == 0


def test_an_events_retention_shorter_than_the_lateness_window_is_refused() -> None:
    with pytest.raises(SettingsError, match="PLAYHEAD_EVENTS_RETENTION_SECONDS"):
        load_settings(events_retention_seconds=3600, lateness_seconds=86_400)
    kept = load_settings(events_retention_seconds=7200, lateness_seconds=3600,
                         idle_timeout_seconds=1800)
    assert kept.events_retention_seconds == 7200
