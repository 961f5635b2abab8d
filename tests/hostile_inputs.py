"""Hostile request bodies for every gateway route, shared by the gateway's fuzz
(tests/ingest/test_gateway_fuzz.py) and the pipeline's (tests/e2e/test_hostile_input.py).

Each body is a route's valid reference request with one to three of its values
replaced (or a field added) by something hostile: huge or negative numbers,
2^63, 1e19, NaN and infinities, numbers as strings, lone surrogates, control
characters, long strings, times at the edges of what ISO 8601 and Python allow.
"""

from __future__ import annotations

import copy
import functools
import time
import uuid
from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st
from samples import omny_request

from devkit.sample_retime import retimed

Path = tuple[str | int, ...]

EXTREME_NUMBERS: list[Any] = [
    2**63, 2**63 - 1, -(2**63), 2**64, 10**19, 10**30, 10**400, -(10**400), 1e19, -1e19, 1e308,
    -1e308, 5e9, 1e6, 1e10, 4_102_444_800, 4_102_444_800_000, 0, -1, 0.5, 1e-320,
    float("nan"), float("inf"), float("-inf"),
]
ODD_STRINGS: list[Any] = [
    "nan", "NaN", "inf", "-Infinity", "1e400", "1e19", "9" * 40, "-0", "0x10", "", " ",
    "\ud800", "a\udfffb", "\x00", "\n\r\t", "\u202e", "😀" * 50, "x" * 5000, "y" * 70_000,
    "/", "..", "%2F", "a/b", "Play", "media content end", "Buffer End", "Update QoS",
]
TIMES: list[Any] = [
    "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59Z",
    "0001-01-01T00:00:00Z", "2100-01-01T00:00:00Z", "2099-12-31T23:59:59Z",
    "1970-01-01T00:00:00Z", "1969-12-31T23:59:59Z", "2026-02-30T00:00:00Z",
    "2026-13-45T99:99:99Z", "2026-01-01T00:00:00+99:00", "2026-01-01", "now",
]
SHAPES: list[Any] = [None, True, False, [], {}, [1, 2], {"a": 1}, {"$ref": "#"}]
HOSTILE = st.one_of(
    st.sampled_from(EXTREME_NUMBERS + ODD_STRINGS + TIMES + SHAPES),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    st.text(max_size=40),
    st.text(max_size=10).map(lambda text: text + "\udc00"),
    st.integers(min_value=0, max_value=10**15).map(str),
)


def paths(value: Any, prefix: Path = ()) -> list[Path]:
    """Every place in ``value``: itself, and each key and index below it."""
    found = [prefix]
    if isinstance(value, dict):
        for key, inner in value.items():
            found += paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found += paths(inner, (*prefix, index))
    return found


def put(body: Any, path: Path, value: Any) -> Any:
    if not path:
        return value
    parent = body
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = value  # type: ignore[index]
    return body


@st.composite
def hostile(draw: st.DrawFn, body: Any) -> Any:
    """``body`` with one to three values replaced, or fields added, by hostile ones."""
    body = copy.deepcopy(body)
    for _ in range(draw(st.integers(1, 3))):
        places = paths(body)
        path = draw(st.sampled_from(places))
        value = copy.deepcopy(draw(HOSTILE))  # SHAPES are shared: never mutate them
        target: Any = body
        for part in path:
            target = target[part]
        if isinstance(target, dict) and draw(st.booleans()):
            target[draw(st.one_of(st.sampled_from(ODD_STRINGS[:16]), st.text(max_size=8)))] = value
        else:
            body = put(body, path, value)
    return body


MUSIC_BODIES: dict[str, Any] = retimed("musicclips", time.time())


def routes(org: str) -> dict[str, tuple[str, Callable[[], Any]]]:
    """Route name -> (path, a fresh valid body); Omny bodies belong to ``org``."""
    now = time.time()
    return {
        "omny": ("/api/consumption/events",
                 lambda: omny_request(org=org, session=str(uuid.uuid4()), now=now)),
        "shortvideo batch": ("/v1/events/batch",
                             lambda: {"events": retimed("shortvideo", now)["events"][:6]}),
        "shortvideo event": ("/v1/events", lambda: retimed("shortvideo", now)["events"][1]),
        "apivideo": ("/v1/player-sessions/ps-fuzz/events",
                     lambda: {**retimed("apivideo", now), "events":
                              retimed("apivideo", now)["events"][:8]}),
        "mparticle batch": ("/v1/mparticle/events", lambda: retimed("mparticle", now)),
        "mparticle event": ("/v1/mparticle/event",
                            lambda: retimed("mparticle", now)["events"][2]),
        **{f"musicclips {path}": (path, functools.partial(copy.deepcopy, MUSIC_BODIES[path]))
           for path in MUSIC_BODIES},
    }
