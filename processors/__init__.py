"""Stream processing: the pure sessionization core and the Faust shell around it.

The core (``intervals``, ``histogram``, ``figures``, ``session``, ``handling``,
``batch``, ``state_codec``, ``open_index``, ``completeness`` (the watermark's
bounds), ``erasures`` (which stored sessions an erasure covers), ``held_writes``
(a batch's table writes held until its rows are written); the canonical
event is the wire format's, ``schemas.event``) takes events and the current
time and returns values; it imports no Faust, Kafka or ClickHouse code, which
``tests/processors/test_layers.py`` checks, as it checks that every module is
named here. The shell: ``faust_app`` (topics, agent, timers),
``faust_transport``, ``faust_records`` and ``faust_stream`` (Faust's record
path without its per-record tasks, the agent's records a fetch at a time
without an event each, and the agent's batches), ``faust_monitor`` (Faust's
monitor without its per-record bookkeeping), ``state_table``, ``table_batch``
(a batch's table changes in one RocksDB write batch per partition and one
producer-buffer item) and ``state_store`` (Faust's RocksDB table; with the
modules before, the only users of Faust's private API), ``dead_letters`` and
``sink_flusher`` (the steps that talk to Kafka and the sink, through
callables the shell passes in; they import no shell library either),
``batch_pipeline`` (a batch written, stored and
acknowledged while the next is processed), ``watermark_writer`` (stores the complete-through
bounds), ``metrics`` (Prometheus and liveness), ``topics`` (creates the
topics) and ``worker_config`` (the worker's frozen settings).
"""
