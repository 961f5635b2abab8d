"""Answers for refused input: one shape for every route."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ingest.gateway import Problem


class Rejected(Exception):
    """The request is refused as a whole (422) with every problem named."""

    def __init__(self, problems: Sequence[Problem], status: int = 422):
        self.problems = list(problems)
        self.status = status
        super().__init__("; ".join(p.message for p in problems))
