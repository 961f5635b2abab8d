"""What one worker process needs to know, built once from the settings at its edge.

The Faust shell takes this frozen value rather than the whole ``Settings``
(about fifty fields for every component), so what a worker depends on is
written down in one place and a test can build it without the environment.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from config.settings import Settings
from processors.completeness import lag_margin
from processors.session import Rules
from schemas.bounds import Bounds


@dataclass(frozen=True)
class WorkerConfig:
    worker_id: str  # also the Kafka consumer group: workers sharing it share partitions
    kafka_bootstrap: str
    events_topic: str
    dead_letter_topic: str
    partitions: int
    state_dir: Path  # this worker's own RocksDB folder
    state_memory_mib: int
    sweep_batch: int
    sink_batch_size: int
    sink_batch_seconds: float
    tick_seconds: float
    stall_seconds: float
    dead_letter_limit: int
    metrics_host: str
    metrics_port: int
    rules: Rules
    bounds: Bounds
    # How far before a tick's stamp an event not yet handled may be dated
    # (processors/completeness.py); None: any age is accepted, no watermark.
    watermark_margin: float | None = None
    # How far apart the clocks of gateways and workers may be
    # (PLAYHEAD_MAX_FUTURE_SECONDS): a session's lateness window is followed
    # that much longer.
    watermark_skew: float = 0.0

    @classmethod
    def from_settings(cls, settings: Settings) -> WorkerConfig:
        return cls(
            worker_id=settings.worker_id,
            kafka_bootstrap=settings.kafka_bootstrap,
            events_topic=settings.events_topic,
            dead_letter_topic=settings.dead_letter_topic,
            partitions=settings.topic_partitions,
            state_dir=settings.state_dir / "worker" / settings.worker_id,
            state_memory_mib=settings.state_memory_mib,
            sweep_batch=settings.sweep_batch,
            sink_batch_size=settings.sink_batch_size,
            sink_batch_seconds=settings.sink_batch_seconds,
            tick_seconds=settings.tick_seconds,
            stall_seconds=settings.stall_seconds,
            dead_letter_limit=settings.dead_letter_limit,
            metrics_host=settings.metrics_host,
            metrics_port=settings.metrics_port,
            rules=rules_of(settings),
            bounds=Bounds(settings.max_clip_seconds),
            watermark_margin=lag_margin(settings.max_event_age_seconds,
                                        settings.max_future_seconds,
                                        settings.publish_timeout_seconds),
            watermark_skew=settings.max_future_seconds,
        )


def rules_of(settings: Settings) -> Rules:
    return Rules(
        min_session_seconds=settings.min_session_seconds,
        bucket_seconds=settings.bucket_seconds,
        idle_timeout_seconds=settings.idle_timeout_seconds,
        lateness_seconds=settings.lateness_seconds,
        tombstone_seconds=settings.tombstone_seconds,
        max_position_seconds=settings.max_clip_seconds,
        max_session_events=settings.max_session_events,
        max_session_bytes=settings.max_session_state_bytes,
    )
