"""The reference request of each dialect, as its API page shows it (``<dialect>.json``).

``playhead sample <dialect>`` prints one moved to the present
(devkit/sample_retime.py), so it passes the gateway's age check.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

_FOLDER = resources.files("ingest.examples")
DIALECTS = tuple(sorted(e.name[:-5] for e in _FOLDER.iterdir() if e.name.endswith(".json")))


def reference(dialect: str) -> Any:
    if dialect not in DIALECTS:
        raise KeyError(f"no example for {dialect!r}; known: {', '.join(DIALECTS)}")
    return json.loads((_FOLDER / f"{dialect}.json").read_text())
