"""api.video's pagination object (pure).

Keys come in the order the reference page shows them (alphabetical), and the
links are relative URIs: ``self``, ``first``, ``previous`` (after page 1),
``next`` (before the last page) and ``last``. Filters of the request repeat
in every link, so following ``next`` keeps them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 100
# Far past any real listing (100 million items at the largest page size); a
# page beyond the last is an empty page, as on api.video.
MAX_CURRENT_PAGE = 1_000_000


@dataclass(frozen=True)
class Page:
    current: int  # 1-based
    size: int

    @property
    def offset(self) -> int:
        return (self.current - 1) * self.size


def pages_total(items_total: int, size: int) -> int:
    # An empty listing still has one (empty) page, so `first` and `last` exist.
    return max(1, math.ceil(items_total / size))


def pagination(path: str, page: Page, items_total: int, items_on_page: int,
               filters: Sequence[tuple[str, str]] = ()) -> dict[str, Any]:
    last = pages_total(items_total, page.size)

    def uri(number: int) -> str:
        query = urlencode([*filters, ("currentPage", number), ("pageSize", page.size)])
        return f"{path}?{query}"

    links = [("self", page.current), ("first", 1)]
    if page.current > 1:
        links.append(("previous", min(page.current - 1, last)))
    if page.current < last:
        links.append(("next", page.current + 1))
    links.append(("last", last))
    return {
        "currentPage": page.current,
        "currentPageItems": items_on_page,
        "itemsTotal": items_total,
        "links": [{"rel": rel, "uri": uri(number)} for rel, number in links],
        "pageSize": page.size,
        "pagesTotal": last,
    }
