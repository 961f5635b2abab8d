"""The reference request of each dialect, as its API page shows it (``<dialect>.json``).

``playhead sample <dialect>`` prints one moved to the present, so it passes
the gateway's age check (events older than 24 h are refused by default).
Each dialect module in ``ingest.dialects`` provides ``retime(body, now)``.
"""

from __future__ import annotations

import copy
import importlib
import json
from importlib import resources
from typing import Any

_FOLDER = resources.files("ingest.examples")
DIALECTS = tuple(sorted(e.name[:-5] for e in _FOLDER.iterdir() if e.name.endswith(".json")))


def reference(dialect: str) -> Any:
    if dialect not in DIALECTS:
        raise KeyError(f"no example for {dialect!r}; known: {', '.join(DIALECTS)}")
    return json.loads((_FOLDER / f"{dialect}.json").read_text())


def retimed(dialect: str, now: float) -> Any:
    """The reference request with its timestamps shifted so the latest one is ``now``."""
    module = importlib.import_module(f"ingest.dialects.{dialect}")
    return module.retime(copy.deepcopy(reference(dialect)), now)
