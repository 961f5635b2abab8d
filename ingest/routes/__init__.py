"""One module per input dialect, each with ``router(gateway) -> APIRouter``.

Modules here are found by name, so adding a dialect is adding its files.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import APIRouter

    from ingest.gateway import Gateway


# A request is matched against the routes in the order they were added, and passing
# over a dialect's routes costs several µs each (mParticle's SDK has six): the busiest
# dialect comes first. No request path is served by two dialects
# (tests/ingest/test_route_order.py), so the order changes no answer.
BUSIEST = ("omny",)


def all_routers() -> list[Callable[[Gateway], APIRouter]]:
    found = []
    for info in sorted(pkgutil.iter_modules(__path__),
                       key=lambda m: (m.name not in BUSIEST, m.name)):
        module = importlib.import_module(f"{__name__}.{info.name}")
        found.append(module.router)
    return found
