"""The read side: an HTTP API over the warehouse for players' owners and dashboards.

``readapi.app.create_app(settings)`` is the ASGI app ``playhead api`` serves:
api.video-compatible session listings, a clip's consumption report, and a
dashboard page per clip. It only reads, binds every value as a ClickHouse
query parameter, and answers each organization's read token with that
organization's data alone. docs/read-api.md describes it.
"""
