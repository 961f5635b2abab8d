"""ClickHouse: the client, migrations, the row writer and the analysts' queries."""
