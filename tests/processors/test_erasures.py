"""Which stored sessions a worker drops for an erasure record (processors/erasures.py)."""

from __future__ import annotations

from control.records import ErasureRecord, decode, encode, session_digest
from control.registry import Registry
from processors.erasures import ErasedSessions


def record(issued_at: float = 100.0) -> ErasureRecord:
    salt = "a-fresh-salt"
    return ErasureRecord("req-1", "org", salt,
                         (session_digest(salt, "org", "client-7:2026-03-01"),), issued_at)


def test_the_record_travels_without_the_session_or_the_person() -> None:
    key, value = encode(record())
    assert key == b"erasure/req-1"
    assert b"client-7" not in value
    assert decode(key, value) == record()


def test_a_session_stored_before_the_erasure_goes_one_stored_after_stays() -> None:
    erased = ErasedSessions(lambda: [record(issued_at=100.0)])
    assert erased.covers("org/client-7:2026-03-01", changed_at=99.0)
    # The subject's new session under the same key, after the erasure: new data.
    assert not erased.covers("org/client-7:2026-03-01", changed_at=101.0)
    assert not erased.covers("org/client-8:2026-03-01", changed_at=99.0)
    # Another organization's session of the same id is not this erasure's.
    assert not erased.covers("other/client-7:2026-03-01", changed_at=99.0)


def test_the_registry_keeps_erasures_apart_and_forgets_a_tombstoned_one() -> None:
    registry = Registry()
    registry.apply(*encode(record()))
    assert list(registry.erasures) == ["req-1"] and not registry.unreadable
    registry.apply(b"erasure/req-1", None)
    assert registry.erasures == {}


def test_a_new_record_is_seen_and_one_past_the_horizon_is_not_asked() -> None:
    registry = Registry()
    now = [1000.0]
    erased = ErasedSessions(lambda: registry.erasures.values(), lambda: registry.version,
                            horizon_seconds=500.0, clock=lambda: now[0])
    assert not erased.covers("org/client-7:2026-03-01", changed_at=50.0)
    registry.apply(*encode(record(issued_at=900.0)))
    assert erased.covers("org/client-7:2026-03-01", changed_at=50.0)
    now[0] = 2000.0  # the record is older than the horizon: such a state is swept by now
    assert not erased.covers("org/client-7:2026-03-01", changed_at=50.0)
