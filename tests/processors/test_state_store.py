"""The worker's RocksDB options (processors/state_store.py): sessions are found where
they are stored, and a key never stored is ruled out by the filters, not a read."""

from __future__ import annotations

import tempfile
import uuid

import rocksdict

from processors.state_store import BoundedRocksDBOptions


def counts(options: rocksdict.Options) -> dict[str, int]:
    out = {}
    for line in (options.get_statistics() or "").splitlines():
        name, _, rest = line.partition(" COUNT : ")
        if rest:
            out[name] = int(rest.split()[0])  # histograms go on: " SUM : ..."
    return out


def test_stored_sessions_are_found_and_new_ones_ruled_out_by_the_filter() -> None:
    options = BoundedRocksDBOptions(64).as_options()
    options.enable_statistics()
    with tempfile.TemporaryDirectory() as path:
        db = rocksdict.Rdict(path, options)
        try:
            stored = [f"org/{uuid.uuid4()}".encode() for _ in range(5000)]
            batch = rocksdict.WriteBatch(raw_mode=True)
            for key in stored:
                batch.put(key, key[::-1])
            db.write(batch)
            new = [f"org/{uuid.uuid4()}".encode() for _ in range(1000)]
            for where in ("memtable", "files"):
                assert all(db.get(key) == key[::-1] for key in stored), where
                assert all(db.get(key) is None for key in new), where
                db.flush()
            # A session's first event looks its key up: with Faust's 3 bits
            # about a sixth of those lookups read a block; here one in a hundred.
            ruled_out = counts(options)["rocksdb.bloom.filter.useful"]
            assert ruled_out >= 0.97 * len(new)
        finally:
            db.close()
