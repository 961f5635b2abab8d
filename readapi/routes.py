"""The data routes: api.video-compatible session listings and a clip's consumption."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from readapi.apivideo import emitted_at, to_item
from readapi.auth import ReadTokens
from readapi.curve import DEFAULT_MAX_POINTS, MAX_POINTS
from readapi.models import ClipConsumption, Problem, SessionEventsPage, VideoSessionsPage
from readapi.pagination import DEFAULT_PAGE_SIZE, MAX_CURRENT_PAGE, MAX_PAGE_SIZE, Page, pagination
from readapi.periods import DAYS, FORMS, check_days, parse_period
from readapi.queries import ClipFigures, Reader, curve_points


class NotFound(Exception):
    """Nothing of that id in the token's organization (404), whoever else has it."""

    def __init__(self, message: str, name: str):
        self.name = name
        super().__init__(message)


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "A parameter is invalid; `name` says which"},
    401: {"model": Problem, "description": "No read token, or an unknown one"},
    404: {"model": Problem, "description": "Not found in the token's organization"},
    500: {"model": Problem, "description": "The warehouse refused a query, or an unexpected "
                                           "error (logged; answered with Connection: close)"},
    503: {"model": Problem, "description": "The warehouse is unavailable or took longer than "
                                           "30 s; retry later (Retry-After)"},
}
Id = Annotated[str, Path(min_length=1, max_length=256)]
CurrentPage = Annotated[int, Query(ge=1, le=MAX_CURRENT_PAGE, description=(
    f"Page number, from 1 (at most {MAX_CURRENT_PAGE:,})"))]
PageSize = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description=(
    f"Results per page (1-{MAX_PAGE_SIZE})"))]
MaxPoints = Annotated[int, Query(ge=1, le=MAX_POINTS, description=(
    f"Most points of the curve (1-{MAX_POINTS:,}); a longer timeline gets points of several "
    "buckets each"))]


bearer = HTTPBearer(auto_error=False, description="A read token of one organization")


def organization(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> str:
    """The organization of the request's token: the only one its queries may read."""
    tokens: ReadTokens = request.app.state.read_tokens
    return tokens.organization(credentials.credentials if credentials else None)


# Module level, because FastAPI resolves the routes' (string) annotations here.
Org = Annotated[str, Depends(organization)]


def data_router(reader: Callable[[], Reader], bucket_seconds: float) -> APIRouter:
    routes = APIRouter(responses=ERRORS)

    @routes.get("/analytics/sessions/{sessionId}/events", tags=["api.video analytics"],
                summary="List player session events", response_model=SessionEventsPage,
                description="The events of one session, oldest first, in api.video's shape. "
                "Events api.video has no name for (heartbeats, quality, engagement) are not "
                "listed.")
    def session_events(sessionId: Id, org: Org, currentPage: CurrentPage = 1,
                       pageSize: PageSize = DEFAULT_PAGE_SIZE) -> JSONResponse:
        read = reader()
        if not read.session_known(org, sessionId):
            raise NotFound(f"no session {sessionId!r} in this organization", "sessionId")
        page = Page(currentPage, pageSize)
        total, rows = read.session_events(org, sessionId, page.offset, page.size)
        data = [item for row in rows if (item := to_item(*row)) is not None]
        path = f"/analytics/sessions/{quote(sessionId, safe='')}/events"
        return JSONResponse({"data": data, "pagination": pagination(path, page, total,
                                                                    len(data))})

    @routes.get("/analytics/videos/{videoId}", tags=["api.video analytics"],
                summary="List video player sessions", response_model=VideoSessionsPage,
                description="The sessions of one clip, oldest first, in api.video's shape, "
                "with Playhead's figures of each under `playhead`.")
    def video_sessions(
        videoId: Id, org: Org,
        period: Annotated[str | None, Query(max_length=64, description=(
            f"UTC days of the sessions' first events: {FORMS}; {DAYS}"))] = None,
        currentPage: CurrentPage = 1, pageSize: PageSize = DEFAULT_PAGE_SIZE,
    ) -> JSONResponse:
        first, last = parse_period(period) if period else (None, None)
        read = reader()
        if not read.clip_known(org, videoId):
            raise NotFound(f"no video {videoId!r} in this organization", "videoId")
        page = Page(currentPage, pageSize)
        total, rows = read.clip_sessions(org, videoId, first, last, page.offset, page.size)
        data = [{
            "session": {"sessionId": session, "loadedAt": emitted_at(started),
                        "endedAt": emitted_at(ended), "metadata": []},
            "playhead": {"source": source, "listenedSeconds": listened, "kept": bool(kept)},
        } for session, started, ended, source, listened, kept in rows]
        filters = [("period", period)] if period else []
        path = f"/analytics/videos/{quote(videoId, safe='')}"
        return JSONResponse({"data": data,
                             "pagination": pagination(path, page, total, len(data), filters)})

    @routes.get("/api/consumption/clips/{clipId}", tags=["consumption"],
                summary="A clip's retention curve and totals", response_model=ClipConsumption,
                description="Listeners per bucket as a share of kept sessions, and the "
                "clip's totals, over a range of UTC days (both ends included) and one source "
                "or all. The same numbers as the analysts' views in docs/analytics.md. A "
                "timeline longer than `maxPoints` buckets is answered in points of several "
                "buckets each (`pointBuckets`), so the answer's size is bounded.")
    def clip_consumption(
        clipId: Id, org: Org,
        from_: Annotated[date | None, Query(alias="from", description=(
            f"First day, YYYY-MM-DD, {DAYS}"))] = None,
        to: Annotated[date | None, Query(description=f"Last day, YYYY-MM-DD, {DAYS}")] = None,
        source: Annotated[str | None, Query(max_length=128, description="One source only")]
        = None,
        maxPoints: MaxPoints = DEFAULT_MAX_POINTS,
    ) -> JSONResponse:
        check_days(from_, to)
        read = reader()
        if not read.clip_known(org, clipId):
            raise NotFound(f"no clip {clipId!r} in this organization", "clipId")
        figures = read.clip_figures(org, clipId, from_, to, source or None, maxPoints)
        return JSONResponse(consumption(clipId, source or None, figures, bucket_seconds))

    return routes


def consumption(clip: str, source: str | None, figures: ClipFigures,
                bucket_seconds: float) -> dict[str, Any]:
    listened = figures.total("listened_seconds")
    selected = figures.selected
    return {
        "clipId": clip,
        "source": source,
        "firstDay": min(s.first_day for s in selected).isoformat() if selected else None,
        "lastDay": max(s.last_day for s in selected).isoformat() if selected else None,
        "bucketSeconds": bucket_seconds,
        "clipLengthSeconds": figures.clip_length_seconds,
        "pointBuckets": figures.binning.width,
        "curveEndSeconds": round(figures.binning.buckets * bucket_seconds, 6),
        "curveTruncated": figures.binning.truncated,
        "totals": {
            "sessions": figures.total("sessions"),
            "keptSessions": figures.total("kept_sessions"),
            "listenedSeconds": round(listened, 6),
            "listenedHours": round(listened / 3600, 6),
            "averageConsumptionShare": figures.average_consumption_share,
            "completionRate": figures.completion_rate,
        },
        "sources": [{"source": s.source, "sessions": s.sessions,
                     "keptSessions": s.kept_sessions,
                     "listenedHours": round(s.listened_seconds / 3600, 6)}
                    for s in figures.sources],
        "histogram": curve_points(figures, bucket_seconds),
    }
