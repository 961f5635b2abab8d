"""The gateway's Prometheus metrics (one registry per app, so tests can run several)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.accepted = Counter(
            "playhead_gateway_events_accepted", "Events acknowledged by Kafka",
            ["dialect"], registry=self.registry)
        self.rejected = Counter(
            "playhead_gateway_events_rejected", "Events refused, by reason",
            ["dialect", "reason"], registry=self.registry)
        self.dead_letters = Counter(
            "playhead_gateway_dead_letters", "Refused input kept in the dead-letter topic "
            "(Omny sessions), by reason", ["dialect", "reason"], registry=self.registry)
        self.skipped = Counter(
            "playhead_gateway_events_skipped", "Events of a batch that carry no playback "
            "(mParticle SDK batches: session, screen view, app state and other non-media "
            "events), by type; accepted and not stored", ["dialect", "event_type"],
            registry=self.registry)
        self.requests = Counter(
            "playhead_gateway_requests", "Requests answered, by route and status",
            ["route", "status"], registry=self.registry)
        self.produce_seconds = Histogram(
            "playhead_gateway_produce_seconds", "Time until Kafka acknowledged a request's events",
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))


class CountRequests:
    """Counts every answer by route and status (outermost middleware).

    Plain ASGI: Starlette's ``BaseHTTPMiddleware`` (``@app.middleware``) runs
    each request in a task group with memory streams, which cost a 100-event
    request more than validating its events.
    """

    def __init__(self, app: ASGIApp, metrics: GatewayMetrics):
        self.app = app
        self.requests = metrics.requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 0

        async def counted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, counted)
        if status:
            route = scope.get("route")  # set by the router on this scope (ingest/body.py)
            self.requests.labels(getattr(route, "path", "other"), str(status)).inc()
