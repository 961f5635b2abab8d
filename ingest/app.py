"""The gateway's HTTP surface: validate, normalize, publish, answer."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any, Protocol

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from ingest.dialects import omny
from ingest.publisher import KafkaPublisher, PublishUnavailable
from playhead.settings import Settings
from processors.events import PlaybackEvent

log = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = 5


class Publisher(Protocol):
    async def publish(self, events: list[PlaybackEvent]) -> None: ...
    async def close(self) -> None: ...


def _field_path(location: tuple[Any, ...]) -> str:
    path = ""
    for part in location:
        if part == "body":
            continue
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "body"


def _rejected(problems: list[dict[str, str]]) -> JSONResponse:
    return JSONResponse(status_code=422, content={"error": "invalid request", "problems": problems})


def create_app(
    settings: Settings,
    publisher: Publisher | None = None,
    clock: Callable[[], float] = time.time,
) -> FastAPI:
    sink: Publisher = publisher or KafkaPublisher(settings.kafka_bootstrap, settings.events_topic)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await sink.close()  # graceful shutdown: flush what is in flight

    app = FastAPI(
        title="Playhead ingest gateway",
        version="1",
        description="Receives playback events from players and writes them to Kafka.",
        lifespan=lifespan,
    )

    @app.exception_handler(RequestValidationError)
    async def on_invalid(_: Request, err: RequestValidationError) -> JSONResponse:
        return _rejected(
            [{"path": _field_path(tuple(e["loc"])), "message": e["msg"]} for e in err.errors()]
        )

    @app.exception_handler(PublishUnavailable)
    async def on_unavailable(_: Request, err: PublishUnavailable) -> JSONResponse:
        log.warning("answering 503: %s", err)
        return JSONResponse(
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            content={"error": "events not stored, Kafka is unavailable; retry later"},
        )

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/api/consumption/events", response_model=omny.OmnyAnswer)
    async def omny_events(
        body: omny.OmnyRequest,
        organization_id: Annotated[uuid.UUID, Query(alias="organizationId")],
    ) -> Any:
        if str(organization_id) in settings.disabled_organizations:
            return omny.OmnyAnswer(Enabled=False)
        try:
            events = omny.to_events(body, organization_id, received_at=clock())
        except omny.OrganizationMismatch as err:
            return _rejected([{"path": err.path, "message": str(err)}])
        await sink.publish(events)
        return omny.OmnyAnswer(Enabled=True)

    return app
