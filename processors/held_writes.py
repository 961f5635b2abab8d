"""Batches' table writes held in memory until their rows are in the warehouse (pure).

A batch's writes (the deletions its loads decide, then its changes) may be
stored only once its rows are written. The next batch is processed
meanwhile, so it reads sessions through the writes held: it sees exactly
what it would have seen had they been stored already. Batches are stored
in the order they were taken.
"""

from __future__ import annotations

from typing import Any, Final

ABSENT: Final = object()  # ``read``: no write held for the key


class Staged:
    """One batch's writes, in order: (token, key, value), None deleting the key."""

    def __init__(self) -> None:
        self.writes: list[tuple[Any, str, bytes | None]] = []
        self.latest: dict[str, bytes | None] = {}

    def put(self, token: Any, key: str, value: bytes | None) -> None:
        self.writes.append((token, key, value))
        self.latest[key] = value


class HeldWrites:
    def __init__(self) -> None:
        self._staged: list[Staged] = []  # oldest first; the last one may be open
        self.open: Staged | None = None  # the batch being processed takes its writes here

    def begin(self) -> Staged:
        assert self.open is None, "a batch is already being processed"
        self.open = Staged()
        self._staged.append(self.open)
        return self.open

    def close(self) -> Staged:
        """The batch being processed is done with: its writes wait for ``take``."""
        staged = self.open
        assert staged is not None
        self.open = None
        return staged

    def read(self, key: str) -> bytes | None | object:
        """The newest write held for ``key``, or ``ABSENT``."""
        for staged in reversed(self._staged):
            if key in staged.latest:
                return staged.latest[key]
        return ABSENT

    def take(self, staged: Staged) -> list[tuple[Any, str, bytes | None]]:
        """The oldest batch's writes, to be stored now (no longer held)."""
        assert self._staged and self._staged[0] is staged and staged is not self.open, \
            "batches are stored in the order they were taken, once processed"
        self._staged.pop(0)
        return staged.writes

    def clear(self) -> None:
        self._staged.clear()
        self.open = None

    def __len__(self) -> int:
        return len(self._staged)
