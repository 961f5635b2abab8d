"""How much memory a piece of code keeps: the compiled modules' leak tests."""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable


def retained_bytes(run: Callable[[], None]) -> int:
    """Bytes still allocated after a second ``run`` (the first warms the caches)."""
    run()
    gc.collect()
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        run()
        gc.collect()
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return after - before
