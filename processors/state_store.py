"""The worker's RocksDB options: one memory bound for every partition it holds.

Faust opens one RocksDB database per partition, each with its own block cache
and memtables, and leaves index and filter blocks outside any cache. Memory
then grows with the partitions a worker is given and, through the index and
filter blocks, with the number of sessions stored (closed sessions stay for
the lateness window plus the tombstone time: days of them). Here all the
worker's databases share one LRU cache that holds index and filter blocks
too, and memtables are charged to the same cache through a write buffer
manager, so ``PLAYHEAD_STATE_MEMORY_MIB`` bounds the store as a whole.
"""

from __future__ import annotations

from typing import Any

import rocksdict
from faust.stores.rocksdb import RocksDBOptions

MiB = 1024 * 1024
# Memtables may take up to this share of the bound before RocksDB flushes one.
MEMTABLE_SHARE = 0.25
# Bloom filter bits per stored key (Faust's default: 3). Every session's first event
# looks up a key that is not there; 3 bits let about a sixth of those lookups read
# a data block anyway, 10 bits one in a hundred, for a byte per session stored.
BLOOM_BITS_PER_KEY = 10
# A bloom filter over the memtable's keys too (a tenth of its size): without one a
# key not stored is looked for in the memtable's skip list before the files.
MEMTABLE_BLOOM_RATIO = 0.1


class BoundedRocksDBOptions(RocksDBOptions):
    """RocksDB options whose databases share one cache of ``memory_mib``."""

    def __init__(self, memory_mib: int, **options: Any):
        budget = memory_mib * MiB
        memtables = int(budget * MEMTABLE_SHARE)
        super().__init__(
            use_rocksdict=True,
            # Faust's default (64 MiB) would let one database's memtable
            # outgrow the whole budget before the manager flushed it.
            write_buffer_size=min(8 * MiB, memtables // 2),
            max_write_buffer_number=2,
            **{"bloom_filter_size": BLOOM_BITS_PER_KEY, **options})
        self.memory_bytes = budget
        self.cache = rocksdict.Cache(budget)
        self.write_buffers = rocksdict.WriteBufferManager.new_write_buffer_manager_with_cache(
            memtables, False, self.cache)

    def as_options(self) -> rocksdict.Options:
        options = rocksdict.Options(raw_mode=True)
        options.create_if_missing(True)
        options.set_max_open_files(self.max_open_files or -1)
        options.set_write_buffer_size(self.write_buffer_size)
        options.set_max_write_buffer_number(self.max_write_buffer_number)
        options.set_target_file_size_base(self.target_file_size_base)
        options.set_write_buffer_manager(self.write_buffers)
        options.set_memtable_prefix_bloom_ratio(MEMTABLE_BLOOM_RATIO)
        options.set_memtable_whole_key_filtering(True)
        table = rocksdict.BlockBasedOptions()
        table.set_bloom_filter(self.bloom_filter_size, True)
        table.set_block_cache(self.cache)
        table.set_cache_index_and_filter_blocks(True)
        # Level-0 files are read by every lookup; keep theirs from being evicted.
        table.set_pin_l0_filter_and_index_blocks_in_cache(True)
        table.set_index_type(rocksdict.BlockBasedIndexType.binary_search())
        options.set_block_based_table_factory(table)
        return options

    def memory(self, dbs: list[rocksdict.Rdict]) -> dict[str, int]:
        """What the store holds in memory now, by use (the cache includes memtables)."""
        return {
            "cache": self.cache.get_usage(),
            "cache_pinned": self.cache.get_pinned_usage(),
            "memtables": sum(db.property_int_value("rocksdb.cur-size-all-mem-tables") or 0
                             for db in dbs),
            "bound": self.memory_bytes,
        }
