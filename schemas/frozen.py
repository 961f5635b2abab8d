"""Frozen dataclasses that build as fast as mutable ones.

A frozen dataclass's ``__init__`` sets every field through
``object.__setattr__``: 0.15-0.2 µs a field, 3 µs for an event, more than
everything else the worker does to read one (bench/core_cost.py).
``quick_init`` gives a frozen, slotted dataclass an ``__init__`` with the same
signature and defaults that sets the fields as plain slots while the object
is, for that moment, an instance of a mutable twin of identical layout; it is
frozen again before ``__init__`` returns, so nobody else ever sees it
mutable. Equality, ``repr``, ``dataclasses.replace`` and
``FrozenInstanceError`` on assignment are the dataclass's own.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
# The mutable twin of each class quick_init took (quick_new builds from it).
_TWINS: dict[type, type] = {}


def quick_init(cls: type[T]) -> type[T]:
    """Apply above ``@dataclass(frozen=True, slots=True)``."""
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" not in cls.__dict__:
        raise TypeError(f"{cls.__name__}: quick_init is for frozen, slotted dataclasses")
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__}: quick_init does not call __post_init__")
    twin = type(f"_{cls.__name__}Building", (), {"__slots__": cls.__dict__["__slots__"]})
    _TWINS[cls] = twin
    namespace: dict[str, Any] = {"_twin": twin, "_cls": cls, "_set": object.__setattr__,
                                 "_MISSING": dataclasses.MISSING}
    params_src, lines = [], []
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]  # checked above
        if not field.init or field.kw_only:
            raise TypeError(f"{cls.__name__}.{field.name}: quick_init takes init fields "
                            "in order only")
        name, value = field.name, field.name
        if field.default is not dataclasses.MISSING:
            namespace[f"_default_{name}"] = field.default
            params_src.append(f"{name}=_default_{name}")
        elif field.default_factory is not dataclasses.MISSING:
            namespace[f"_factory_{name}"] = field.default_factory
            params_src.append(f"{name}=_MISSING")
            value = f"_factory_{name}() if {name} is _MISSING else {name}"
        else:
            params_src.append(name)
        lines.append(f"    self.{name} = {value}")
    source = (f"def __init__(self, {', '.join(params_src)}):\n"
              "    _set(self, '__class__', _twin)\n" + "\n".join(lines)
              + "\n    _set(self, '__class__', _cls)\n")
    exec(source, namespace)  # noqa: S102 (what dataclasses does; the source is ours)
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    setattr(cls, "__init__", init)  # noqa: B010 (mypy refuses assigning a method)
    return cls


def quick_new(cls: type[T]) -> Callable[..., T]:
    """A builder of ``cls`` (under ``quick_init``) taking every field, positionally.

    For readers that build many: the object is made as the twin and turned
    into ``cls`` once, where ``__init__`` gets it as ``cls`` and has to turn it
    into the twin first. Changing an object's class is most of the cost of
    building one (0.5-0.7 µs each way, against 20 ns a field), so this
    builds an event in about half the time. Same object: type, fields, equality.
    """
    twin = _TWINS.get(cls)
    if twin is None:
        raise TypeError(f"{cls.__name__}: quick_new is for classes under quick_init")
    # quick_init took cls as a plain type; that it is a dataclass was checked there.
    names = [field.name for field in dataclasses.fields(cls)]  # type: ignore[arg-type]
    namespace: dict[str, Any] = {"_twin": twin, "_cls": cls,
                                 "_set_class": object.__dict__["__class__"].__set__}
    source = (f"def build({', '.join(names)}):\n    self = _twin()\n"
              + "".join(f"    self.{name} = {name}\n" for name in names)
              + "    _set_class(self, _cls)\n    return self\n")
    exec(source, namespace)  # noqa: S102 (as quick_init; the source is ours)
    build: Callable[..., T] = namespace["build"]
    build.__qualname__ = f"quick_new({cls.__qualname__})"
    return build


def building(cls: type[T]) -> tuple[Callable[[], Any], Callable[[Any, type[T]], None]]:
    """``(new, done)`` for a reader that sets the fields itself, as ``quick_new``'s
    builder does, without a call per object: ``new()`` is an object of
    ``cls``'s layout whose fields are plain slots to set, every one of them;
    ``done(obj, cls)`` makes it a ``cls``, which is frozen from then on.
    """
    twin = _TWINS.get(cls)
    if twin is None:
        raise TypeError(f"{cls.__name__}: building is for classes under quick_init")
    done: Callable[[Any, type[T]], None] = object.__dict__["__class__"].__set__
    return twin, done
