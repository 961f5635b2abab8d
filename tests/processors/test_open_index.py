"""The open-session index: ticks see exactly the idle sessions."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_profiles import examples

from processors.open_index import OpenSessions


@settings(max_examples=examples(200), deadline=None)
@given(ops=st.lists(st.tuples(st.sampled_from("abcdefgh"), st.booleans(),
                              st.floats(0, 50)), max_size=60),
       now=st.floats(0, 200), timeout=st.floats(0, 100))
def test_idle_keys_are_exactly_those_quiet_for_the_timeout(
    ops: list[tuple[str, bool, float]], now: float, timeout: float
) -> None:
    index = OpenSessions()
    last: dict[str, float] = {}
    clock = 0.0
    for key, keep, step in ops:
        clock += step
        if keep:
            index.touch(key, clock)
            last[key] = clock
        else:
            index.discard(key)
            last.pop(key, None)
    at = clock + now
    expected = sorted(k for k, t in last.items() if at - t >= timeout)
    assert sorted(index.idle(at, timeout)) == expected
    rebuilt = OpenSessions(last.items())
    assert sorted(rebuilt.idle(at, timeout)) == expected and len(rebuilt) == len(last)


def test_a_clock_stepping_back_never_closes_a_session_early() -> None:
    index = OpenSessions()
    index.touch("a", 100)
    index.touch("b", 90)  # the clock stepped back 10 s
    assert index.idle(129, 30) == []
    assert index.idle(130, 30) == ["a", "b"]
