"""The control state, without Kafka: records in, answers out."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from control import operations
from control.credentials import Kind
from control.records import ControlRecordError, decode, encode, key_of
from control.registry import Registry

ORG_A, ORG_B = "org-a", "org-b"


def applied(registry: Registry, *records: object) -> Registry:
    for record in records:
        if isinstance(record, tuple):
            registry.apply(record[0].encode(), None)
        else:
            registry.apply(*encode(record))  # type: ignore[arg-type]
    return registry


def test_a_created_key_is_stored_only_as_its_hash_and_verifies_for_its_kind() -> None:
    key, credential = operations.create_key(Kind.WRITE, ORG_A, "web player", 100.0)
    record_key, value = encode(credential)
    assert key.startswith(f"phw_{credential.key_id}_") and key.encode() not in value
    registry = applied(Registry(), credential)
    verdict = registry.verify(key, Kind.WRITE, 101.0)
    assert verdict.credential is not None and verdict.credential.organization == ORG_A
    assert registry.verify(key, Kind.READ, 101.0).refusal == "this is a write key, not a " \
                                                              "read key"
    assert registry.verify(key + "x", Kind.WRITE, 101.0).refusal == "unknown key"


def test_rotation_keeps_the_old_key_for_the_overlap_then_refuses_it() -> None:
    old_key, old = operations.create_key(Kind.READ, ORG_A, "", 0.0)
    registry = applied(Registry(), old)
    new_key, new, ending = operations.rotate_key(registry, old.key_id, 60.0, 1000.0)
    applied(registry, new, ending)
    assert registry.verify(old_key, Kind.READ, 1059.9).credential is not None
    assert registry.verify(old_key, Kind.READ, 1060.0).refusal == "expired (it was rotated)"
    assert registry.verify(new_key, Kind.READ, 5000.0).credential == new
    with pytest.raises(operations.OperationError, match="expired"):
        operations.rotate_key(registry, old.key_id, 60.0, 2000.0)


def test_revocation_takes_effect_at_once_and_is_idempotent() -> None:
    key, credential = operations.create_key(Kind.WRITE, ORG_A, "", 0.0)
    registry = applied(Registry(), credential)
    revoked = operations.revoke_key(registry, credential.key_id, 50.0)
    applied(registry, revoked)
    assert registry.verify(key, Kind.WRITE, 50.0).refusal == "revoked"
    assert operations.revoke_key(registry, credential.key_id, 90.0) == revoked


def test_an_organizations_admin_cannot_touch_another_organizations_keys() -> None:
    _, credential = operations.create_key(Kind.WRITE, ORG_A, "", 0.0)
    registry = applied(Registry(), credential)
    with pytest.raises(operations.OperationError, match=f"no key {credential.key_id} in "
                                                        f"organization {ORG_B}"):
        operations.revoke_key(registry, credential.key_id, 1.0, organization=ORG_B)
    with pytest.raises(operations.OperationError):
        operations.rotate_key(registry, credential.key_id, 0.0, 1.0, organization=ORG_B)
    assert registry.keys_of(ORG_B) == []


def test_tombstones_remove_and_a_newer_record_of_a_key_replaces_the_older() -> None:
    status = operations.set_disabled(ORG_A, True, "unpaid", 1.0)
    catalogue = operations.set_catalogue(ORG_A, {"clips": []}, 1.0)
    registry = applied(Registry(), status, catalogue)
    assert registry.is_disabled(ORG_A) and not registry.is_disabled(ORG_B)
    assert registry.catalogue(ORG_A) == {"clips": []} and registry.catalogue(ORG_B) is None
    applied(registry, operations.set_disabled(ORG_A, False, "", 2.0),
            (key_of(catalogue), None))
    assert not registry.is_disabled(ORG_A) and registry.catalogue(ORG_A) is None


def test_an_unreadable_record_is_counted_with_its_reason_and_changes_nothing() -> None:
    registry = Registry()
    registry.apply(b"credential/abc", b'{"kind": "write"}')
    registry.apply(b"nonsense", b"{}")
    assert registry.unreadable == {"credential": 1, "nonsense": 1}
    assert registry.last_error is not None and "expected one of" in registry.last_error
    assert registry.credentials == {} and registry.version == 0
    with pytest.raises(ControlRecordError, match="missing field 'organization'"):
        decode(b"credential/abc", b'{"kind": "write"}')


@given(st.lists(st.tuples(st.sampled_from([ORG_A, ORG_B]), st.booleans()), max_size=20))
def test_replaying_the_topic_gives_the_same_state(changes: list[tuple[str, bool]]) -> None:
    records = [operations.set_disabled(org, off, "", float(i))
               for i, (org, off) in enumerate(changes)]
    once = applied(Registry(), *records)
    twice = applied(applied(Registry(), *records), *records)
    assert once.statuses == twice.statuses
    for org in (ORG_A, ORG_B):
        last = [off for o, off in changes if o == org][-1:] or [False]
        assert once.is_disabled(org) is last[0]
