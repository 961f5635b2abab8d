"""The reference requests of ingest/examples/, moved to the present for `playhead sample`.

The gateway refuses events older than a day, and the references are dated as
their API pages date them, so a sample is only useful once its times are
recent. Each dialect's timestamps are spelled differently, hence one function
per dialect; each returns the body it was given, changed in place.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from ingest.dialects.fields import iso
from ingest.examples import reference

Retime = Callable[[Any, float], Any]

# apivideo: longer pauses than this between two events shrink to it.
MAX_GAP = timedelta(hours=1)
# musicclips: its examples are months apart; kept in order, at most this apart.
MAX_CLIPS_GAP = timedelta(minutes=1)


def apivideo(body: dict[str, Any], now: float) -> dict[str, Any]:
    """The latest event at ``now``, gaps over an hour shrunk to an hour.

    The reference session spans two days, more than the gateway's age limit.
    Only the time between events that leave no interval open changes (the
    player was idle or reloaded), so the listened intervals stay the reference's.
    """
    stamps = [datetime.fromisoformat(event["emittedAt"]) for event in body["events"]]
    moved = [stamps[0]]
    for before, after in zip(stamps, stamps[1:], strict=False):
        moved.append(moved[-1] + min(after - before, MAX_GAP))
    shift = datetime.fromtimestamp(now, tz=UTC) - moved[-1]
    for event, stamp in zip(body["events"], moved, strict=True):
        event["emittedAt"] = iso(stamp + shift)
    return body


def mparticle(body: dict[str, Any], now: float) -> dict[str, Any]:
    """Every millisecond time shifted so the latest event is ``now``; strings stay strings."""
    fields = ("timestamp_unixtime_ms", "event_start_unixtime_ms", "session_start_unixtime_ms")
    latest = max(int(event["data"]["timestamp_unixtime_ms"]) for event in body["events"])
    shift = round(now * 1000) - latest
    for event in body["events"]:
        for field in fields:
            value = event["data"].get(field)
            if value is not None:
                moved = int(value) + shift
                event["data"][field] = str(moved) if isinstance(value, str) else moved
    return body


def musicclips(body: dict[str, Any], now: float) -> dict[str, Any]:
    """The example requests (path -> body) in their order, a minute apart at most, the
    latest at ``now``."""
    ordered = sorted((datetime.fromisoformat(request["timestamp"]), path)
                     for path, request in body.items() if "timestamp" in request)
    moment = datetime.fromtimestamp(round(now), UTC)
    later: datetime | None = None
    for stamp, path in reversed(ordered):
        if later is not None:
            moment -= min(later - stamp, MAX_CLIPS_GAP)
        body[path]["timestamp"] = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
        later = stamp
    return body


def omny(body: dict[str, Any], now: float) -> dict[str, Any]:
    """Unix seconds shifted so the latest event is ``now``."""
    shift = now - max(event["Timestamp"] for event in body["Events"])
    for event in body["Events"]:
        event["Timestamp"] = round(event["Timestamp"] + shift)
    return body


def shortvideo(body: dict[str, Any], now: float) -> dict[str, Any]:
    """ISO times shifted so the latest is ``now``; an event without one keeps none."""
    timed = [event for event in body["events"] if "timestamp" in event]
    stamps = [datetime.fromisoformat(event["timestamp"]).timestamp() for event in timed]
    shift = now - max(stamps)
    for event, stamp in zip(timed, stamps, strict=True):
        event["timestamp"] = iso(datetime.fromtimestamp(stamp + shift, tz=UTC))
    return body


RETIME: dict[str, Retime] = {"apivideo": apivideo, "mparticle": mparticle,
                             "musicclips": musicclips, "omny": omny, "shortvideo": shortvideo}


def retimed(dialect: str, now: float) -> Any:
    """The dialect's reference request with its latest time at ``now``."""
    body = copy.deepcopy(reference(dialect))  # KeyError naming the known dialects
    return RETIME[dialect](body, now)
