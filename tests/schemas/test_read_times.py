"""The fast reader's two times, read together when both are six-byte varints (today's
milliseconds), against the general decoder; near the edges of that shape too."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_profiles import examples
from test_read_events import general, records

from schemas import event_codec

# Zig-zag values of 35 to 42 bits take six bytes: 2^34 .. 2^41 - 1 and their negatives,
# and the neighbours a byte shorter or longer.
SIX_BYTES = st.integers(2**34, 2**41 - 1) | st.integers(-(2**41), -(2**34) - 1)
NEAR = st.sampled_from([2**34 - 1, 2**34, 2**41 - 1, 2**41, -(2**34), -(2**34) - 1,
                        -(2**41), -(2**41) - 1, 0, 1_700_000_000_000, 2_199_023_255_551])
TIMES = SIX_BYTES | NEAR | st.integers(-(2**63), 2**63 - 1)


@st.composite
def timed(draw: st.DrawFn) -> dict[str, Any]:
    record = draw(records())
    record["timestamp"], record["received_at"] = draw(TIMES), draw(TIMES)
    return record


@settings(max_examples=examples(400))
@given(batch=st.lists(timed(), min_size=1, max_size=4))
def test_times_read_as_the_general_decoder_reads_them(batch: list[dict[str, Any]]) -> None:
    message = (event_codec().encode(batch[0]) if len(batch) == 1
               else event_codec().encode_batch(batch))
    assert event_codec().read_events(message) == general(message)


@settings(max_examples=examples(400))
@given(record=timed(), data=st.data())
def test_damaged_or_cut_times_read_alike_or_go_to_the_general_decoder(
        record: dict[str, Any], data: st.DataObject) -> None:
    message = bytearray(event_codec().encode(record))
    # The times sit 24 to 12 bytes before the end when there are no extras; hit near them.
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(max(10, len(message) - 40), len(message) - 1))
        message[at] = data.draw(st.integers(0, 255))
    cut = bytes(message[:data.draw(st.integers(max(10, len(message) - 40), len(message)))])
    fast = event_codec().read_events(cut)
    if fast is not None:
        assert repr(fast) == repr(general(cut))
