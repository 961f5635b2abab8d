"""Stream processing: the pure sessionization core and the Faust shell around it.

The core (``intervals``, ``histogram``, ``figures``, ``session``, ``handling``,
``batch``, ``state_codec``, ``open_index``; the canonical event is the wire
format's, ``schemas.event``) takes events and the current time and returns
values; it imports no Faust, Kafka or ClickHouse code, which
``tests/processors/test_layers.py`` checks. The shell:
``faust_app`` (topics, agent, timers), ``state_table`` and ``state_store``
(Faust's RocksDB table, the only users of its private API), ``dead_letters``
and ``sink_flusher`` (the steps that talk to Kafka and the sink, through
callables the shell passes in), ``metrics`` (Prometheus and liveness).
"""
