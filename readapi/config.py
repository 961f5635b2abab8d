"""What the read API needs to know, built once from the settings at its edge (create_app)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from config.settings import Settings


@dataclass(frozen=True, slots=True)
class ReadApiConfig:
    # The warehouse
    clickhouse_url: str
    database: str
    cluster: str  # '': one server; else erasures mutate each shard's local tables
    bucket_seconds: float
    max_clip_seconds: float
    # Who may read and manage: tokens fixed at start, the control topic for the rest
    read_tokens: Mapping[str, str]
    kafka_bootstrap: str
    control_topic: str  # empty: settings' tokens only
    operator_token_digests: tuple[str, ...]
    # The demo page: where its player sends, and what it tells the newcomer
    gateway_host: str
    gateway_port: int
    write_keys: Mapping[str, str]
    idle_timeout_seconds: float
    min_session_seconds: float

    @classmethod
    def from_settings(cls, settings: Settings) -> ReadApiConfig:
        return cls(
            clickhouse_url=settings.clickhouse_url,
            database=settings.clickhouse_database,
            cluster=settings.clickhouse_cluster,
            bucket_seconds=settings.bucket_seconds,
            max_clip_seconds=settings.max_clip_seconds,
            read_tokens=MappingProxyType(dict(settings.read_tokens)),
            kafka_bootstrap=settings.kafka_bootstrap,
            control_topic=settings.control_topic,
            operator_token_digests=tuple(settings.operator_token_digests),
            gateway_host=settings.gateway_host,
            gateway_port=settings.gateway_port,
            write_keys=MappingProxyType(dict(settings.write_keys)),
            idle_timeout_seconds=settings.idle_timeout_seconds,
            min_session_seconds=settings.min_session_seconds,
        )
