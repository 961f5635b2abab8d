"""The garbage collector of a long-running service process, set once it is ready."""

from __future__ import annotations

import gc

# Young collections every GC_YOUNG allocations (net) instead of CPython's 700.
# A worker's batch, or the gateway's requests in flight, keep thousands of
# objects alive until they are stored or acknowledged; at 700 they reached the
# older generations meanwhile, and every tenth middle collection became a full one.
# A young collection walks what is alive of the objects made since the last one,
# which is mostly the batch at hand whatever the threshold, so fewer collections
# cost less: over 480,000 events, 20,000 took 0.96 s of collections (73 young of
# 9 ms, 6 middle of 46 ms), 100,000 took 0.46 s (15 young).
GC_YOUNG = 100_000


def settle_garbage_collector() -> None:
    """Keep the collector off what start-up built, and collect young objects less often.

    The worker, over a 120,000-event backlog (bench/worker_throughput.py): with
    CPython's defaults collections took 22 % of its CPU, a full one (about
    100 ms) every two seconds; with this (young collections every 20,000 then),
    7 %. The gateway under load
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
