"""Qualifying-play rules, the pure part (sinks/qualifying.py), and m0104's bucket arithmetic.

``restepped`` below is m0104's SQL for a session's steps under a rule, line
for line in Python (sort the interval ends, starts first at one edge, run a
coverage sum, step where it turns on or off). It must give, per bucket, the
listeners and listens of rule 5 (tests/histogram_oracle.py) at any whole
width, as the worker's ``bucket_steps`` does.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from processors.histogram import bucket_steps
from processors.intervals import Interval
from sinks.qualifying import (
    InvalidRule,
    Rule,
    RuleEntry,
    changes,
    check_rule,
    deployment_rule,
    effective_day,
    filled,
    qualify,
    rule_for,
)
from tests.histogram_oracle import bucket_listens

intervals = st.lists(st.tuples(st.floats(0, 200, allow_nan=False),
                               st.floats(0.001, 60, allow_nan=False)), max_size=6).map(
    lambda pairs: [Interval(a, a + n) for a, n in pairs if a + n > a])


def restepped(spans: list[Interval], width: int) -> list[tuple[int, int, int]]:
    """(edge, listener step, listen step) per point, as m0104 computes them."""
    points = sorted([(math.floor(i.start / width), -1) for i in spans]
                    + [(math.ceil(i.end / width), 1) for i in spans])
    listens = [-p[1] for p in points]
    coverage, heard = 0, []
    for step in listens:
        coverage += step
        heard.append(int(coverage > 0))
    listeners = [h - (heard[n - 1] if n else 0) for n, h in enumerate(heard)]
    return [(p[0], listeners[n], listens[n]) for n, p in enumerate(points)]


def per_bucket(points: list[tuple[int, int, int]]) -> dict[int, tuple[int, int]]:
    """bucket -> (listeners, listens) from steps (the views' running sums)."""
    out: dict[int, tuple[int, int]] = {}
    edges = sorted({p[0] for p in points})
    listeners = listens = 0
    for n, edge in enumerate(edges):
        listeners += sum(p[1] for p in points if p[0] == edge)
        listens += sum(p[2] for p in points if p[0] == edge)
        if listeners and n + 1 < len(edges):
            out.update(dict.fromkeys(range(edge, edges[n + 1]), (listeners, listens)))
    return out


@given(intervals, st.sampled_from([1, 2, 3, 5, 7, 30]))
def test_the_views_steps_count_rule_5_at_any_width(spans: list[Interval], width: int) -> None:
    oracle = {b: (1, n) for b, n in bucket_listens(spans, width).items()}
    points = restepped(spans, width)
    assert per_bucket(points) == oracle
    # A listener is +1 or -1 at most once per edge: drop-off counts sessions, not points.
    leaving = [p[0] for p in points if p[1] < 0]
    assert len(leaving) == len(set(leaving))
    # The same buckets the worker writes at that width.
    steps = bucket_steps(spans, width)
    worker = per_bucket(list(zip(steps.edges, steps.listener_steps, steps.listen_steps,
                                 strict=True)))
    assert per_bucket(points) == worker
    assert sorted(leaving) == [e for e, s in zip(steps.edges, steps.listener_steps, strict=True)
                               if s < 0]


@given(intervals, st.sampled_from([0.0, 10.0, 30.0, 60.0]), st.sampled_from([1, 5]))
def test_qualify_is_what_a_worker_with_the_rule_writes(spans: list[Interval], minimum: float,
                                                       width: int) -> None:
    duration = round(sum(i.length for i in spans), 6)
    result = qualify(spans, duration, Rule(minimum, 0.95, width))
    assert result.kept == (duration >= minimum)
    assert result.steps.buckets() == (bucket_listens(spans, width) if result.kept else {})


def test_the_source_rule_wins_from_its_day_and_the_organization_rule_before() -> None:
    everyone = RuleEntry("a", "", date(2026, 1, 1), Rule(30.0))
    omny = RuleEntry("a", "omny", date(2026, 2, 1), Rule(60.0, 0.9, 5))
    later = RuleEntry("a", "", date(2026, 3, 1), Rule(10.0, 0.5, 2))
    entries = [everyone, omny, later, RuleEntry("b", "", date(2020, 1, 1), Rule(1.0))]
    assert rule_for(entries, "a", "omny", date(2025, 12, 31)) is None
    assert rule_for(entries, "a", "omny", date(2026, 1, 31)) == everyone.rule
    assert rule_for(entries, "a", "omny", date(2026, 3, 5)) == omny.rule
    assert rule_for(entries, "a", "web", date(2026, 2, 5)) == everyone.rule
    assert rule_for(entries, "a", "web", date(2026, 3, 1)) == later.rule
    assert rule_for(entries, "c", "web", date(2026, 3, 1)) is None


def test_setting_the_same_rule_twice_changes_nothing() -> None:
    entry = RuleEntry("a", "", date(2026, 1, 1), Rule(30.0))
    assert changes([], entry)
    assert not changes([entry], entry)
    assert changes([entry], RuleEntry("a", "", date(2026, 1, 1), Rule(31.0)))


def test_rules_take_effect_at_a_utc_midnight() -> None:
    assert effective_day(datetime(2026, 11, 1, tzinfo=UTC)) == date(2026, 11, 1)
    assert effective_day(date(2026, 11, 1)) == date(2026, 11, 1)
    with pytest.raises(InvalidRule, match="UTC midnight"):
        effective_day(datetime(2026, 11, 1, 6, tzinfo=UTC))


@pytest.mark.parametrize("rule, message", [
    (Rule(-1.0), "min_session_seconds"),
    (Rule(10.0, 0.0), "completion_threshold"),
    (Rule(10.0, 1.5), "completion_threshold"),
    (Rule(10.0, 0.95, 0), "bucket_seconds"),
    (Rule(10.0, 0.95, 2.5), "whole number"),  # type: ignore[arg-type]
])
def test_a_rule_that_cannot_be_applied_is_refused(rule: Rule, message: str) -> None:
    with pytest.raises(InvalidRule, match=message):
        check_rule(rule, 86400.0, 1_000_000)


def test_a_width_is_bounded_by_the_bucket_count_limit() -> None:
    check_rule(Rule(10.0, 0.95, 1), 86400.0, 1_000_000)
    with pytest.raises(InvalidRule, match="more than 100 buckets"):
        check_rule(Rule(10.0, 0.95, 5), 86400.0, 100)
    with pytest.raises(InvalidRule, match="longest clip"):
        check_rule(Rule(10.0, 0.95, 90000), 86400.0, 1_000_000)


def test_parts_not_given_are_as_in_effect_else_the_deployments() -> None:
    default = deployment_rule(10.0, 1.0)
    assert default == Rule(10.0, 0.95, 1)
    assert filled([], "a", "", date(2026, 1, 1), default, min_session_seconds=30.0) == Rule(30.0)
    earlier = RuleEntry("a", "", date(2025, 1, 1), Rule(60.0, 0.9, 5))
    assert filled([earlier], "a", "web", date(2026, 1, 1), default,
                  bucket_seconds=2) == Rule(60.0, 0.9, 2)
    assert deployment_rule(10.0, 0.5) is None
    with pytest.raises(InvalidRule, match="every part"):
        filled([], "a", "", date(2026, 1, 1), None, min_session_seconds=30.0)
    assert filled([], "a", "", date(2026, 1, 1), None, 30.0, 0.9, 3) == Rule(30.0, 0.9, 3)
