"""The control plane: what operators change at runtime, per organization.

Credentials (write keys, read tokens, admin keys, stored as hashes),
disabled organizations and rights catalogues live as records of one
compacted Kafka topic (``playhead.control``). Every gateway and read API
follows the topic into a ``Registry``, so a change reaches every replica
within seconds and survives restarts, with no other store to run. Kafka
is already what every component can reach, and compaction keeps exactly
the latest record of each key (docs/operations/control.md).

``records`` and ``registry`` are pure; ``topic`` is the Kafka shell.
"""
