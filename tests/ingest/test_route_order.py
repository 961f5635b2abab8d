"""The dialects' routes may be tried in any order: no request path is served by two of them.

ingest/routes/__init__.py puts the busiest dialect first to spare it the
matching of the others; that is only safe while every path a route serves
is matched by that route alone.
"""

from __future__ import annotations

import re

from fastapi.routing import APIRoute

from config.settings import Settings
from control.registry import Registry
from ingest.app import create_app
from ingest.routes import BUSIEST, all_routers


def test_no_path_of_one_route_is_matched_by_another() -> None:
    app = create_app(Settings(), publisher=None, control=Registry())
    routes = [route for route in app.routes if isinstance(route, APIRoute)]
    routes += [route for included in app.router.routes
               for route in getattr(getattr(included, "original_router", None), "routes", [])
               if isinstance(route, APIRoute)]
    assert len(routes) > 10
    for route in routes:
        # A concrete path of the route: each parameter as a plain word.
        path = re.sub(r"\{[^}]+\}", "x1", route.path_format)
        assert route.path_regex.match(path), route.path_format
        others = [other.path_format for other in routes
                  if other is not route and other.path_regex.match(path)]
        assert not others, (route.path_format, others)


def test_the_busiest_dialect_is_tried_first() -> None:
    assert [router.__module__.rsplit(".", 1)[1] for router in all_routers()][:len(BUSIEST)] == \
        list(BUSIEST)
