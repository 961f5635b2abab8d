"""Every Playhead setting, validated once at start and passed in.

Each field reads from the environment as ``PLAYHEAD_<NAME>`` (for example
``PLAYHEAD_KAFKA_BOOTSTRAP``). A bad value fails at start with the variable
named, never halfway through a stream.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "PLAYHEAD_"


MAX_TIMELINE_BUCKETS = 1_000_000


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    state_dir: Path = Field(Path(".playhead"), description=(
        "Local state: Kafka jars and data, the embedded warehouse, pid files, logs."))

    kafka_bootstrap: str = Field("127.0.0.1:9092", description="Kafka bootstrap host:port.")
    kafka_version: str = Field("3.9.1", description="Kafka release the local broker runs.")
    kafka_controller_port: int = Field(9093, ge=1, le=65535, description=(
        "KRaft controller port of the local broker."))
    kafka_heap: str = Field("512m", description="JVM heap of the local broker.")
    kafka_libs_dir: Path | None = Field(None, description=(
        "Where the broker's jars are resolved; default <state_dir>/kafka/libs-<version>."))
    events_topic: str = Field("playhead.events", description="Topic of canonical events.")
    dead_letter_topic: str = Field("playhead.events.dlq", description=(
        "Where unprocessable messages go, with the reason in their headers."))
    control_topic: str = Field("playhead.control", description=(
        "Compacted topic of the runtime control state: hashed keys, disabled organizations, "
        "rights catalogues (docs/operations/control.md)."))
    topic_partitions: int = Field(4, ge=1, description=(
        "Partitions of the events topic: the most workers that can share the load."))
    events_retention_seconds: float = Field(604_800.0, ge=3600, description=(
        "How long the events topic keeps an event, set when Playhead creates the topic: "
        "the longest personal data stays in Kafka after an erasure (docs/operations/"
        "erasure.md). At least PLAYHEAD_LATENESS_SECONDS plus PLAYHEAD_IDLE_TIMEOUT_SECONDS, "
        "so a worker stopped for less than the lateness window loses no event."))
    dead_letter_retention_seconds: float = Field(1_209_600.0, ge=3600, description=(
        "How long the dead-letter topic keeps a message (set when Playhead creates it): "
        "time to look at and replay dead letters, and the longest their personal data stays."))

    gateway_host: str = Field("127.0.0.1", description="Address the gateway listens on.")
    gateway_port: int = Field(8080, ge=1, le=65535, description="Port of the gateway.")
    gateway_processes: int = Field(1, ge=1, le=64, description=(
        "Processes `playhead gateway` serves with, sharing its port (uvicorn workers): the "
        "gateway is stateless and CPU-bound, so one per core (docs/scaling.md)."))
    disabled_organizations: frozenset[str] = Field(frozenset(), description=(
        'Organizations told {"Enabled": false}, fixed at start (a JSON list of GUIDs); '
        "`playhead org disable` does it at runtime."))

    write_keys: dict[str, str] = Field(default_factory=dict, description=(
        'Optional write keys fixed at start, a JSON object {"key": "organization id"}; when '
        "set, or once a key is made at runtime (`playhead keys create`), every write needs a "
        "key and a key writes only its organization."))
    cors_origins: list[str] = Field(default_factory=lambda: ["*"], description=(
        "Origins browser players may post from (JSON list)."))
    rate_limit_per_second: float = Field(0.0, ge=0, description=(
        "Requests per second per write key (or client address without one); 0 is unlimited."))
    rate_limit_burst: int = Field(100, ge=1, description="Requests a caller may send at once.")
    max_body_bytes: int = Field(1_048_576, ge=1024, description=(
        "Largest request body, on the wire and decompressed."))
    max_event_age_seconds: float = Field(86_400.0, ge=0, description=(
        "Events older than this are rejected; 0 accepts any age (and then no figure is ever "
        "final: no complete-through watermark). Workers read it too: the watermark trails the "
        "clock by this plus the next two."))
    max_future_seconds: float = Field(300.0, ge=0, description=(
        "Timestamps further ahead than this are replaced by the server's time and flagged. "
        "Also the most gateways' and workers' clocks may differ for the complete-through "
        "watermark to hold."))
    publish_timeout_seconds: float = Field(10.0, gt=0, description=(
        "How long the gateway waits for Kafka before answering 503."))
    rights_catalogue: Path | None = Field(None, description=(
        "JSON file of the clips players may play (music clips /play answers from it; format "
        "in docs/semantics.md); checked at gateway start. An organization's own catalogue "
        "(`playhead catalogue set`) wins over it. Unset: plays are unchecked."))
    max_clip_seconds: float = Field(86_400.0, gt=0, le=604_800.0, description=(
        "Longest clip accepted: positions, seek targets and clip lengths beyond it are refused "
        "by the gateway (4xx naming the field) and dead-lettered by workers; listened "
        "intervals never reach past it (docs/gateway.md lists every bound)."))
    mparticle_max_batch_events: int = Field(500, ge=1, description=(
        "Most events one mParticle batch request may carry; more is refused whole (413)."))

    api_host: str = Field("127.0.0.1", description="Address the read API listens on.")
    api_port: int = Field(8081, ge=1, le=65535, description="Port of the read API.")
    read_tokens: dict[str, str] = Field(default_factory=dict, description=(
        'Read tokens of the read API, a JSON object {"token": "organization id"}: a token '
        "reads its organization's data and nothing else. Read tokens made at runtime (`playhead "
        "keys create --kind read`) work beside these; with neither, every read is refused."))
    operator_token_digests: list[str] = Field(default_factory=list, description=(
        "SHA-256 digests (hex) of the operators' tokens, which manage every organization "
        "through the admin API; `playhead keys digest` prints a token's digest. Empty: only "
        "organizations' own admin keys (docs/operations/control.md)."))

    clickhouse_url: str = Field("http://127.0.0.1:8123", description=(
        "ClickHouse: http(s)://host:port for a server or `playhead warehouse`, "
        "chdb:///path for the engine in-process."))
    clickhouse_database: str = Field("playhead", description="Database of Playhead's tables.")
    clickhouse_cluster: str = Field("", pattern=r"^\w*$", description=(
        "ClickHouse cluster name: when set, `playhead migrate` creates replicated tables ON "
        "CLUSTER with Distributed tables over them (docs/scaling.md); empty: one server."))
    warehouse_host: str = Field("127.0.0.1", description="Address `playhead warehouse` serves.")
    warehouse_port: int = Field(8123, ge=1, le=65535, description=(
        "Port `playhead warehouse` serves."))

    log_level: str = Field("info", pattern="^(?i)(debug|info|warning|error)$", description=(
        "debug, info, warning or error."))
    log_json: bool = Field(True, description=(
        "Log one JSON object per line (false: plain text lines)."))

    worker_id: str = Field("playhead-worker", description=(
        "Consumer group and state folder of the workers; workers with one id share the load."))
    min_session_seconds: float = Field(10.0, ge=0, description=(
        "Sessions shorter than this are counted but kept out of histograms; the default for "
        "organizations without a qualifying-play rule (`playhead rules`)."))
    bucket_seconds: float = Field(1.0, gt=0, description=(
        "Histogram bucket width; the default for organizations without a qualifying-play "
        "rule (`playhead rules`)."))
    idle_timeout_seconds: float = Field(1800.0, gt=0, description=(
        "A session with no new event for this long is closed."))
    tick_seconds: float = Field(5.0, gt=0, description="How often workers look for idle sessions.")
    sink_batch_size: int = Field(2000, ge=1, description=(
        "Most events a worker processes before writing the sessions they closed (and their "
        "state): larger batches mean fewer writes per event."))
    sink_batch_seconds: float = Field(0.5, gt=0, description=(
        "Longest a worker waits to fill a batch: bounds close-to-queryable latency."))
    lateness_seconds: float = Field(86400.0, ge=0, description=(
        "Processing time after a session closed during which a further event re-opens and "
        "corrects it; a later event is counted in a continuation of the session "
        "(docs/semantics.md, late events)."))
    tombstone_seconds: float = Field(604800.0, ge=0, description=(
        "How long after its lateness window a closed session's tombstone (close time, "
        "digests of its event ids, continuation number) is kept, so late events continue the "
        "session without counting an event twice; then the key is forgotten. With the "
        "lateness window it must cover PLAYHEAD_MAX_EVENT_AGE_SECONDS plus "
        "PLAYHEAD_MAX_FUTURE_SECONDS."))
    sweep_batch: int = Field(2000, ge=1, description=(
        "Stored sessions a worker examines per partition per tick to turn closed ones into "
        "tombstones and forget old tombstones."))
    state_memory_mib: int = Field(32, ge=4, description=(
        "Memory bound of a worker's state store (RocksDB), whatever the number of partitions "
        "it holds: one cache for data, index and filter blocks that memtables are charged "
        "to as well. More keeps more stored sessions in memory; the rest is read from disk."))
    max_session_events: int = Field(5000, ge=1, le=100_000, description=(
        "Most distinct events one session may hold; further events are dead-lettered as "
        "session_limit (docs/worker.md)."))
    max_session_state_bytes: int = Field(786_432, ge=4096, le=1_000_000, description=(
        "Most bytes one session's stored state may take; it stays below Kafka's 1 MB message "
        "limit so a state change always fits the changelog. Events that would pass it are "
        "dead-lettered as session_limit."))
    stall_seconds: float = Field(120.0, gt=0, description=(
        "A worker with messages waiting that has finished no batch for this long reports "
        "itself stalled: in its metrics, `playhead status` and its liveness probe."))
    dead_letter_limit: int = Field(10_000, ge=0, description=(
        "A worker stops with an error after this many consecutive messages nothing could "
        "process (empty, undecodable, invalid, out of bounds: a bad deploy or a wrong topic, "
        "never what a client can send through the gateway); 0 never stops."))
    metrics_host: str = Field("127.0.0.1", description="Address of the worker's metrics endpoint.")
    metrics_port: int = Field(9464, ge=0, le=65535, description=(
        "Port of the worker's Prometheus metrics (/metrics); 0 disables. Give each worker "
        "on one machine its own."))

    @field_validator("clickhouse_url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if not value.startswith(("http://", "https://", "chdb://")):
            raise ValueError("must start with http://, https:// or chdb:///<path>")
        return value

    @model_validator(mode="after")
    def _bounded_timeline(self) -> Settings:
        # A clip's timeline is max_clip_seconds / bucket_seconds buckets; analyst views
        # build arrays that long, and ClickHouse refuses past a few hundred million.
        buckets = self.max_clip_seconds / self.bucket_seconds
        if buckets > MAX_TIMELINE_BUCKETS:
            raise ValueError(
                f"max_clip_seconds / bucket_seconds is {buckets:.0f} buckets; at most "
                f"{MAX_TIMELINE_BUCKETS:,} (raise PLAYHEAD_BUCKET_SECONDS or lower "
                "PLAYHEAD_MAX_CLIP_SECONDS)")
        return self

    @model_validator(mode="after")
    def _late_events_continue_their_session(self) -> Settings:
        # The gateway acknowledges an event up to max_event_age after its (client) time,
        # give or take max_future of clock skew. An event played before its session
        # closed therefore reaches a worker at most that long after the close; while
        # the session's tombstone is kept it is counted in a continuation that knows
        # what the session counted. A tombstone forgotten sooner would let such an
        # event start the session afresh under its first id and replace its rows.
        # 0 (any age) is the operator's choice to accept what no window can cover.
        if self.max_event_age_seconds == 0:
            return self
        kept = self.lateness_seconds + self.tombstone_seconds
        accepted = self.max_event_age_seconds + self.max_future_seconds
        if kept < accepted:
            raise ValueError(
                f"PLAYHEAD_LATENESS_SECONDS + PLAYHEAD_TOMBSTONE_SECONDS ({kept:g} s) is "
                f"shorter than PLAYHEAD_MAX_EVENT_AGE_SECONDS + PLAYHEAD_MAX_FUTURE_SECONDS "
                f"({accepted:g} s): an event the gateway acknowledges could reach a worker "
                "after its session's tombstone is forgotten; raise PLAYHEAD_TOMBSTONE_SECONDS "
                "or lower PLAYHEAD_MAX_EVENT_AGE_SECONDS")
        return self

    @model_validator(mode="after")
    def _events_outlive_changing_sessions(self) -> Settings:
        # Figures are corrected for a lateness window after a session closes. A worker
        # stopped for less than that must find every acknowledged event it has not
        # processed yet when it comes back; a shorter retention would delete them
        # unread during an outage the lateness window promises to ride out.
        needed = self.lateness_seconds + self.idle_timeout_seconds
        if self.events_retention_seconds < needed:
            raise ValueError(
                f"PLAYHEAD_EVENTS_RETENTION_SECONDS ({self.events_retention_seconds:g} s) is "
                f"shorter than PLAYHEAD_LATENESS_SECONDS + PLAYHEAD_IDLE_TIMEOUT_SECONDS "
                f"({needed:g} s): events of sessions that can still change could be deleted "
                "from Kafka; raise the retention or lower the lateness window")
        return self

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
    def worker_ready_file(self) -> Path:
        """Exists while this worker has finished starting (recovery done, partitions
        assigned): what the local platform and container probes wait for."""
        return self.run_dir / f"{self.worker_id}.ready"

    @property
    def gateway_url(self) -> str:
        return f"http://{self.gateway_host}:{self.gateway_port}"

    @property
    def api_url(self) -> str:
        return f"http://{self.api_host}:{self.api_port}"


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment; raise SettingsError naming the bad key."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]  # pydantic validates them
    except ValidationError as err:
        problems = []
        for error in err.errors():
            if not error["loc"]:  # a rule between settings: its message names them
                problems.append(error["msg"].removeprefix("Value error, "))
                continue
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


def settings_table() -> str:
    """The Markdown table of every setting, as docs/configuration.md shows it."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, info in Settings.model_fields.items():
        default = info.get_default(call_default_factory=True)
        if default is None:
            shown = ""
        elif isinstance(default, (frozenset, set, list, dict)):
            shown = json.dumps(sorted(default) if isinstance(default, (set, frozenset))
                               else default)
        else:
            shown = str(default)
        rows.append(f"| `{ENV_PREFIX}{name.upper()}` | `{shown}` | {info.description} |")
    return "\n".join(rows) + "\n"
