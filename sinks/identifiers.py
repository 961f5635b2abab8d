"""Names that go into SQL text as they are, so they must be plain identifiers.

Values always travel as query parameters; a database or cluster name cannot
(DDL, ``FROM db.table`` and ``ON CLUSTER`` take no parameters), so they are
checked here, once for the migrations, erasures and the read side alike.
"""

from __future__ import annotations

import re

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def check_database(database: str) -> None:
    if not IDENTIFIER.match(database):
        raise ValueError(f"database name {database!r} must be a plain identifier")


def check_cluster(cluster: str) -> None:
    if not IDENTIFIER.match(cluster):
        raise ValueError(f"cluster name {cluster!r} must be a plain identifier")
