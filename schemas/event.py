"""The canonical playback event as the core sees it."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from schemas.frozen import quick_init


class EventKind(enum.StrEnum):
    START = "START"
    STOP = "STOP"
    HEARTBEAT = "HEARTBEAT"
    SEEK = "SEEK"
    OTHER = "OTHER"


class Action(enum.StrEnum):
    """The canonical vocabulary of ``PlaybackEvent.action``.

    Every dialect maps its event names onto these (the original name goes in
    ``attributes["event"]``); docs/semantics.md lists each mapping. The field
    is a plain string on the wire so a newer producer's action never breaks
    an older worker: unknown actions are kept and counted as ``other``.
    """

    # Timeline: these come with a kind that opens, closes or moves an interval.
    PLAY = "play"  # START
    RESUME = "resume"  # START
    PAUSE = "pause"  # STOP
    END = "end"  # STOP: the content ended
    PROGRESS = "progress"  # HEARTBEAT
    SEEK = "seek"  # SEEK
    # Session bookkeeping (kind OTHER).
    READY = "ready"
    SESSION_START = "session_start"
    SESSION_END = "session_end"
    # Quality of experience (kind OTHER); value_ms carries the measured duration.
    STARTUP = "startup"  # time to first frame
    REBUFFER = "rebuffer"  # a stall of value_ms
    BUFFER_START = "buffer_start"
    BUFFER_END = "buffer_end"
    QUALITY_CHANGE = "quality_change"  # attributes from_quality / to_quality
    ERROR = "error"  # attributes error_code / error_message
    # Engagement with a piece of content (kind OTHER).
    IMPRESSION = "impression"
    LIKE = "like"
    SHARE = "share"
    SAVE = "save"
    SWIPE = "swipe"
    COMPLETION = "completion"
    # Music clip rights events (kind OTHER); counted exactly for royalty reports.
    CLIP_PLAY = "clip_play"
    TRACK_PLAY = "track_play"
    ADD = "add"
    DOWNLOAD = "download"
    APP_START = "app_start"
    APP_CLOSE = "app_close"
    # Reported and kept, with no figure of their own yet (mParticle's ad, segment,
    # QoS, summary and custom media events).
    AD = "ad"
    SEGMENT = "segment"
    QOS = "qos"
    SUMMARY = "summary"
    CUSTOM = "custom"


@quick_init  # building one is on the worker's path for every event (schemas/frozen.py)
@dataclass(frozen=True, slots=True)
class PlaybackEvent:
    event_id: str
    organization_id: str
    session_id: str
    clip_id: str
    source: str
    kind: EventKind
    position_seconds: float
    sequence_number: int
    timestamp: float  # seconds since the epoch, UTC
    session_complete: bool = False
    dialect: str = ""
    received_at: float = 0.0  # when the gateway accepted it, seconds since the epoch
    action: str = ""  # an Action value; the dialect's own name is attributes["event"]
    seek_to_seconds: float | None = None
    value_ms: int | None = None  # a measured duration: startup time, rebuffer length
    clip_length_seconds: float | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)

    @property
    def session_key(self) -> str:
        return session_key(self.organization_id, self.session_id)

    def order_key(self) -> tuple[int, float, str]:
        # Sequence number first; the timestamp breaks ties and the event id
        # makes the order total so every replica sorts identically.
        return (self.sequence_number, self.timestamp, self.event_id)

    def to_record(self) -> dict[str, Any]:
        """The Avro record shape (timestamps as aware datetimes or epoch millis)."""
        return {
            "event_id": self.event_id,
            "organization_id": self.organization_id,
            "session_id": self.session_id,
            "clip_id": self.clip_id,
            "source": self.source,
            "dialect": self.dialect,
            "kind": self.kind.value,
            "position_seconds": self.position_seconds,
            "sequence_number": self.sequence_number,
            "timestamp": round(self.timestamp * 1000),
            "received_at": round(self.received_at * 1000),
            "session_complete": self.session_complete,
            "action": self.action,
            "seek_to_seconds": self.seek_to_seconds,
            "value_ms": self.value_ms,
            "clip_length_seconds": self.clip_length_seconds,
            "attributes": dict(self.attributes),
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> PlaybackEvent:
        """Build from a decoded Avro record; KeyError/ValueError name the bad field."""
        return cls(
            event_id=str(record["event_id"]),
            organization_id=str(record["organization_id"]),
            session_id=str(record["session_id"]),
            clip_id=str(record["clip_id"]),
            source=str(record["source"]),
            kind=EventKind(record["kind"]),
            position_seconds=float(record["position_seconds"]),
            sequence_number=int(record["sequence_number"]),
            timestamp=_seconds(record["timestamp"]),
            session_complete=bool(record.get("session_complete", False)),
            dialect=str(record.get("dialect", "")),
            received_at=_seconds(record.get("received_at", 0)),
            action=str(record.get("action", "")),
            seek_to_seconds=_optional_float(record.get("seek_to_seconds")),
            value_ms=None if record.get("value_ms") is None else int(record["value_ms"]),
            clip_length_seconds=_optional_float(record.get("clip_length_seconds")),
            attributes={str(k): str(v) for k, v in (record.get("attributes") or {}).items()},
        )


def event_from_wire(r: Mapping[str, Any]) -> PlaybackEvent:
    """From a record the codec decoded (times in epoch milliseconds).

    The schema already fixed every type, so nothing is converted: the
    worker's path, several times faster than ``from_record``.
    """
    return PlaybackEvent(
        r["event_id"], r["organization_id"], r["session_id"], r["clip_id"], r["source"],
        _KINDS[r["kind"]], r["position_seconds"], r["sequence_number"], r["timestamp"] / 1000.0,
        r["session_complete"], r["dialect"], r["received_at"] / 1000.0, r["action"],
        r["seek_to_seconds"], r["value_ms"], r["clip_length_seconds"], r["attributes"])


_KINDS = {kind.value: kind for kind in EventKind}


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _seconds(stamp: datetime | float) -> float:
    # fastavro hands timestamp-millis back as aware datetimes; plain data has millis.
    return stamp.timestamp() if isinstance(stamp, datetime) else float(stamp) / 1000.0


def session_key(organization_id: str, session_id: str) -> str:
    """The Kafka message key: one session always lands in one partition."""
    return f"{organization_id}/{session_id}"


def derived_event_id(dialect: str, organization_id: str, session_id: str, sequence: int) -> str:
    """A stable id for dialects that send none, so client retries dedupe."""
    return f"{dialect}:{organization_id}:{session_id}:{sequence}"
