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


def all_routers() -> list[Callable[[Gateway], APIRouter]]:
    found = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        found.append(module.router)
    return found
