"""The garbage collector of a long-running service process, set once it is ready."""

from __future__ import annotations

import gc

# Young collections every GC_YOUNG allocations (net) instead of CPython's 700.
# A worker's batch, or the gateway's requests in flight, keep thousands of
# objects alive until they are stored or acknowledged; at 700 they reached the
# older generations meanwhile, and every tenth middle collection became a full one.
GC_YOUNG = 20_000


def settle_garbage_collector() -> None:
    """Keep the collector off what start-up built, and collect young objects less often.

    The worker, over a 120,000-event backlog (bench/worker_throughput.py): with
    CPython's defaults collections took 22 % of its CPU, a full one (about
    100 ms) every two seconds; with this, 7 %. The gateway under load
    (bench/gateway_throughput.py): collections took about 8 % of its CPU, a
    full one (about 60 ms) every second or two. Frozen, everything alive once
    the process is ready (the modules of the libraries, the app) is never
    examined again. What the process allocates afterwards is collected as
    before, cycles included.
    """
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG, middle, old)
