"""Erasure audit: a row per erasure of a subject, saying who asked, when and what went, not whom.

An organization must be able to show that it answered an erasure request
(issue 13): ``playhead erase`` and the admin API record each erasure here
once it is done. A row names the organization, the kind of id erased (user,
device or client), who asked (an admin key's id, ``operator``, or the CLI
user), when it was asked and finished, how many sessions and rows of each
table went (``rows``, a JSON object), which built days were rebuilt, and
the control topic record the workers dropped their state from. It never
holds the id itself, nor a session id (music-clips session ids embed the
client id), nor a digest of either: the record must not be a way back to
the person. docs/operations/erasure.md says how to read it.

A plain MergeTree ordered by organization and time: rows are only added
(an erasure run twice is two requests), and a listing reads one
organization's rows in order.
"""

from sinks.ddl import Step, Table, render


def steps(database: str) -> list[Step]:
    db = database
    return [
        Table(db, "erasures",
              columns=(("organization_id", "String"),
                       ("requested_at", "DateTime64(3, 'UTC')"),
                       ("request_id", "String"),
                       ("subject_kind", "LowCardinality(String)"),
                       ("requested_by", "String"),
                       ("finished_at", "DateTime64(3, 'UTC')"),
                       ("sessions", "UInt64"),
                       ("rows", "String"),
                       ("days_rebuilt", "Array(Date)"),
                       ("state_record", "String")),
              engine="MergeTree", order_by=("organization_id", "requested_at", "request_id")),
    ]


def statements(database: str) -> list[str]:
    return render(steps(database), None)
