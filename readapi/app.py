"""The read API's ASGI app: ``create_app(settings, client_factory)``.

Routes are plain (sync) functions: FastAPI runs them in its thread pool, and
each thread keeps its own ClickHouse client, so concurrent requests never
share an HTTP session with the warehouse.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError, OperationalError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope

from config.settings import MAX_TIMELINE_BUCKETS, Settings
from control.operations import OperationError, UnknownKey
from control.records import Record
from control.registry import Registry
from control.topic import ControlUnavailable, control_for, followed
from control.topic import publish as publish_control
from http_common.last_resort import LastResort
from ingest.rights import CatalogueError, parse
from readapi.admin import AdminAuth, Forbidden, InvalidCatalogue, admin_router
from readapi.admin_erasure import erasure_router
from readapi.admin_rules import rules_router
from readapi.auth import ReadTokens, Unauthorized
from readapi.config import ReadApiConfig
from readapi.dashboard import dashboard_router
from readapi.demo import demo_router
from readapi.periods import BadPeriod
from readapi.queries import READ_ONLY, Reader
from readapi.routes import NotFound, data_router
from sinks.client import WarehouseUnavailable, connect
from sinks.qualifying import InvalidRule, deployment_rule

log = logging.getLogger("playhead.readapi")

TITLES = {400: "The request is invalid.", 401: "A valid read token is required.",
          403: "The credential may not act for this organization.",
          404: "The requested resource was not found.",
          409: "The request conflicts with the resource's state.", 500: "The query failed.",
          503: "The warehouse is unavailable; retry later."}
TYPES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
         409: "conflict", 500: "internal_error",
         503: "unavailable"}


def problem(status: int, detail: str | None = None, name: str | None = None,
            headers: dict[str, str] | None = None) -> JSONResponse:
    # api.video's error shape (type, title, status, name) with a detail of our own.
    body: dict[str, object] = {"type": TYPES.get(status, "error"),
                               "title": TITLES.get(status, "Error."), "status": status}
    if name:
        body["name"] = name
    if detail:
        body["detail"] = detail
    return JSONResponse(status_code=status, content=body, headers=headers)


def _unexpected(scope: Scope, err: Exception) -> JSONResponse:
    # The path only: the dashboard's query string holds a read token.
    log.error("unexpected error answering %s %s", scope.get("method"), scope.get("path"),
              exc_info=err)
    return problem(500, "the read API failed unexpectedly; the error is in its log. Retry; "
                        "if it persists, report it with the request",
                   headers={"Connection": "close"})


def _check_catalogue(document: dict[str, Any]) -> None:
    try:
        parse(document, "the catalogue")
    except CatalogueError as err:
        raise InvalidCatalogue(str(err)) from err


def create_app(settings: Settings, client_factory: Callable[[], Client] | None = None,
               control: Registry | None = None) -> FastAPI:
    """The read API; without ``control`` it follows the control topic (runtime read
    tokens and admin keys) while it runs, as the gateway does."""
    config = ReadApiConfig.from_settings(settings)  # the only reading of settings
    registry, follower = control_for(control, config.kafka_bootstrap, config.control_topic)
    tokens = ReadTokens(config.read_tokens, registry)
    factory = client_factory or (lambda: connect(config.clickhouse_url))
    local = threading.local()

    def reader() -> Reader:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = factory()
        return Reader(client, config.database, config.bucket_seconds, config.max_clip_seconds)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with followed(follower):
            yield

    app = FastAPI(
        title="Playhead read API",
        version="1",
        description="Read-only access to one organization's consumption data: api.video-"
        "compatible session listings, a clip's retention curve and totals, and a dashboard "
        "page per clip. Every request carries a read token (Authorization: Bearer), which "
        "decides the organization. Admin routes (/admin/v1) manage an organization's keys, "
        "status and rights catalogue with an admin key or an operator token.",
        lifespan=lifespan,
    )

    @app.exception_handler(Unauthorized)
    async def on_unauthorized(_: Request, err: Unauthorized) -> JSONResponse:
        return problem(401, str(err), headers={"WWW-Authenticate": "Bearer"})

    @app.exception_handler(Forbidden)
    async def on_forbidden(_: Request, err: Forbidden) -> JSONResponse:
        return problem(403, str(err))

    @app.exception_handler(UnknownKey)
    async def on_unknown_key(_: Request, err: UnknownKey) -> JSONResponse:
        return problem(404, str(err), "key_id")

    @app.exception_handler(OperationError)
    async def on_operation_refused(_: Request, err: OperationError) -> JSONResponse:
        return problem(409, str(err))

    @app.exception_handler(InvalidCatalogue)
    async def on_invalid_catalogue(_: Request, err: InvalidCatalogue) -> JSONResponse:
        return problem(400, str(err), "catalogue")

    @app.exception_handler(InvalidRule)
    async def on_invalid_rule(_: Request, err: InvalidRule) -> JSONResponse:
        return problem(400, str(err), "rule")

    @app.exception_handler(ControlUnavailable)
    async def on_control_unavailable(_: Request, err: ControlUnavailable) -> JSONResponse:
        log.warning("answering 503: %s", err)
        return problem(503, str(err), headers={"Retry-After": "5"})

    @app.exception_handler(NotFound)
    async def on_not_found(_: Request, err: NotFound) -> JSONResponse:
        return problem(404, str(err), err.name)

    @app.exception_handler(BadPeriod)
    async def on_bad_period(_: Request, err: BadPeriod) -> JSONResponse:
        return problem(400, str(err), err.name)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(_: Request, err: RequestValidationError) -> JSONResponse:
        first = err.errors()[0] if err.errors() else {}
        location = [str(part) for part in first.get("loc", ()) if part not in ("query", "path")]
        return problem(400, first.get("msg"), ".".join(location) or None)

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(_: Request, err: StarletteHTTPException) -> JSONResponse:
        return problem(err.status_code, str(err.detail), headers=dict(err.headers or {}))

    @app.exception_handler(WarehouseUnavailable)
    @app.exception_handler(OperationalError)
    async def on_unavailable(_: Request, err: Exception) -> JSONResponse:
        log.warning("answering 503: %s", err)
        return problem(503, headers={"Retry-After": "5"})

    @app.exception_handler(ClickHouseError)
    async def on_query_failed(_: Request, err: ClickHouseError) -> JSONResponse:
        if "TIMEOUT_EXCEEDED" in str(err):
            # Every query stops after READ_ONLY's max_execution_time: a warehouse
            # too busy (or data too large) for now, not a bad request.
            log.warning("query timed out: %s", err)
            return problem(503, "the warehouse took longer than "
                           f"{READ_ONLY['max_execution_time']} s to answer; retry later, or "
                           "narrow the days (from, to, period)", headers={"Retry-After": "30"})
        if any(code in str(err) for code in ("ACCESS_DENIED", "READONLY", "Not enough privileges")):
            # The admin routes that write (erasures, rules) need more than reading.
            log.error("the warehouse user lacks a privilege: %s", err)
            return problem(500, "the read API's ClickHouse user may not do this: erasures need "
                                "ALTER DELETE and INSERT on the database, rules need INSERT; "
                                "grant them and repeat the request, or make the same change "
                                "with the playhead CLI")
        # The query text is ours, so this is a bug or a schema not migrated:
        # logged in full, answered without internals.
        log.error("query failed: %s", err)
        return problem(500, "the warehouse refused a query; is the schema migrated "
                            "(playhead migrate)?")

    @app.get("/healthz", tags=["operations"], summary="The process is alive")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.add_middleware(LastResort, answer=_unexpected)
    app.state.read_tokens = tokens
    app.include_router(data_router(reader, config.bucket_seconds))
    app.include_router(dashboard_router(tokens))
    app.include_router(demo_router(tokens, config))

    async def publish(records: Sequence[Record | tuple[str, None]]) -> None:
        await publish_control(config.kafka_bootstrap, config.control_topic, records)

    app.state.admin_auth = AdminAuth(registry, config.operator_token_digests)
    app.include_router(admin_router(app.state.admin_auth, publish, _check_catalogue))

    async def publish_erasure(record: Any) -> None:
        await publish([record])

    app.include_router(erasure_router(factory, config.database, publish_erasure,
                                      cluster=config.cluster))
    app.include_router(rules_router(
        factory, config.database,
        deployment_rule(config.min_session_seconds, config.bucket_seconds),
        config.max_clip_seconds, MAX_TIMELINE_BUCKETS))
    return app
