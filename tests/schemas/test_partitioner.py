"""Partitioning must agree with Kafka's default partitioner byte for byte."""

from __future__ import annotations

from aiokafka.partitioner import murmur2 as reference_murmur2
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_profiles import examples

from schemas.partitioner import murmur2, partition_of


@settings(max_examples=examples(2000), deadline=None)
@given(st.binary(max_size=200))
def test_murmur2_matches_the_kafka_client(data: bytes) -> None:
    assert murmur2(data) == reference_murmur2(data)


def test_partition_of_a_session_key() -> None:
    key = "126281f8-200e-4c9f-8378-a4870055423b/a039f83d-1916-436b-a090-efbc08698506"
    expected = (reference_murmur2(key.encode()) & 0x7FFFFFFF) % 4
    assert partition_of(key, 4) == partition_of(key.encode(), 4) == expected
