"""The reference request of each dialect, as its API page shows it.

``playhead sample <dialect>`` prints one moved to the present, so it passes
the gateway's age check (events older than 24 h are refused by default).
"""

from __future__ import annotations

import copy
import json
from importlib import resources
from typing import Any

DIALECTS = ("omny",)


def reference(dialect: str) -> Any:
    if dialect not in DIALECTS:
        raise KeyError(f"no example for {dialect!r}; known: {', '.join(DIALECTS)}")
    return json.loads((resources.files("ingest.examples") / f"{dialect}.json").read_text())


def retimed(dialect: str, now: float) -> Any:
    """The reference request with every timestamp shifted so the last one is ``now``."""
    body = copy.deepcopy(reference(dialect))
    if dialect == "omny":
        shift = now - max(event["Timestamp"] for event in body["Events"])
        for event in body["Events"]:
            event["Timestamp"] = round(event["Timestamp"] + shift)
    return body
