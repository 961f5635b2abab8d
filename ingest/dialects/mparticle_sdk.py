"""What mParticle's own browser SDKs send and expect, read as the mParticle dialect (pure).

``@mparticle/web-sdk`` 2.x uploads batches of every kind of event it logged
(``session_start``, ``application_state_transition``, ``screen_view``,
custom events, ...); ``@mparticle/web-media-sdk`` 1.x adds media events to
them as ``custom_event`` of ``custom_event_type: media`` when its session was
created with ``logPageEvent: true``. Those media events have the shapes the
``/v1/mparticle/events`` dialect (ingest/dialects/mparticle.py) reads, with
three differences taken care of here:

* no ``event_id``: each event carries ``data.source_message_id`` (a UUID made
  when the event was logged, kept across the SDK's retries), which becomes
  the event id, so a retried batch counts once;
* ``media_session_id`` is ``""`` for events logged before
  ``logMediaSessionStart``: treated as absent (the app session and the clip
  then name the session), not refused;
* a Seek End to position 0 carries no ``seek_position`` (the SDK writes it only
  when truthy): read as 0, not as the ``playhead_position`` fallback, which
  would land the seek where it started.

Everything else is not a media event and is skipped, counted by type.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from ingest.dialects import mparticle

# Event types the SDK sends (mParticle's events API); anything else is counted as "other"
# so a client cannot grow the skipped-events metric's label set.
EVENT_TYPES = frozenset({
    "custom_event", "session_start", "session_end", "screen_view", "commerce_event",
    "application_state_transition", "crash_report", "opt_out", "user_attribute_change",
    "user_identity_change", "breadcrumb", "network_performance", "push_registration",
    "push_message", "uninstall", "first_run"})

# The batching interval the config answer sets: the SDK then uploads every 10 s (and on
# page hide by beacon) instead of posting each event on its own (its default, 0).
BATCHING_INTERVAL_MILLIS = 10_000


class Split(NamedTuple):
    media: list[tuple[int, Any]]  # (index in the batch, event read as the dialect reads it)
    skipped: list[str]  # event type of each event that is not a media event


def _is_media(event: Any) -> bool:
    return (isinstance(event, Mapping) and event.get("event_type") == "custom_event"
            and isinstance(event.get("data"), Mapping)
            and event["data"].get("custom_event_type") == "media")


def _skipped_type(event: Any) -> str:
    kind = event.get("event_type") if isinstance(event, Mapping) else None
    if kind == "custom_event":
        return "custom_event"  # a custom event of another type (navigation, other, ...)
    return kind if kind in EVENT_TYPES else "other"


def as_dialect_event(event: Mapping[str, Any]) -> dict[str, Any]:
    """A media event of the web SDK as ``/v1/mparticle/events`` reads it (a copy)."""
    shaped = copy.deepcopy(dict(event))
    data = shaped["data"]
    source_message_id = data.get("source_message_id")
    if data.get("event_id") is None and source_message_id is not None:
        data["event_id"] = source_message_id
    attributes = data.get("custom_attributes")
    if isinstance(attributes, dict):
        if attributes.get("media_session_id") == "":
            del attributes["media_session_id"]
        name = data.get("event_name")
        if (isinstance(name, str) and mparticle.meaning_of(name)[0] == "Seek End"
                and attributes.get("seek_position") is None):
            attributes["seek_position"] = 0
    return shaped


def split(events: Sequence[Any]) -> Split:
    """The batch's media events (with their index) and the types of the others."""
    media: list[tuple[int, Any]] = []
    skipped: list[str] = []
    for index, event in enumerate(events):
        if _is_media(event):
            media.append((index, as_dialect_event(event)))
        else:
            skipped.append(_skipped_type(event))
    return Split(media, skipped)


def mpid(organization: str, request: Mapping[str, Any]) -> str:
    """A stable mParticle id for the device that sent an identity request.

    The SDK keeps a device stamp (``known_identities.device_application_stamp``)
    in its cookie and sends it with every identity call: the same device gets the
    same id, and nothing is stored here. Without a stamp, the id the SDK already
    has (``previous_mpid``) is kept. An mpid is a signed 64-bit integer in a string.
    """
    known = request.get("known_identities")
    stamp = known.get("device_application_stamp") if isinstance(known, Mapping) else None
    previous = request.get("previous_mpid")
    if not isinstance(stamp, str) or not stamp:
        if isinstance(previous, (str, int)) and str(previous).lstrip("-").isdigit():
            return str(previous)
        stamp = ""
    digest = hashlib.sha256(f"{organization}\0{stamp}".encode()).digest()
    value = int.from_bytes(digest[:8], "big", signed=True)
    return str(value or 1)  # 0 means "no user" to the SDK


def identity_answer(organization: str, request: Mapping[str, Any]) -> dict[str, Any]:
    """The answer to identify, login and logout: the device's mpid, nobody logged in."""
    return {"context": None, "is_ephemeral": False, "is_logged_in": False,
            "matched_identities": {}, "mpid": mpid(organization, request)}


def config_answer() -> dict[str, Any]:
    """The answer to the SDK's config request: only the batching interval.

    The SDK merges this object over the site's own init config (one level deep),
    so it names nothing else; its ``flags`` replace the site's ``flags``.
    """
    return {"flags": {"eventBatchingIntervalMillis": str(BATCHING_INTERVAL_MILLIS)}}
