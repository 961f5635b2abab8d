"""The streaming-rights catalogue the music clips ``/play`` route answers from.

The operator names a JSON file with ``PLAYHEAD_RIGHTS_CATALOGUE``; the gateway
reads and checks it once, at start, and refuses to start when an entry is
wrong (the error names the entry). The format (docs/semantics.md):

    {"clips": [
        {"clipId": 123, "rights": true, "tracks": [789]},
        {"clipId": "124", "rights": false, "code": "NO_STREAMING_RIGHTS",
         "reason": "The label withdrew streaming rights"}
    ]}

Ids may be strings or integers and are compared after normalization (see
``identifier``), exactly as the clips dialect normalizes what players send.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    WithJsonSchema,
    model_validator,
)

from config.settings import SettingsError
from control.registry import Registry
from ingest.gateway import field_path

SETTING = "PLAYHEAD_RIGHTS_CATALOGUE"


class FailureCode(enum.StrEnum):
    """Why a play has no rights, or why the request failed (the music clips API's list)."""

    AUTHENTICATION_FAILED = "AUTHENTICATION_FAILED"
    VALIDATION_ERROR = "VALIDATION_ERROR"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    ACR_CLOUD_ERROR = "ACR_CLOUD_ERROR"
    ACR_CLOUD_CONFIG_ERROR = "ACR_CLOUD_CONFIG_ERROR"
    NO_STREAMING_RIGHTS = "NO_STREAMING_RIGHTS"
    CLIP_NOT_FOUND = "CLIP_NOT_FOUND"
    TRACK_NOT_FOUND = "TRACK_NOT_FOUND"
    COLLECTION_NOT_FOUND = "COLLECTION_NOT_FOUND"
    INVALID_PARAMETERS = "INVALID_PARAMETERS"
    MISSING_HEADERS = "MISSING_HEADERS"
    NETWORK_ERROR = "NETWORK_ERROR"


# The codes that describe a clip's rights; the others describe a failed request
# or service and have no place in a catalogue entry.
CATALOGUE_CODES = frozenset({FailureCode.NO_STREAMING_RIGHTS, FailureCode.CLIP_NOT_FOUND,
                             FailureCode.TRACK_NOT_FOUND, FailureCode.COLLECTION_NOT_FOUND})


def identifier(value: object) -> str:
    """A clip or track id as a string: ``123``, ``"123"`` and ``" 0123 "`` are one id.

    Players send the same id as a number on one endpoint and as a string on
    another; royalty counts must not split them, so numeric ids are reduced to
    their integer text and other ids are only trimmed.
    """
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("must be a string or an integer")
    text = str(value).strip()
    if not text or len(text) > 128 or not text.isprintable():
        raise ValueError("must be 1 to 128 printable characters")
    if text.isascii() and text.isdigit():
        text = str(int(text))
    return text


Identifier = Annotated[str, BeforeValidator(identifier), WithJsonSchema(
    {"anyOf": [{"type": "string", "minLength": 1, "maxLength": 128}, {"type": "integer"}],
     "description": "A string or an integer; 123 and \"123\" are the same id"})]


class ClipRights(BaseModel):
    model_config = ConfigDict(extra="forbid")

    clipId: Identifier
    rights: StrictBool = Field(description="Whether the clip may be played (JSON true/false)")
    tracks: list[Identifier] = Field(default_factory=list, description="The clip's tracks")
    code: FailureCode | None = Field(None, description="Why not, when rights is false")
    reason: str | None = Field(None, min_length=1, max_length=500,
                               description="Readable reason, when rights is false")

    @model_validator(mode="after")
    def _coherent(self) -> ClipRights:
        if self.rights and (self.code or self.reason):
            raise ValueError("code and reason are only for clips without rights")
        if self.code and self.code not in CATALOGUE_CODES:
            raise ValueError(f"code must be one of {', '.join(sorted(CATALOGUE_CODES))}")
        return self


class CatalogueFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    clips: list[ClipRights]


class CatalogueError(SettingsError):
    """The catalogue file is unreadable or an entry is wrong; the message names it."""


@dataclass(frozen=True, slots=True)
class Decision:
    """What ``/play`` answers for one clip, and what the recorded event says."""

    granted: bool
    checked: bool  # False when no catalogue is configured
    code: FailureCode | None = None
    reason: str | None = None
    tracks: tuple[str, ...] = ()

    @property
    def rights(self) -> str:
        """The ``rights`` attribute of the canonical event: granted, denied or unchecked."""
        if not self.checked:
            return "unchecked"
        return "granted" if self.granted else "denied"


UNCHECKED = Decision(granted=True, checked=False)


@dataclass(frozen=True, slots=True)
class RightsCatalogue:
    clips: Mapping[str, ClipRights] | None  # None: no catalogue, every play is unchecked

    def decide(self, clip_id: str) -> Decision:
        if self.clips is None:
            return UNCHECKED
        entry = self.clips.get(clip_id)
        if entry is None:
            return Decision(False, True, FailureCode.CLIP_NOT_FOUND,
                            f"clip {clip_id} is not in the rights catalogue")
        if entry.rights:
            return Decision(True, True, tracks=tuple(entry.tracks))
        return Decision(False, True, entry.code or FailureCode.NO_STREAMING_RIGHTS,
                        entry.reason or f"clip {clip_id} has no streaming rights",
                        tuple(entry.tracks))


@dataclass
class Catalogues:
    """Each organization's catalogue: its own from the control topic, else the settings' file.

    A catalogue is parsed once per change (the registry hands a new document
    object for every record), not per ``/play``.
    """

    default: RightsCatalogue
    control: Registry
    _parsed: dict[str, tuple[Any, RightsCatalogue]] = field(default_factory=dict)

    def of(self, organization: str) -> RightsCatalogue:
        document = self.control.catalogue(organization)
        if document is None:
            return self.default
        cached = self._parsed.get(organization)
        if cached is not None and cached[0] is document:
            return cached[1]
        # Checked before it was published (playhead catalogue set, the admin API);
        # a record written around them fails here with the entry named, as a 500.
        parsed = parse(document, f"the control topic's catalogue/{organization}")
        self._parsed[organization] = (document, parsed)
        return parsed


def parse(document: Any, origin: str = SETTING) -> RightsCatalogue:
    """Check a decoded catalogue; CatalogueError names the first bad entries."""
    try:
        parsed = CatalogueFile.model_validate(document)
    except ValidationError as err:
        problems = []
        for error in err.errors()[:10]:
            location = tuple(error["loc"])
            where = field_path(location)
            clip = _clip_of(document, location)
            problems.append(f"{where}{clip}: {error['msg']}")
        raise CatalogueError(f"{origin}: invalid rights catalogue: " + "; ".join(problems)) from err
    clips: dict[str, ClipRights] = {}
    first_index: dict[str, int] = {}
    for index, entry in enumerate(parsed.clips):
        if entry.clipId in clips:
            raise CatalogueError(
                f"{origin}: invalid rights catalogue: clips[{index}] repeats clipId "
                f"{entry.clipId} of clips[{first_index[entry.clipId]}]; list each clip once")
        clips[entry.clipId] = entry
        first_index[entry.clipId] = index
    return RightsCatalogue(clips)


def load(path: Path | None) -> RightsCatalogue:
    """The catalogue at ``path``; no path means no rights check (every play unchecked)."""
    if path is None:
        return RightsCatalogue(None)
    origin = f"{SETTING} ({path})"
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise CatalogueError(f"{origin}: cannot read the rights catalogue: {err}") from err
    except ValueError as err:
        raise CatalogueError(f"{origin}: the rights catalogue is not valid JSON: {err}") from err
    return parse(document, origin)


def _clip_of(document: Any, location: tuple[Any, ...]) -> str:
    # "clips[3].rights (clipId 123)" is easier to find in a long file than the index alone.
    if len(location) >= 2 and location[0] == "clips" and isinstance(location[1], int):
        try:
            clip = document["clips"][location[1]]["clipId"]
        except (KeyError, IndexError, TypeError):
            return ""
        return f" (clipId {clip})"
    return ""
