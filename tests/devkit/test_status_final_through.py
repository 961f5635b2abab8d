"""`playhead status`'s complete-through line, from the view's rows (pure)."""

from __future__ import annotations

from devkit.status import final_through_line

NULL = "\\N"


def test_unknown_until_every_partition_reported() -> None:
    assert final_through_line([]).startswith("unknown: not every partition has reported")
    assert final_through_line([("", NULL), ("acme", NULL)]).startswith("unknown")


def test_the_oldest_organizations_first_then_how_many_more() -> None:
    rows = [("acme", "2026-01-01 00:00:00.000"), ("", "2026-01-02 00:00:00.000"),
            ("beta", "2026-01-02 00:00:00.000"), ("cara", "2026-01-03 10:00:00.500"),
            ("dora", "2026-01-04 00:00:00.000")]
    assert final_through_line(rows) == (
        "acme 2026-01-01 00:00:00 UTC, beta 2026-01-02 00:00:00 UTC, "
        "cara 2026-01-03 10:00:00 UTC; 1 more, all later (oldest first; 4 organizations)")
    assert final_through_line(rows[:2]) == (
        "acme 2026-01-01 00:00:00 UTC (oldest first; 1 organization)")
    assert final_through_line([("", "2026-01-02 00:00:00.000")]) == (
        "2026-01-02 00:00:00 UTC, every organization")
