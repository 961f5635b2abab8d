"""Local tooling: what runs Playhead on a laptop or in tests, never in production.

The local platform (a Kafka broker from Maven jars, the embedded warehouse
server, a gateway and workers as background processes), load generation and
its checks, the status screen and reference samples. The production packages
(ingest, processors, sinks, readapi, schemas, config) never import this
package; only the ``playhead`` command's development commands load it.
"""
