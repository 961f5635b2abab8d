"""The gateway's HTTP app: middleware, error answers, health, metrics, dialect routes."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from config.settings import Settings, load_settings
from control.registry import Registry
from control.topic import control_for, followed
from http_common.last_resort import LastResort
from ingest.access import AccessDenied
from ingest.body import BodyNormalizer
from ingest.gateway import Gateway, Problem, Publisher
from ingest.gateway_config import GatewayConfig
from ingest.metrics import CountRequests
from ingest.publisher import KafkaPublisher, PublishRefused, PublishUnavailable
from ingest.rejections import ERROR_RESPONSES, Rejected, internal_error
from ingest.routes import all_routers

log = logging.getLogger("playhead.gateway")
RETRY_AFTER_SECONDS = 5

# A dialect's routes: ingest/routes/<dialect>.py's router.
RouterFactory = Callable[[Gateway], APIRouter]


ERRORS = {422: "invalid request", 413: "request too large"}


def _problems(problems: list[Problem], status: int = 422) -> JSONResponse:
    return JSONResponse(status_code=status, content={
        "error": ERRORS.get(status, "malformed request"),
        "problems": [p.as_dict() for p in problems]})


def create_app(
    settings: Settings,
    publisher: Publisher | None = None,
    clock: Callable[[], float] = time.time,
    routers: Sequence[RouterFactory] | None = None,
    control: Registry | None = None,
) -> FastAPI:
    """The gateway's app; ``routers`` defaults to every module of ingest/routes/.

    Without ``control`` the app follows the control topic (runtime keys,
    disabled organizations, catalogues) while it runs; a test may hand in a
    registry of its own instead.
    """
    config = GatewayConfig.from_settings(settings)  # the only reading of settings
    registry, follower = control_for(control, config.kafka_bootstrap, config.control_topic)
    gateway = Gateway(
        config,
        publisher or KafkaPublisher(config.kafka_bootstrap, config.events_topic,
                                    config.publish_timeout_seconds, config.dead_letter_topic),
        clock,
        control=registry,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with followed(follower):
            yield
        await gateway.publisher.close()  # graceful shutdown: flush what is in flight

    app = FastAPI(
        title="Playhead ingest gateway",
        version="1",
        description="Receives playback events from players in their own dialects, validates "
        "them, and answers only once Kafka acknowledged every accepted event.",
        lifespan=lifespan,
    )
    app.state.gateway = gateway
    app.add_middleware(LastResort, answer=lambda _scope, err: internal_error(err))
    app.add_middleware(BodyNormalizer, max_bytes=config.max_body_bytes)
    app.add_middleware(
        CORSMiddleware, allow_origins=config.cors_origins, allow_methods=["GET", "POST"],
        allow_headers=["Content-Type", "Content-Encoding", "Authorization", "X-Playhead-Key",
                       "X-Playhead-Organization", "Idempotency-Key",
                       # mParticle's web SDK sends its API key so on identity calls
                       # (ingest/routes/mparticle_sdk.py); refused, the SDK never starts.
                       "x-mp-key"],
        max_age=3600,
    )
    app.add_middleware(CountRequests, metrics=gateway.metrics)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(_: Request, err: RequestValidationError) -> JSONResponse:
        errors = err.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return _problems([Problem("body", "malformed_json",
                                      f"body is not valid JSON: {e.get('ctx', {}).get('error')}")
                              for e in errors if e.get("type") == "json_invalid"], 400)
        return _problems([Problem.from_validation(e) for e in errors])

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(_: Request, err: StarletteHTTPException) -> JSONResponse:
        # FastAPI's own refusals (a body that is not UTF-8, an unknown path) in our shape.
        return JSONResponse(status_code=err.status_code, content={"error": str(err.detail)},
                            headers=dict(err.headers or {}))

    @app.exception_handler(Rejected)
    async def on_rejected(_: Request, err: Rejected) -> JSONResponse:
        return _problems(err.problems, err.status)

    @app.exception_handler(AccessDenied)
    async def on_denied(_: Request, err: AccessDenied) -> JSONResponse:
        headers = {}
        if err.retry_after is not None:
            headers["Retry-After"] = str(max(1, math.ceil(err.retry_after)))
        return JSONResponse(status_code=err.status, content={"error": str(err)},
                            headers=headers)

    @app.exception_handler(PublishRefused)
    async def on_refused(_: Request, err: PublishRefused) -> JSONResponse:
        log.warning("answering 413: %s", err)
        return _problems([Problem("body", "too_large", str(err))], 413)

    @app.exception_handler(PublishUnavailable)
    async def on_unavailable(_: Request, err: PublishUnavailable) -> JSONResponse:
        log.warning("answering 503: %s", err)
        return JSONResponse(
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            content={"error": "events not stored: Kafka is unavailable; retry later"},
        )

    @app.get("/healthz", tags=["operations"], summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], summary="Kafka is reachable: send traffic here",
             responses={503: {"description": "Kafka unreachable"}})
    async def readyz() -> JSONResponse:
        if not await gateway.publisher.ready():
            return JSONResponse(status_code=503, content={"status": "kafka unreachable"})
        if follower is not None and not follower.caught_up.is_set():
            # Until then a key made at runtime would be refused: keep traffic away.
            return JSONResponse(status_code=503, content={"status": "reading the control topic"})
        return JSONResponse(status_code=200, content={"status": "ready"})

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics",
             response_class=Response)
    async def metrics() -> Response:
        return Response(generate_latest(gateway.metrics.registry),
                        media_type=CONTENT_TYPE_LATEST)

    for router in all_routers() if routers is None else routers:
        add_routes(app, router)
    return app


def add_routes(app: FastAPI, router: RouterFactory) -> None:
    """A dialect's routes on the app, with the refusals every route documents."""
    app.include_router(router(app.state.gateway), responses=ERROR_RESPONSES)


def app_from_environment() -> FastAPI:
    """The app of one of several gateway processes, its settings read from the environment."""
    return create_app(load_settings())
