"""The complete-through watermark in the warehouse: the workers' bounds in, per organization out.

Workers write each partition's bounds (processors/completeness.py) to
``completeness_bounds``; readers ask the ``completeness`` view (m0006), which
takes the least over every partition. docs/semantics.md, "Complete through".
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from clickhouse_connect.driver.client import Client

from processors.completeness import SHARED, Bound
from sinks.client import utc

__all__ = ["SHARED", "complete_through", "watermarks", "write_bounds"]

BOUND_COLUMNS = ("partition", "organization_id", "partitions", "tick", "bound")


def _instant(stamp: float) -> datetime:
    return datetime.fromtimestamp(stamp, tz=UTC)


def write_bounds(client: Client, database: str, bounds: Sequence[Bound]) -> None:
    if not bounds:
        return
    rows = [[b.partition, b.organization_id, b.partitions, _instant(b.tick), _instant(b.bound)]
            for b in bounds]
    client.insert(f"{database}.completeness_bounds", rows, column_names=list(BOUND_COLUMNS))


def complete_through(client: Client, database: str, organization: str) -> datetime | None:
    """The organization's watermark: nothing dated before it changes again (None: nothing is
    known to be final yet, or no worker reports one)."""
    rows = client.query(
        f"SELECT organization_id, complete_through FROM {database}.completeness "
        "WHERE organization_id IN ({org:String}, {shared:String})",
        parameters={"org": organization, "shared": SHARED}).result_rows
    found = dict((row[0], row[1]) for row in rows)
    value = found.get(organization, found.get(SHARED))
    if value is None:
        return None
    return utc(value)


def watermarks(client: Client, database: str) -> list[tuple[str, datetime | None]]:
    """Every organization's watermark, oldest first (organization '' is the shared one)."""
    rows = client.query(f"SELECT organization_id, complete_through FROM {database}.completeness "
                        "ORDER BY complete_through, organization_id").result_rows
    return [(row[0], None if row[1] is None else utc(row[1])) for row in rows]
