"""Drops ``session_buckets``: nothing has written it since m0004 and nothing reads it.

m0001 stored a row per session, version and bucket there. m0004 moved every
session's histogram onto its ``session_versions`` row as steps, gave the rows
written before it their steps from this table (its backfill is the last
reader, and runs before this migration), and replaced the one view that read
it. Since then the table has only taken space and misled readers of the
schema. On a cluster its Distributed and local tables both go.
"""

from sinks.ddl import Drop, Step, render


def steps(database: str) -> list[Step]:
    return [Drop(database, "session_buckets")]


def statements(database: str) -> list[str]:
    return render(steps(database), None)
