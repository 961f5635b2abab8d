"""The ingest gateway: player dialects in, canonical Avro events into Kafka."""
