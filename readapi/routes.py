"""The data routes: api.video-compatible session listings and a clip's consumption."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from readapi.apivideo import emitted_at, to_item
from readapi.auth import ReadTokens
from readapi.curve import DEFAULT_MAX_POINTS, MAX_POINTS
from readapi.models import (
    ClipConsumption,
    ClipEngagement,
    ClipQuality,
    ClipRoyalties,
    Problem,
    SessionEventsPage,
    VideoSessionsPage,
)
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
FromDay = Annotated[date | None, Query(alias="from", description=(
    f"First day, YYYY-MM-DD, {DAYS}"))]
ToDay = Annotated[date | None, Query(description=f"Last day, YYYY-MM-DD, {DAYS}")]
Source = Annotated[str | None, Query(max_length=128, description="One source only")]
# Ids are the players' own and may hold any character, `/` included (a short-video
# session is `<session>/<clip>`): the `path` converter takes the rest of the path,
# sent as is or percent-encoded (%2F).
ANY_ID = "any characters, `/` included, as is or percent-encoded"


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

    @routes.get("/analytics/sessions/{sessionId:path}/events", tags=["api.video analytics"],
                summary="List player session events", response_model=SessionEventsPage,
                description="The events of one session, oldest first, in api.video's shape. "
                "Events api.video has no name for (heartbeats, quality, likes) are not "
                "listed; music-clips adds, shares and downloads are, under their own types. "
                f"sessionId: {ANY_ID}.")
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

    @routes.get("/analytics/live-streams/{liveStreamId:path}", tags=["api.video analytics"],
                summary="List live stream player sessions (none: Playhead has no live streams)",
                response_model=VideoSessionsPage, responses={404: ERRORS[404]},
                description="api.video's route, answered 404 for every id: no Playhead "
                "dialect carries a live stream, only clips with a timeline, so there is no "
                "live session to list (docs/read-api.md). A live player's sessions, if sent "
                "under a clip id, list under /analytics/videos/{videoId}.")
    def live_stream_sessions(liveStreamId: Id, org: Org) -> JSONResponse:
        raise NotFound(
            f"no live stream {liveStreamId!r}: Playhead records clips, not live streams. List "
            "a clip's sessions with /analytics/videos/{videoId}", "liveStreamId")

    @routes.get("/analytics/videos/{videoId:path}", tags=["api.video analytics"],
                summary="List video player sessions", response_model=VideoSessionsPage,
                description="The sessions of one clip, oldest first, in api.video's shape, "
                "with Playhead's figures of each under `playhead`: the sessions filed under "
                "the clip and those with content events of it (a music-clips app session "
                f"that played, added or downloaded it). videoId: {ANY_ID}.")
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

    @routes.get("/api/consumption/clips/{clipId:path}", tags=["consumption"],
                summary="A clip's retention curve and totals", response_model=ClipConsumption,
                description="Listeners per bucket as a share of kept sessions, and the "
                "clip's totals, over a range of UTC days (both ends included) and one source "
                "or all. The same numbers as the analysts' views in docs/analytics.md. A "
                "timeline longer than `maxPoints` buckets is answered in points of several "
                "buckets each (`pointBuckets`), so the answer's size is bounded.")
    def clip_consumption(
        clipId: Id, org: Org,
        from_: FromDay = None, to: ToDay = None, source: Source = None,
        maxPoints: MaxPoints = DEFAULT_MAX_POINTS,
    ) -> JSONResponse:
        check_days(from_, to)
        read = reader()
        if not read.clip_known(org, clipId):
            raise NotFound(f"no clip {clipId!r} in this organization", "clipId")
        figures = read.clip_figures(org, clipId, from_, to, source or None, maxPoints)
        return JSONResponse({**consumption(clipId, source or None, figures, bucket_seconds),
                             **final(read, org)})

    @routes.get("/api/quality/clips/{clipId:path}", tags=["figures"],
                summary="A clip's quality of experience", response_model=ClipQuality,
                description="Startup time, stalls, quality changes and errors of the clip's "
                "sessions over a range of UTC days of their first events (both ends included), "
                "one source or all: the sums of the view quality_daily, shares divided from "
                "sums (docs/analytics.md). Every session counts, kept or not.")
    def clip_quality(clipId: Id, org: Org, from_: FromDay = None, to: ToDay = None,
                     source: Source = None) -> JSONResponse:
        check_days(from_, to)
        read = _known(reader(), org, clipId)
        sums = read.clip_quality(org, clipId, from_, to, source or None)
        return JSONResponse({**_days(clipId, from_, to), "source": source or None,
                             "quality": quality(sums), **final(read, org)})

    @routes.get("/api/engagement/clips/{clipId:path}", tags=["figures"],
                summary="A clip's engagement", response_model=ClipEngagement,
                description="Impressions, likes, shares, saves, swipes and completions of the "
                "clip over a range of UTC days of the events themselves, one source or all: "
                "the view engagement_by_clip, each event counted once by its id.")
    def clip_engagement(clipId: Id, org: Org, from_: FromDay = None, to: ToDay = None,
                        source: Source = None) -> JSONResponse:
        check_days(from_, to)
        read = _known(reader(), org, clipId)
        counts = read.clip_engagement(org, clipId, from_, to, source or None)
        return JSONResponse({**_days(clipId, from_, to), "source": source or None,
                             "engagement": counts, **final(read, org)})

    @routes.get("/api/royalties/clips/{clipId:path}", tags=["figures"],
                summary="A clip's plays for royalties", response_model=ClipRoyalties,
                description="Clip plays (allowed and denied), track plays, adds and downloads "
                "over a range of UTC days of the events themselves, in all and per platform "
                "and method: the view rights_by_clip, each event counted once by its id. A "
                "track's plays are under the clip id `track:<track id>`.")
    def clip_royalties(clipId: Id, org: Org, from_: FromDay = None, to: ToDay = None
                       ) -> JSONResponse:
        check_days(from_, to)
        read = _known(reader(), org, clipId)
        rows = read.clip_rights(org, clipId, from_, to)
        return JSONResponse({**_days(clipId, from_, to), **royalties(rows), **final(read, org)})

    return routes


def instant(stamp: datetime | None) -> str | None:
    """ISO 8601 in UTC to the millisecond, ``Z`` for the zone (pure)."""
    if stamp is None:
        return None
    return stamp.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def final(read: Reader, org: str) -> dict[str, Any]:
    """Playhead's answers say from when on their figures may still change."""
    return {"completeThrough": instant(read.complete_through(org))}


def _known(read: Reader, org: str, clip: str) -> Reader:
    if not read.clip_known(org, clip):
        raise NotFound(f"no clip {clip!r} in this organization", "clipId")
    return read


def _days(clip: str, first: date | None, last: date | None) -> dict[str, Any]:
    return {"clipId": clip, "fromDay": first.isoformat() if first else None,
            "toDay": last.isoformat() if last else None}


def _share(part: float, whole: float) -> float | None:
    return round(part / whole, 6) if whole else None


def quality(sums: dict[str, Any]) -> dict[str, Any]:
    """quality_daily's sums as the API answers them: shares divided from sums, never
    averages of averages (pure)."""
    sessions, listened = int(sums["sessions"]), float(sums["listened_seconds"])
    measured, stalled = int(sums["startup_measured"]), float(sums["rebuffer_ms"]) / 1000
    return {
        "sessions": sessions, "listenedSeconds": round(listened, 6),
        "startupMeasured": measured,
        "averageStartupMs": (round(float(sums["startup_ms_sum"]) / measured, 3)
                             if measured else None),
        "rebuffers": int(sums["rebuffers"]), "rebufferSeconds": round(stalled, 6),
        "stalledShareOfListening": _share(stalled, listened),
        "sessionsWithRebuffers": int(sums["sessions_with_rebuffers"]),
        "sessionsWithRebuffersShare": _share(int(sums["sessions_with_rebuffers"]), sessions),
        "qualityChanges": int(sums["quality_changes"]), "errors": int(sums["errors"]),
        "sessionsWithErrors": int(sums["sessions_with_errors"]),
        "sessionsWithErrorsShare": _share(int(sums["sessions_with_errors"]), sessions),
    }


RIGHTS = {"clip_plays": "clipPlays", "denied_plays": "deniedPlays",
          "track_plays": "trackPlays", "adds": "adds", "downloads": "downloads"}


def royalties(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """rights_by_clip's rows per platform and method, and their totals (pure)."""
    return {
        "totals": {key: sum(r[name] for r in rows) for name, key in RIGHTS.items()},
        "byPlatform": [{"platform": r["platform"], "method": r["method"],
                        **{key: r[name] for name, key in RIGHTS.items()}} for r in rows],
    }


def consumption(clip: str, source: str | None, figures: ClipFigures,
                bucket_seconds: float) -> dict[str, Any]:
    listened = figures.total("listened_seconds")
    selected = figures.selected
    bucket_seconds = figures.bucket_seconds or bucket_seconds  # a rule's width wins
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
