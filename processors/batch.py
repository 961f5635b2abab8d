"""One batch of the worker's work on its sessions, as plain data (pure).

The shell reads stored bytes through ``load``, feeds events and ticks in, and
gets back what to write to ClickHouse (``emitted``) and then to the state
table (``changes``), in that order: state that says "closed" is only stored
once the close is in ClickHouse, so a crash in between replays the events
and closes the session again (same version: the sink collapses it).

Events are added as they come; each session they touched is settled (closed
when complete, or written again after a duplicate) once, when the batch's
results are first asked for. A session of thousands of events sent in one
go is therefore summarized once per batch, not once per event, and applying
an event costs the same whatever the session already holds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from processors import state_codec
from processors.completeness import PendingSessions
from processors.handling import (
    WorkerCounters,
    admit,
    check_fits,
    close_if_idle,
    expire,
    settle,
)
from processors.open_index import OpenSessions
from processors.session import (
    Added,
    Rules,
    SessionResult,
    SessionState,
    Tombstone,
    event_hash,
)
from schemas.event import PlaybackEvent

Token = object  # the shell's handle for "a message of this partition", kept as it is


@dataclass(slots=True)
class Change:
    key: str
    value: bytes | None  # None deletes the key
    token: Token


@dataclass(slots=True)
class SessionBatch:
    now: float
    rules: Rules
    load: Callable[[str, Token], bytes | None]
    counters: WorkerCounters
    _emitted: dict[str, SessionResult] = field(default_factory=dict)
    _closes: list[SessionResult] = field(default_factory=list)
    _states: dict[str, SessionState | Tombstone | None] = field(default_factory=dict)
    # Stored bytes per session: at least what they are, exactly when the flag says so.
    _sizes: dict[str, tuple[int, bool]] = field(default_factory=dict)
    _dirty: dict[str, Token] = field(default_factory=dict)
    _unsettled: dict[str, OpenSessions] = field(default_factory=dict)
    # Sessions as loaded: their stored bytes and events, which changes() extends.
    _loaded: dict[str, tuple[bytes, SessionState, int]] = field(default_factory=dict)
    # The index and key apply touched last, while the index has not changed since.
    _touched: OpenSessions | None = None
    _touched_key: str = ""

    @property
    def emitted(self) -> dict[str, SessionResult]:
        """Session key -> what to write to ClickHouse for it."""
        self._settle()
        return self._emitted

    @property
    def closes(self) -> list[SessionResult]:
        """The closes among ``emitted`` (re-writes after duplicates are not closes)."""
        self._settle()
        return self._closes

    def _get(self, key: str, token: Token) -> SessionState | Tombstone | None:
        if key not in self._states:
            raw = self.load(key, token)
            state = state_codec.decode(raw) if raw else None
            self._states[key] = state
            self._sizes[key] = (len(raw) if raw else 0, True)
            if raw and isinstance(state, SessionState) and state.events:
                self._loaded[key] = (raw, state, len(state.events))
        return self._states[key]

    def apply(self, event: PlaybackEvent, index: OpenSessions, token: Token) -> Added:
        """Add ``event`` to its session; ``InvalidMessage`` when it cannot be.

        ``late`` for a session past its lateness window whose tombstone keeps no
        event ids (handling.admit); ``session_limit`` and
        ``clip_mismatch`` as ``handling.check_fits`` says. A refused event
        leaves its session as it was.
        """
        key = f"{event.organization_id}/{event.session_id}"  # event.session_key, inline
        states = self._states
        stored = states[key] if key in states else self._get(key, token)
        if isinstance(stored, SessionState) and not stored.closed:
            state = stored  # what admit says of an open session, sooner
        elif stored is None:
            # What admit says of a new session, sooner, and the bytes it would take.
            state = SessionState()
            self._sizes[key] = (state_codec.EMPTY_SIZE, True)
        else:
            state = admit(stored, event, self.now, self.rules)
            if state is not stored:
                # A new session or a session's next part: its stored bytes are the
                # parts section at most, not the closed events it replaces.
                self._sizes[key] = (len(state_codec.encode(state)), True)
        event_id = event.event_id
        earlier = state.earlier
        if not (event_id in state.events or (earlier and event_hash(event_id) in earlier)):
            # state.holds(event) said no: a new event.
            size, exact = self._sizes[key]
            self._sizes[key] = check_fits(state, size, exact, event, self.rules)
            states[key] = state
            if state.add_new(event, self.now):
                added = Added.REOPENED
                self.counters.count_added(added, False)
            else:
                added = Added.NEW
                if len(state.events) == 1:
                    self.counters.count_added(added, True, state.continuation > 0)
                else:
                    self.counters.count_added(added, False)
            # Touching the key this batch touched last, with nothing settled since,
            # changes nothing (it is last, at this batch's time): the events of
            # one session mostly come together. (An index changes only through the
            # batch applying to it: the shell applies one batch at a time.)
            if self._touched is not index or self._touched_key != key:
                index.touch(key, self.now)
                self._touched, self._touched_key = index, key
        elif not state.events:
            # A duplicate of an event an earlier part counted, and no part open
            # to hold it: it is counted (as a duplicate) and the stored value
            # stays; a part is never stored without events.
            self.counters.count_added(Added.DUPLICATE, False)
            self._dirty[key] = token
            return Added.DUPLICATE
        else:
            states[key] = state
            added = Added.DUPLICATE
            self.counters.count_added(added, False)
        # Duplicates are stored again too: after a crash the local RocksDB can
        # hold a change whose changelog message was never sent, and the replay
        # that brings the duplicate is the chance to send it.
        self._dirty[key] = token
        self._unsettled[key] = index
        return added

    def _settle(self) -> None:
        self._touched = None  # the index changes below
        for key, index in self._unsettled.items():
            state = self._states[key]
            assert isinstance(state, SessionState)
            result, closed = settle(state, self.now, self.rules)
            if result is not None:
                self._emitted[key] = result
            if closed:
                assert result is not None
                self._closes.append(result)
                index.discard(key)
        self._unsettled.clear()

    def close_idle(self, index: OpenSessions, token: Token) -> None:
        self._settle()
        for key in index.idle(self.now, self.rules.idle_timeout_seconds):
            index.discard(key)
            state = self._get(key, token)
            if not isinstance(state, SessionState):
                continue  # the index was stale: nothing open under this key
            result = close_if_idle(state, self.now, self.rules)
            if result is not None:
                self._emitted[key] = result
                self._closes.append(result)
                self._dirty[key] = token

    def sweep(self, entries: Iterable[tuple[str, bytes]], token: Token) -> None:
        """Closed sessions past their lateness window become tombstones; old tombstones go."""
        for key, raw in entries:
            header = state_codec.peek(raw)
            if header.kind == state_codec.OPEN or key in self._states:
                continue
            if self.now - header.closed_at < self.rules.lateness_seconds:
                continue
            if header.kind == state_codec.CLOSED:
                # Past its window: what expire() makes of it, without building its events.
                tombstone = state_codec.tombstone_of(raw)
                self._states[key] = (None if tombstone.is_expired(self.now, self.rules)
                                     else tombstone)
                self._dirty[key] = token
                continue
            stored = state_codec.decode(raw)
            after = expire(stored, self.now, self.rules)
            if after is not stored:
                self._states[key] = after
                self._dirty[key] = token

    def changing(self, skew: float = 0.0) -> list[tuple[Token, str, float]]:
        """(token, organization, earliest event) of each session this batch changed that
        can still change: the complete-through watermark follows these
        (processors/completeness.py). Tombstones and sessions past their window
        are final and not listed; ``skew`` more seconds of window allow for a
        worker whose clock is behind this one's taking the partition over."""
        self._settle()
        out = []
        lateness = self.rules.lateness_seconds + skew
        for key, token in self._dirty.items():
            state = self._states[key]
            if not isinstance(state, SessionState) or not state.events:
                continue
            if state.closed and self.now - state.closed_at >= lateness:
                continue
            first = next(iter(state.events.values()))
            out.append((token, first.organization_id, state.earliest))
        return out

    def changes(self) -> list[Change]:
        self._settle()
        out = []
        for key, token in self._dirty.items():
            state = self._states[key]
            loaded = self._loaded.get(key)
            if loaded is not None and loaded[1] is state:
                # The state loaded, with this batch's events after its stored ones.
                value: bytes | None = state_codec.encode_after(state, loaded[0], loaded[2])
            else:
                value = None if state is None else state_codec.encode(state)
            out.append(Change(key, value, token))
        return out


def open_entries(entries: Iterable[tuple[str, bytes]],
                 pending: PendingSessions | None = None, now: float = 0.0,
                 rules: Rules | None = None) -> list[tuple[str, float]]:
    """(key, last activity) of the open sessions among stored entries: an index rebuild.

    With ``pending``, every stored session that can still change at ``now``
    (open, or closed within ``rules``' lateness window) is recorded in it too,
    at the time it last changed; only those are decoded.
    """
    out = []
    for key, raw in entries:
        header = state_codec.peek(raw)
        if header.kind == state_codec.OPEN:
            out.append((key, header.last_activity))
        if pending is None or rules is None:
            continue
        if header.kind == state_codec.OPEN:
            at = header.last_activity
        elif (header.kind == state_codec.CLOSED
              and now - header.closed_at < rules.lateness_seconds):
            at = header.closed_at
        else:
            continue
        found = state_codec.earliest(raw)
        if found is not None:
            pending.record(*found, at)
    return out
