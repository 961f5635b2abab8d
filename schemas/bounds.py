"""The bounds every canonical event keeps, stated once (pure).

The gateway refuses an event outside them with a 4xx naming the field; the
worker checks them again for producers that write to Kafka directly and
dead-letters what is outside (reason ``out_of_bounds``). They are chosen so
that:

* a canonical event always fits in a Kafka message, with room to spare
  (at most ``MAX_EVENT_BYTES`` of text, far below Kafka's 1 MB default);
* no figure derived from events inside them can exceed a ClickHouse column:
  bucket edges (UInt32) stay below the longest clip, measured durations
  (``startup_ms`` is UInt32) below ``MAX_VALUE_MS``, times inside DateTime64;
* no analyst query has to build an array longer than the longest clip.

docs/gateway.md lists them with the settings that move them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

DAY_SECONDS = 86_400.0
# The longest clip a deployment may configure (PLAYHEAD_MAX_CLIP_SECONDS): a week
# of 1 s buckets is 604,800 array elements, which every query still handles.
MAX_CLIP_SECONDS_CEILING = 7 * DAY_SECONDS
DEFAULT_MAX_CLIP_SECONDS = DAY_SECONDS

# Event times: from the Unix epoch to the start of 2100 (inside ClickHouse's DateTime
# and DateTime64 and Python's datetime, with every time zone offset applied).
MIN_TIMESTAMP = 0.0
MAX_TIMESTAMP = 4_102_444_800.0  # 2100-01-01T00:00:00Z

# Sequence numbers and offsets are Avro longs: 1 .. 2^63 - 1.
MAX_SEQUENCE = 2**63 - 1

# A measured duration (startup time, one stall) in milliseconds: at most one
# longest-possible clip, which keeps it (and a session's sum) inside UInt32/UInt64.
MAX_VALUE_MS = int(MAX_CLIP_SECONDS_CEILING * 1000)

# Text: ids, names and attributes, counted in characters.
MAX_ID_CHARS = 512  # derived event ids join dialect, organization, session and sequence
MAX_ATTRIBUTES = 64
MAX_ATTRIBUTE_KEY_CHARS = 128
MAX_ATTRIBUTE_VALUE_CHARS = 4096
MAX_ATTRIBUTES_CHARS = 16_384  # keys and values of one event together
# Seven id-like fields plus the attributes, four bytes a character at worst, plus
# the fixed fields: the most text one event can carry.
MAX_EVENT_BYTES = 4 * (7 * MAX_ID_CHARS + MAX_ATTRIBUTES_CHARS) + 256

ID_FIELDS = ("event_id", "organization_id", "session_id", "clip_id", "source", "dialect",
             "action")


class BoundedEvent(Protocol):
    """The fields of a canonical event the bounds look at."""

    @property
    def event_id(self) -> str: ...
    @property
    def organization_id(self) -> str: ...
    @property
    def session_id(self) -> str: ...
    @property
    def clip_id(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def dialect(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def position_seconds(self) -> float: ...
    @property
    def sequence_number(self) -> int: ...
    @property
    def timestamp(self) -> float: ...
    @property
    def received_at(self) -> float: ...
    @property
    def seek_to_seconds(self) -> float | None: ...
    @property
    def value_ms(self) -> int | None: ...
    @property
    def clip_length_seconds(self) -> float | None: ...
    @property
    def attributes(self) -> Mapping[str, str]: ...


@dataclass(frozen=True, slots=True)
class Violation:
    """One canonical field outside its bound; ``field`` is the canonical name."""

    field: str
    message: str

    reason = "out_of_bounds"


@dataclass(frozen=True, slots=True)
class Bounds:
    """The configurable part of the bounds (the rest are constants above)."""

    max_clip_seconds: float = DEFAULT_MAX_CLIP_SECONDS

    def __post_init__(self) -> None:
        if not 0 < self.max_clip_seconds <= MAX_CLIP_SECONDS_CEILING:
            raise ValueError(f"max_clip_seconds must be in (0, {MAX_CLIP_SECONDS_CEILING:g}]")

    def position(self, name: str, value: float | None) -> Violation | None:
        """A playhead position or clip length: finite and at most the longest clip.

        Negative positions are allowed here: the semantics clamp them to 0.
        """
        if value is None:
            return None
        if not math.isfinite(value) or value > self.max_clip_seconds:
            return Violation(name, f"{name} is {value:g} s; positions and clip lengths are at "
                                   f"most {self.max_clip_seconds:g} s (PLAYHEAD_MAX_CLIP_SECONDS)")
        if value < -self.max_clip_seconds:
            return Violation(name, f"{name} is {value:g} s; it is below -{self.max_clip_seconds:g}")
        return None

    def violations(self, event: BoundedEvent) -> list[Violation]:
        """Every bound ``event`` breaks; empty when it keeps them all."""
        if self.plainly_within(event):
            return []
        return self.each_violation(event)

    def plainly_within(self, e: BoundedEvent) -> bool:
        """True only for an event inside every bound, checked in one pass (the hot path:
        every event at the gateway and in the worker). False sends it to
        ``each_violation``, which names what is wrong (or finds nothing, for
        non-ASCII text that is valid)."""
        return self.all_plainly_within([e])

    def all_plainly_within(self, events: Iterable[BoundedEvent]) -> bool:
        """``plainly_within`` of every event (the worker's path: every event of a
        message). Compiled for a list of ``PlaybackEvent`` (schemas/_wire_read.c,
        the same answer: tests/schemas/test_bounds_compiled.py); the Python loop
        for anything else, or where the module was not built."""
        if _PLAIN is not None and type(events) is list:
            answer = _PLAIN(events, self.max_clip_seconds)
            if answer is not None:
                return bool(answer)
        return self.all_plainly_within_python(events)

    def all_plainly_within_python(self, events: Iterable[BoundedEvent]) -> bool:
        """``all_plainly_within`` in one loop. The five texts a batch's events share
        (organization to dialect: the same strings, as the codec's reader gives
        them) are checked once, not once an event."""
        m = self.max_clip_seconds
        previous = None  # the event before, found plain
        for e in events:
            if not -m <= e.position_seconds <= m:  # NaN compares false: not plain
                return False
            for optional in (e.seek_to_seconds, e.clip_length_seconds):
                if optional is not None and not -m <= optional <= m:
                    return False
            if not MIN_TIMESTAMP <= e.timestamp < MAX_TIMESTAMP:
                return False
            if e.received_at and not MIN_TIMESTAMP <= e.received_at < MAX_TIMESTAMP:
                return False
            if e.value_ms is not None and not 0 <= e.value_ms <= MAX_VALUE_MS:
                return False
            if not 1 <= e.sequence_number <= MAX_SEQUENCE:
                return False
            if (previous is not None and e.organization_id is previous.organization_id
                    and e.session_id is previous.session_id and e.clip_id is previous.clip_id
                    and e.source is previous.source and e.dialect is previous.dialect):
                texts: tuple[str, ...] = (e.event_id, e.action)
            else:  # the texts joined: ASCII together or not at all, and no text is
                # longer than all of them (two calls instead of fourteen)
                texts = (e.event_id, e.organization_id, e.session_id, e.clip_id, e.source,
                         e.dialect, e.action)
            joined = "".join(texts)
            if not joined.isascii() or (len(joined) > MAX_ID_CHARS
                                        and max(map(len, texts)) > MAX_ID_CHARS):
                return False
            attributes = e.attributes
            if attributes:
                if len(attributes) > MAX_ATTRIBUTES:
                    return False
                total = 0
                for key, value in attributes.items():
                    if (len(key) > MAX_ATTRIBUTE_KEY_CHARS
                            or len(value) > MAX_ATTRIBUTE_VALUE_CHARS
                            or not (key.isascii() and value.isascii())):
                        return False
                    total += len(key) + len(value)
                if total > MAX_ATTRIBUTES_CHARS:
                    return False
            previous = e
        return True

    def each_violation(self, event: BoundedEvent) -> list[Violation]:
        """Every bound ``event`` breaks, each with a message naming it."""
        found = [v for v in (
            self.position("position_seconds", event.position_seconds),
            self.position("seek_to_seconds", event.seek_to_seconds),
            self.position("clip_length_seconds", event.clip_length_seconds),
            timestamp_violation("timestamp", event.timestamp),
            timestamp_violation("received_at", event.received_at, allow_zero=True),
            value_ms_violation(event.value_ms),
        ) if v is not None]
        if not 1 <= event.sequence_number <= MAX_SEQUENCE:
            found.append(Violation("sequence_number", f"sequence_number is "
                                   f"{event.sequence_number}; it must be 1 to 2^63-1"))
        for name in ID_FIELDS:
            text = getattr(event, name)
            if len(text) > MAX_ID_CHARS:
                found.append(Violation(name, f"{name} has {len(text)} characters; at most "
                                             f"{MAX_ID_CHARS}"))
            elif not encodable(text):
                found.append(Violation(name, f"{name} is not valid Unicode text "
                                             "(a lone surrogate)"))
        attribute = attributes_violation(event.attributes)
        if attribute is not None:
            found.append(attribute)
        return found


def timestamp_violation(name: str, stamp: float, allow_zero: bool = False) -> Violation | None:
    if allow_zero and stamp == 0:
        return None
    if not math.isfinite(stamp) or not MIN_TIMESTAMP <= stamp < MAX_TIMESTAMP:
        return Violation(name, f"{name} is {stamp:g} s after the epoch; times must fall "
                               "between 1970-01-01 and 2100-01-01 UTC")
    return None


def value_ms_violation(value_ms: int | None) -> Violation | None:
    if value_ms is None or 0 <= value_ms <= MAX_VALUE_MS:
        return None
    return Violation("value_ms", f"value_ms is {value_ms}; a measured duration is 0 to "
                                 f"{MAX_VALUE_MS} ms")


def attributes_violation(attributes: Mapping[str, str]) -> Violation | None:
    if len(attributes) > MAX_ATTRIBUTES:
        return Violation("attributes", f"{len(attributes)} attributes; at most {MAX_ATTRIBUTES}")
    total = 0
    for key, value in attributes.items():
        if len(key) > MAX_ATTRIBUTE_KEY_CHARS:
            return Violation("attributes", f"attribute name {key[:40]!r}… has {len(key)} "
                                           f"characters; at most {MAX_ATTRIBUTE_KEY_CHARS}")
        if len(value) > MAX_ATTRIBUTE_VALUE_CHARS:
            return Violation(f"attributes.{key}", f"attribute {key!r} has {len(value)} "
                             f"characters; at most {MAX_ATTRIBUTE_VALUE_CHARS}")
        if not (encodable(key) and encodable(value)):
            return Violation(f"attributes.{key!r}", "an attribute is not valid Unicode text "
                                                    "(a lone surrogate)")
        total += len(key) + len(value)
    if total > MAX_ATTRIBUTES_CHARS:
        return Violation("attributes", f"attributes hold {total} characters; at most "
                                       f"{MAX_ATTRIBUTES_CHARS} together")
    return None


def encodable(text: str) -> bool:
    """Whether ``text`` has a UTF-8 form (JSON's \\ud800 escapes give strings that don't)."""
    if text.isascii():
        return True
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _compiled_plain() -> Callable[[list[BoundedEvent], float], bool | None] | None:
    """schemas._wire_read's ``plainly_within`` with these bounds' limits; None where
    the module was not built. It answers None (Python decides) until the wire
    reader has set it up for ``PlaybackEvent`` (schemas/wire_read.py)."""
    try:
        from schemas import _wire_read  # type: ignore[attr-defined]
    except ImportError:
        return None
    _wire_read.configure_bounds(MIN_TIMESTAMP, MAX_TIMESTAMP, MAX_VALUE_MS, MAX_SEQUENCE,
                                MAX_ID_CHARS, MAX_ATTRIBUTES, MAX_ATTRIBUTE_KEY_CHARS,
                                MAX_ATTRIBUTE_VALUE_CHARS, MAX_ATTRIBUTES_CHARS)
    plain: Callable[[list[BoundedEvent], float], bool | None] = _wire_read.plainly_within
    return plain


_PLAIN = _compiled_plain()
