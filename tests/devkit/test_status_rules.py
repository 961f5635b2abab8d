"""`playhead status` lists the qualifying-play rules (devkit/status.py, pure part)."""

from __future__ import annotations

from config.settings import Settings
from devkit.status import rules_summary


def test_without_rules_every_organization_counts_with_the_deployments_settings() -> None:
    assert rules_summary([], Settings()) == (
        "none: every organization counts with the deployment's 10 s, 95 %, 1 s buckets")


def test_rules_are_listed_per_organization_and_source() -> None:
    rows = [("acme", "", "2026-11-01", "30", "0.95", "1"),
            ("acme", "omny", "2026-11-05", "60", "0.9", "5")]
    assert rules_summary(rows, Settings()) == (
        "acme from 2026-11-01: min 30 s, complete at 0.95, 1 s buckets; "
        "acme/omny from 2026-11-05: min 60 s, complete at 0.9, 5 s buckets "
        "(others: 10 s, 95 %, 1 s buckets)")
    assert rules_summary(rows * 3, Settings(), shown=2).endswith(
        "; 4 more (playhead rules list) (others: 10 s, 95 %, 1 s buckets)")
