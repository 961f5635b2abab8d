"""Answer shapes of the read API, for its OpenAPI document (docs/read-openapi.json).

The routes build their JSON directly (keys in api.video's order, whole
seconds as integers); these models describe it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# The last three are Playhead's (music-clips adds, shares and downloads), not api.video's.
EventType = Literal["ready", "play", "resume", "pause", "end", "seek.forward", "seek.backward",
                    "add", "share", "download"]


class Link(BaseModel):
    rel: Literal["self", "first", "previous", "next", "last"]
    uri: str = Field(description="Relative URI of that page, with the request's filters")


class Pagination(BaseModel):
    currentPage: int = Field(description="This page's number, from 1")
    currentPageItems: int = Field(description="Items on this page")
    itemsTotal: int = Field(description="Items on all pages")
    links: list[Link]
    pageSize: int = Field(description="Most items per page (1-100, default 25)")
    pagesTotal: int = Field(description="Number of pages (at least 1)")


class SessionEvent(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    at: float | None = Field(None, description="Position in seconds (all but seeks)")
    emittedAt: str = Field(description="When the player emitted it: ISO 8601, UTC, ms, Z",
                           examples=["2020-09-15T21:35:57.000Z"])
    from_: float | None = Field(None, alias="from", description="Seeks: position before")
    to: float | None = Field(None, description="Seeks: position after")
    type: EventType


class SessionEventsPage(BaseModel):
    data: list[SessionEvent]
    pagination: Pagination


class SessionInfo(BaseModel):
    sessionId: str
    loadedAt: str = Field(description="First event of the session, ISO 8601 UTC")
    endedAt: str = Field(description="Last event of the session, ISO 8601 UTC")
    metadata: list[dict[str, str]] = Field(default_factory=list,
                                           description="Always empty: Playhead keeps none")


class SessionFigures(BaseModel):
    source: str = Field(description="Where the session came from (dialect source)")
    listenedSeconds: float = Field(description="Sum of the listened intervals")
    kept: bool = Field(description="Long enough to count in curves and totals")


class VideoSession(BaseModel):
    session: SessionInfo
    playhead: SessionFigures = Field(description="Playhead's figures (not in api.video)")


class VideoSessionsPage(BaseModel):
    data: list[VideoSession]
    pagination: Pagination


class Totals(BaseModel):
    sessions: int = Field(description="Every session, kept or not")
    keptSessions: int = Field(description="Sessions long enough to count")
    listenedSeconds: float = Field(description="Listened seconds of kept sessions")
    listenedHours: float
    averageConsumptionShare: float | None = Field(description=(
        "Mean share of the clip a kept session heard (0-1); null when the length is unknown"))
    completionRate: float | None = Field(description=(
        "Share of kept sessions that heard as far as 95% of the clip; null when unknown"))


class SourceTotals(BaseModel):
    source: str
    sessions: int
    keptSessions: int
    listenedHours: float


class CurvePoint(BaseModel):
    bucket: int = Field(description="The point's first bucket")
    startSeconds: float = Field(description="Where the point starts in the clip")
    listeners: int = Field(description=(
        "Kept sessions that heard the bucket; over several buckets, the most of any one"))
    listens: int = Field(description=(
        "Times the bucket was heard (replays count); over several buckets, the most of any one"))
    meanListeners: float = Field(description=(
        "Listeners averaged over the point's buckets (equal to listeners for one bucket)"))
    shareOfSessions: float = Field(description="listeners / kept sessions")


COMPLETE_THROUGH: Any = Field(description=(
        "Complete-through watermark (ISO 8601, UTC): no figure dated before it (a session's "
        "start, an event's time) changes again; null while nothing is known to be final. "
        "Figures of later days may still grow or be corrected (docs/semantics.md)"))


class ClipConsumption(BaseModel):
    clipId: str
    source: str | None = Field(description="The source filter, null for all")
    firstDay: str | None = Field(description="First day with sessions in the range")
    lastDay: str | None = Field(description="Last day with sessions in the range")
    bucketSeconds: float
    clipLengthSeconds: float | None = Field(description=(
        "The longest clip length a session reported; null when none did"))
    pointBuckets: int = Field(description=(
        "Buckets per curve point: 1, or more when the timeline has more buckets than maxPoints"))
    curveEndSeconds: float = Field(description=(
        "Where the curve's timeline ends: the last heard bucket or the clip's end, at most "
        "the longest clip the deployment accepts"))
    curveTruncated: bool = Field(description=(
        "Listening or the clip's length reached past the longest clip the deployment "
        "accepts; the curve stops there"))
    totals: Totals
    sources: list[SourceTotals] = Field(description="Every source in the range")
    histogram: list[CurvePoint] = Field(description=(
        "Points from 0 to curveEndSeconds, pointBuckets buckets each (the last may have "
        "fewer), at most maxPoints; silent ones are zeros"))
    completeThrough: str | None = COMPLETE_THROUGH


class FigureDays(BaseModel):
    clipId: str
    source: str | None = Field(None, description="The source filter, null for all")
    fromDay: str | None = Field(description="The `from` of the request, null for open")
    toDay: str | None = Field(description="The `to` of the request, null for open")
    completeThrough: str | None = COMPLETE_THROUGH


class Quality(BaseModel):
    sessions: int = Field(description="Every session, kept or not")
    listenedSeconds: float
    startupMeasured: int = Field(description="Sessions whose player reported a startup time")
    averageStartupMs: float | None = Field(description=(
        "Mean startup time of those sessions; null when none reported one"))
    rebuffers: int = Field(description="Stalls")
    rebufferSeconds: float = Field(description="Time spent stalled")
    stalledShareOfListening: float | None = Field(description=(
        "rebufferSeconds / listenedSeconds; null without listening"))
    sessionsWithRebuffers: int
    sessionsWithRebuffersShare: float | None = Field(description="Of all sessions")
    qualityChanges: int
    errors: int
    sessionsWithErrors: int
    sessionsWithErrorsShare: float | None = Field(description="Of all sessions")


class ClipQuality(FigureDays):
    quality: Quality


class Engagement(BaseModel):
    impressions: int
    likes: int
    shares: int
    saves: int
    swipes: int
    completions: int


class ClipEngagement(FigureDays):
    engagement: Engagement


class RightsCounts(BaseModel):
    clipPlays: int = Field(description="Plays the rights check allowed (or did not check)")
    deniedPlays: int = Field(description="Plays the rights check refused: not paid on")
    trackPlays: int
    adds: int
    downloads: int


class RightsRow(RightsCounts):
    platform: str = Field(description="The player's platform (empty when it sent none)")
    method: str = Field(description="Stream or Sync (empty when the event has none)")


class ClipRoyalties(BaseModel):
    clipId: str
    fromDay: str | None
    toDay: str | None
    totals: RightsCounts
    byPlatform: list[RightsRow] = Field(description="Per platform and method")
    completeThrough: str | None = COMPLETE_THROUGH


class Problem(BaseModel):
    type: str = Field(description=(
        "bad_request, unauthorized, not_found, internal_error or unavailable"))
    title: str
    status: int
    name: str | None = Field(None, description="The parameter at fault, if one is")
    detail: str | None = Field(None, description="What went wrong and what to do next")
