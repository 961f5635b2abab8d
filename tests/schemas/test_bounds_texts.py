"""plainly_within's text check (joined: two calls) against the check per text it replaced."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_profiles import examples

from schemas.bounds import MAX_ID_CHARS, Bounds
from schemas.event import EventKind, PlaybackEvent

# Lengths around the bound, alone and together; ASCII or not.
TEXT = (st.integers(0, 600).map(lambda n: "x" * n)
        | st.sampled_from(["", "é", "\ud800", "x" * 511 + "é", "x" * 512, "x" * 513])
        | st.text(max_size=20))


def each_text_plain(event: PlaybackEvent) -> bool:
    for text in (event.event_id, event.organization_id, event.session_id, event.clip_id,
                 event.source, event.dialect, event.action):
        if len(text) > MAX_ID_CHARS or not text.isascii():
            return False
    return True


@settings(max_examples=examples(500), deadline=None)
@given(texts=st.tuples(TEXT, TEXT, TEXT, TEXT, TEXT, TEXT, TEXT))
def test_texts_are_plain_exactly_when_each_is(texts: tuple[str, ...]) -> None:
    event_id, organization, session, clip, source, dialect, action = texts
    event = PlaybackEvent(event_id, organization, session, clip, source, EventKind.START, 1.0,
                          1, 1.7e9, dialect=dialect, action=action)
    assert Bounds().plainly_within(event) == each_text_plain(event)
