"""Which sessions of one partition are open, ordered by last activity (pure).

Ticks must find idle sessions without reading every stored session: this
index keeps each open session's key in the order of its last activity (a
dict's insertion order: a touched key moves to the end), so the idle ones
are a prefix and a tick reads only those. Memory: one dict entry per open
session (key string + float + slot, about 180 bytes; docs/benchmarks.md).
"""

from __future__ import annotations

from collections.abc import Iterable


class OpenSessions:
    def __init__(self, entries: Iterable[tuple[str, float]] = ()):
        self._last: dict[str, float] = {}
        self._latest = float("-inf")
        for key, stamp in sorted(entries, key=lambda entry: entry[1]):
            self.touch(key, stamp)

    def __len__(self) -> int:
        return len(self._last)

    def __contains__(self, key: object) -> bool:
        return key in self._last

    def touch(self, key: str, now: float) -> None:
        # A clock that steps back must not break the order the scan relies on;
        # such a session is then considered active a little longer, never less.
        # (Once per event added: comparisons and ``del`` rather than calls.)
        stamp = self._latest
        if now > stamp:
            self._latest = stamp = now
        last = self._last
        if key in last:
            del last[key]
        last[key] = stamp

    def discard(self, key: str) -> None:
        self._last.pop(key, None)

    def idle(self, now: float, timeout: float) -> list[str]:
        """Keys whose last activity is at least ``timeout`` before ``now``, oldest first."""
        due = []
        for key, stamp in self._last.items():
            if now - stamp < timeout:
                break
            due.append(key)
        return due
