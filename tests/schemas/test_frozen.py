"""quick_init builds frozen dataclasses as the dataclass would, only faster."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import pytest

from schemas.event import EventKind, PlaybackEvent
from schemas.frozen import building, quick_init, quick_new


@quick_init
@dataclass(frozen=True, slots=True)
class Sample:
    name: str
    size: int = 3
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Plain:
    name: str
    size: int = 3
    tags: dict[str, str] = field(default_factory=dict)


def test_it_builds_what_the_dataclass_builds() -> None:
    cases: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
        (("a",), {}), (("a", 5), {}), ((), {"name": "a", "tags": {"k": "v"}})]
    for args, kwargs in cases:
        quick, plain = Sample(*args, **kwargs), Plain(*args, **kwargs)
        assert dataclasses.astuple(quick) == dataclasses.astuple(plain)
        assert repr(quick).removeprefix("Sample") == repr(plain).removeprefix("Plain")
    assert Sample("a").tags is not Sample("a").tags  # a fresh default each time
    assert Sample("a") == Sample("a") and type(Sample("a")) is Sample


def test_it_stays_frozen_and_replace_works() -> None:
    sample = Sample("a")
    with pytest.raises(dataclasses.FrozenInstanceError):
        sample.size = 4  # type: ignore[misc]
    assert dataclasses.replace(sample, size=4) == Sample("a", 4)
    event = PlaybackEvent("e", "o", "s", "c", "Web", EventKind.START, 0.0, 1, 1.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.clip_id = "other"  # type: ignore[misc]
    assert dataclasses.replace(event, clip_id="d").clip_id == "d"


def test_it_refuses_what_it_cannot_build() -> None:
    @dataclass(slots=True)
    class Mutable:
        name: str

    with pytest.raises(TypeError, match="frozen"):
        quick_init(Mutable)


def test_quick_new_builds_what_the_class_builds() -> None:
    build = quick_new(Sample)
    built = build("a", 5, {"k": "v"})
    assert type(built) is Sample and built == Sample("a", 5, {"k": "v"})
    assert repr(built) == repr(Sample("a", 5, {"k": "v"}))
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.name = "b"  # type: ignore[misc]
    with pytest.raises(TypeError):
        quick_new(Plain)
    event = quick_new(PlaybackEvent)("e", "o", "s", "c", "Web", EventKind.START, 1.0, 1, 2.0,
                                     True, "d", 3.0, "play", None, 5, None, {"a": "b"})
    assert event == PlaybackEvent("e", "o", "s", "c", "Web", EventKind.START, 1.0, 1, 2.0,
                                  True, "d", 3.0, "play", None, 5, None, {"a": "b"})
    assert type(event) is PlaybackEvent


def test_building_sets_fields_then_gives_the_class() -> None:
    new, done = building(Sample)
    built = new()
    built.name, built.size, built.tags = "a", 5, {"k": "v"}
    done(built, Sample)
    assert type(built) is Sample and built == Sample("a", 5, {"k": "v"})
    assert repr(built) == repr(Sample("a", 5, {"k": "v"}))
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.name = "b"  # type: ignore[misc]
    assert dataclasses.replace(built, size=4) == Sample("a", 4, {"k": "v"})
    with pytest.raises(TypeError):
        building(Plain)
