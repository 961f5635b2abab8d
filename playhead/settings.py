"""Every Playhead setting, validated once at start and passed in.

Each field reads from the environment as ``PLAYHEAD_<NAME>`` (for example
``PLAYHEAD_KAFKA_BOOTSTRAP``). A bad value fails at start with the variable
named, never halfway through a stream.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "PLAYHEAD_"


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    # Where local state lives: Kafka jars and data, the embedded warehouse,
    # pid files and logs. Ignored by git.
    state_dir: Path = Path(".playhead")

    # Kafka
    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_version: str = "3.9.1"
    kafka_controller_port: int = Field(default=9093, ge=1, le=65535)
    kafka_heap: str = "512m"
    # Broker jars resolved from Maven Central; None means
    # kafka_home/"libs-<kafka_version>". Point several state dirs (tests) at
    # one folder to resolve the jars once.
    kafka_libs_dir: Path | None = None
    events_topic: str = "playhead.events"
    dead_letter_topic: str = "playhead.events.dlq"
    topic_partitions: int = Field(default=4, ge=1)

    # Gateway
    gateway_host: str = "127.0.0.1"
    gateway_port: int = Field(default=8080, ge=1, le=65535)
    disabled_organizations: frozenset[str] = frozenset()
    max_body_bytes: int = Field(default=1_048_576, ge=1024)

    # Warehouse (ClickHouse). An http(s):// URL talks to a ClickHouse server
    # (or `playhead warehouse`); chdb:///path opens the engine in-process.
    clickhouse_url: str = "http://127.0.0.1:8123"
    clickhouse_database: str = "playhead"
    warehouse_host: str = "127.0.0.1"
    warehouse_port: int = Field(default=8123, ge=1, le=65535)

    # Worker and consumption semantics
    worker_id: str = "playhead-worker"
    worker_web_port: int = Field(default=6066, ge=1, le=65535)
    min_session_seconds: float = Field(default=10.0, ge=0)
    bucket_seconds: float = Field(default=1.0, gt=0)
    idle_timeout_seconds: float = Field(default=1800.0, gt=0)
    tick_seconds: float = Field(default=5.0, gt=0)
    sink_batch_size: int = Field(default=500, ge=1)
    sink_batch_seconds: float = Field(default=0.5, gt=0)

    @field_validator("clickhouse_url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if not value.startswith(("http://", "https://", "chdb://")):
            raise ValueError("must start with http://, https:// or chdb:///<path>")
        return value

    @property
    def kafka_home(self) -> Path:
        return self.state_dir / "kafka"

    @property
    def warehouse_path(self) -> Path:
        return self.state_dir / "warehouse"

    @property
    def run_dir(self) -> Path:
        return self.state_dir / "run"

    @property
    def gateway_url(self) -> str:
        return f"http://{self.gateway_host}:{self.gateway_port}"


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment; raise SettingsError naming the bad key."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as err:
        problems = []
        for error in err.errors():
            key = ENV_PREFIX + "_".join(str(part) for part in error["loc"]).upper()
            problems.append(f"{key}: {error['msg']} (got {error.get('input')!r})")
        raise SettingsError("invalid settings: " + "; ".join(problems)) from err


def to_env(settings: Settings) -> dict[str, str]:
    """The PLAYHEAD_* variables that reproduce ``settings`` in a child process."""
    env = {}
    for name, value in settings.model_dump(exclude_none=True).items():
        if isinstance(value, (set, frozenset, list, dict)):
            text = json.dumps(sorted(value) if isinstance(value, (set, frozenset)) else value)
        else:
            text = str(value)
        env[ENV_PREFIX + name.upper()] = text
    return env
