"""Field types the JSON dialects share (shortvideo, apivideo)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    GetJsonSchemaHandler,
    StringConstraints,
    TypeAdapter,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError

from schemas.bounds import MAX_TIMESTAMP, MIN_TIMESTAMP

# Printable ASCII without spaces: ids end up in Kafka keys, event ids and ClickHouse.
Identifier = Annotated[str, StringConstraints(pattern=r"^[!-~]{1,128}$")]
# A part of the Kafka key "<organization>/<session>": the same without "/", so two
# different keys can never read alike.
KEY_PART_PATTERN = r"^[!-.0-~]{1,128}$"
KeyPart = Annotated[str, StringConstraints(pattern=KEY_PART_PATTERN)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=256)]
Seconds = Annotated[float, Field(ge=0, allow_inf_nan=False)]


def _iso_only(value: Any) -> Any:
    # pydantic would also read a number as a unix time; these APIs say ISO 8601, and
    # a number here is more likely milliseconds sent by mistake than a valid time.
    if not isinstance(value, str | datetime):
        raise PydanticCustomError("iso_timestamp", "a time must be an ISO 8601 string, e.g. "
                                                   "2026-11-23T10:00:00.000Z")
    return value


OUTSIDE_TIMES = "a time must fall between 1970-01-01 and 2100-01-01 UTC"


def out_of_bounds(message: str) -> PydanticCustomError:
    """A bound stated in a model: its problem keeps reason ``out_of_bounds`` (Problem)."""
    return PydanticCustomError("out_of_bounds", message)


def zoned(value: datetime) -> datetime:
    """``value``, read as UTC when it has no offset (what JavaScript's toISOString sends)."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def in_utc(value: datetime) -> datetime:
    """``value`` in UTC, within the times of schemas/bounds.py, else ``out_of_bounds``.

    9999-12-31T23:59:59-14:00 is a valid ISO 8601 time whose UTC form is in
    the year 10000, which Python cannot represent (OverflowError, not a
    validation error): it must be refused here, not fail the request.
    """
    try:
        utc = zoned(value).astimezone(UTC)
    except OverflowError as err:
        raise out_of_bounds(f"{OUTSIDE_TIMES}; {value.isoformat()} is not") from err
    if not MIN_TIMESTAMP <= utc.timestamp() < MAX_TIMESTAMP:
        raise out_of_bounds(f"{OUTSIDE_TIMES}; {value.isoformat()} is not")
    return utc


IsoTimestamp = Annotated[datetime, BeforeValidator(_iso_only), AfterValidator(in_utc)]


def iso(stamp: datetime) -> str:
    """``2026-11-23T10:00:00.000Z``: how the examples write times."""
    return stamp.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def documented_as_list_of(item: Any) -> Any:
    """A marker for ``Annotated[list[Any], ...]``: the OpenAPI document shows
    ``list[item]``, while the route validates the items one by one (so one bad
    item refuses only itself)."""

    class DocumentedAsList:
        @classmethod
        def __get_pydantic_json_schema__(cls, _: Any,
                                         handler: GetJsonSchemaHandler) -> JsonSchemaValue:
            return handler(TypeAdapter(list[item]).core_schema)

    return DocumentedAsList
