"""The bounds' one-pass check agrees with the check that names each violation."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_profiles import examples

from schemas.bounds import MAX_SEQUENCE, MAX_TIMESTAMP, Bounds
from schemas.event import EventKind, PlaybackEvent

NUMBER = st.floats() | st.sampled_from([0.0, -1.0, 86_400.0, 86_400.5, 1e9, MAX_TIMESTAMP])
TEXT = st.text(max_size=8) | st.sampled_from(["x" * 513, "\ud800", "é"])


@settings(max_examples=examples(500), deadline=None)
@given(position=NUMBER, seek=st.none() | NUMBER, length=st.none() | NUMBER,
       stamp=NUMBER, received=NUMBER,
       value=st.none() | st.integers(-1, 10**12),
       sequence=st.integers(-1, MAX_SEQUENCE + 1), clip=TEXT,
       attributes=st.dictionaries(TEXT, TEXT | st.just("v" * 5000), max_size=3)
       | st.just({f"k{i}": "1" for i in range(65)}))
def test_plainly_within_never_lets_a_violation_through(
        position: float, seek: float | None, length: float | None, stamp: float,
        received: float, value: int | None, sequence: int, clip: str,
        attributes: dict[str, str]) -> None:
    event = PlaybackEvent("e", "org", "session", clip, "Web", EventKind.START, position,
                          sequence, stamp, received_at=received, seek_to_seconds=seek,
                          value_ms=value, clip_length_seconds=length, attributes=attributes)
    bounds = Bounds()
    if bounds.plainly_within(event):
        assert bounds.each_violation(event) == []
    assert bounds.violations(event) == bounds.each_violation(event)
