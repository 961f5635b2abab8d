"""Complete-through watermark: per organization, the instant before which no figure changes.

Workers write, for each partition of the events topic they handle a tick of,
the instant before which nothing of that partition can change again (the
tick's stamp less the oldest age the gateway accepts), and per organization a
lower one while the organization has sessions there that can still change
(their earliest event). docs/semantics.md, "Complete through", says why each
bound is true when written.

``completeness_bounds`` keeps the latest tick's rows of each partition and
organization (ReplacingMergeTree by the tick's stamp): a replay that writes
an older tick's bound again loses to the newer one, and both were true.
The view ``completeness`` takes, per organization, the least bound over
every partition at that partition's latest tick (an organization's own row
where it has one, else the partition's shared row, organization ''), and is
NULL until every partition has reported: a partition nobody has reported
for says nothing. A stopped worker stops reporting, so the least stops
advancing. Organizations are those with sessions or rows; the row of
organization '' is the bound of an organization with neither.
"""

from sinks.ddl import GLOBAL, Step, Table, View, render


def steps(database: str) -> list[Step]:
    db = database
    return [
        Table(db, "completeness_bounds",
              columns=(("partition", "UInt32"),
                       ("organization_id", "String"),
                       ("partitions", "UInt32"),
                       ("tick", "DateTime64(3, 'UTC')"),
                       ("bound", "DateTime64(3, 'UTC')"),
                       ("written_at", "DateTime64(3, 'UTC') DEFAULT now64(3)")),
              engine="ReplacingMergeTree", engine_args=("tick",),
              order_by=("partition", "organization_id")),
        View(db, "completeness", f"""
            WITH latest AS (
                SELECT partition, max(tick) AS latest_tick,
                       argMax(bound, tick) AS shared_bound,
                       argMax(partitions, tick) AS topic_partitions
                FROM {db}.completeness_bounds
                WHERE organization_id = ''
                GROUP BY partition
            )
            SELECT organizations.organization_id AS organization_id,
                   if(shared.reported > 0 AND shared.reported >= shared.partitions,
                      toNullable(least(shared.bound, ifNull(own.bound, shared.bound))),
                      NULL) AS complete_through
            FROM (
                SELECT '' AS organization_id
                UNION DISTINCT
                SELECT DISTINCT organization_id FROM {db}.session_versions
                UNION DISTINCT
                SELECT DISTINCT organization_id FROM {db}.completeness_bounds
            ) AS organizations
            {GLOBAL}CROSS JOIN (
                SELECT count() AS reported, max(topic_partitions) AS partitions,
                       min(shared_bound) AS bound
                FROM latest
            ) AS shared
            {GLOBAL}LEFT JOIN (
                SELECT rows.organization_id AS organization_id,
                       toNullable(min(rows.bound)) AS bound
                FROM {db}.completeness_bounds AS rows
                {GLOBAL}INNER JOIN latest ON rows.partition = latest.partition
                                          AND rows.tick = latest.latest_tick
                WHERE rows.organization_id != ''
                GROUP BY rows.organization_id
            ) AS own ON own.organization_id = organizations.organization_id
            """),
    ]


def statements(database: str) -> list[str]:
    return render(steps(database), None)
