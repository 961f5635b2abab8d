"""The gateway's own settings, taken once from config.settings at the app factory.

The gateway reads only these, so what it depends on is visible in one place
and a test can build one without the environment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from config.settings import Settings


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    # Kafka
    kafka_bootstrap: str
    events_topic: str
    dead_letter_topic: str
    control_topic: str  # empty: keys, disabled organizations, catalogues from settings only
    publish_timeout_seconds: float
    # HTTP
    max_body_bytes: int
    cors_origins: tuple[str, ...]
    # Who may write, and how fast
    write_keys: Mapping[str, str]
    rate_limit_per_second: float
    rate_limit_burst: int
    # What is accepted
    max_clip_seconds: float
    max_future_seconds: float
    max_event_age_seconds: float
    # Dialects
    disabled_organizations: frozenset[str]
    rights_catalogue: Path | None
    mparticle_max_batch_events: int

    @classmethod
    def from_settings(cls, settings: Settings) -> GatewayConfig:
        return cls(
            kafka_bootstrap=settings.kafka_bootstrap,
            events_topic=settings.events_topic,
            dead_letter_topic=settings.dead_letter_topic,
            control_topic=settings.control_topic,
            publish_timeout_seconds=settings.publish_timeout_seconds,
            max_body_bytes=settings.max_body_bytes,
            cors_origins=tuple(settings.cors_origins),
            write_keys=MappingProxyType(dict(settings.write_keys)),
            rate_limit_per_second=settings.rate_limit_per_second,
            rate_limit_burst=settings.rate_limit_burst,
            max_clip_seconds=settings.max_clip_seconds,
            max_future_seconds=settings.max_future_seconds,
            max_event_age_seconds=settings.max_event_age_seconds,
            disabled_organizations=frozenset(settings.disabled_organizations),
            rights_catalogue=settings.rights_catalogue,
            mparticle_max_batch_events=settings.mparticle_max_batch_events,
        )
