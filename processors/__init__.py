"""Stream processing: the pure sessionization core and the Faust shell around it.

Modules without ``faust_`` in their name import no Faust, Kafka or ClickHouse
code: they take events and the current time and return values.
"""
