"""Qualifying-play rules per organization (and optionally per source): the pure part.

A rule says what counts, for the sessions of one organization (one source of
it, or every source) whose UTC day is on or after its effective day:

* ``min_session_seconds``: a session listened to for less is counted but
  kept out of histograms and totals (rule 4 of docs/semantics.md);
* ``completion_threshold``: a session is complete when its furthest
  position reaches this share of the clip's length;
* ``bucket_seconds``: the histogram's bucket width, a whole number of
  seconds (rule 5), so that a clip stays within the bucket-count limit.

Rules take effect from a UTC midnight, not any instant: every figure is
per UTC day of the session's first event (rollups are built per day, and a
day's ``consumption_by_bucket`` rows would otherwise mix bucket indices at
two widths), so a day is always under one rule. Sessions of days without a
rule keep what the workers computed with the deployment's settings
(``PLAYHEAD_MIN_SESSION_SECONDS``, ``PLAYHEAD_BUCKET_SECONDS``, 95 %).

Everything here is a pure function: the warehouse applies the same rules in
SQL (m0104), and the tests compare the two.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from processors.histogram import NO_STEPS, Steps, bucket_steps
from processors.intervals import Interval

DEFAULT_COMPLETION_THRESHOLD = 0.95
# A source of '' is the organization's rule for every source without its own.
EVERY_SOURCE = ""


class InvalidRule(ValueError):
    """A rule that cannot be applied; the message says which part and why."""


@dataclass(frozen=True, slots=True)
class Rule:
    min_session_seconds: float = 10.0
    completion_threshold: float = DEFAULT_COMPLETION_THRESHOLD
    bucket_seconds: int = 1


@dataclass(frozen=True, slots=True)
class RuleEntry:
    """One stored rule: who it is for, from which day, and what it says."""

    organization_id: str
    source: str
    effective_day: date
    rule: Rule


def check_rule(rule: Rule, max_clip_seconds: float, max_buckets: int) -> Rule:
    """``rule`` if it can be applied; raises ``InvalidRule`` saying why not."""
    if not (math.isfinite(rule.min_session_seconds) and 0 <= rule.min_session_seconds <= 86400):
        raise InvalidRule(f"min_session_seconds {rule.min_session_seconds!r}: give 0 to 86400")
    if not (math.isfinite(rule.completion_threshold) and 0 < rule.completion_threshold <= 1):
        raise InvalidRule(f"completion_threshold {rule.completion_threshold!r}: give a share "
                          "above 0 and at most 1 (0.95 is 95 %)")
    width = rule.bucket_seconds
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise InvalidRule(f"bucket_seconds {width!r}: give a whole number of seconds, at least 1")
    if width > max_clip_seconds:
        raise InvalidRule(f"bucket_seconds {width}: wider than the longest clip "
                          f"({max_clip_seconds:g} s, PLAYHEAD_MAX_CLIP_SECONDS)")
    if max_clip_seconds / width > max_buckets:
        raise InvalidRule(f"bucket_seconds {width}: the longest clip ({max_clip_seconds:g} s) "
                          f"would have more than {max_buckets:,} buckets")
    return rule


def effective_day(instant: datetime | date) -> date:
    """The UTC day a rule starts on; an instant must be a UTC midnight (see the docstring)."""
    if not isinstance(instant, datetime):
        return instant
    utc = instant.astimezone(UTC) if instant.tzinfo else instant.replace(tzinfo=UTC)
    if utc.timetz().replace(tzinfo=None) != time(0):
        raise InvalidRule(f"effective instant {utc.isoformat()}: rules take effect at a UTC "
                          "midnight (every figure is per UTC day); give e.g. "
                          f"{utc.date().isoformat()} or the next day")
    return utc.date()


def rule_for(entries: Iterable[RuleEntry], organization: str, source: str,
             day: date) -> Rule | None:
    """The rule for a session of ``organization``'s ``source`` on ``day``; None: the defaults.

    The source's own rules win from their effective day; before it (or
    without any) the organization's rules for every source apply.
    """
    own = [e for e in entries if e.organization_id == organization and e.effective_day <= day]
    for wanted in (source, EVERY_SOURCE):
        found = [e for e in own if e.source == wanted]
        if found:
            return max(found, key=lambda e: e.effective_day).rule
    return None


@dataclass(frozen=True, slots=True)
class Qualified:
    """One session's histogram figures under a rule."""

    kept: bool
    steps: Steps


def qualify(intervals: Sequence[Interval], duration_seconds: float, rule: Rule) -> Qualified:
    """A session's ``kept`` and histogram under ``rule``, from its stored intervals.

    Exactly what a worker configured with the rule's minimum and width
    writes (processors/session.py), so a restated figure equals a run under
    the new rule.
    """
    kept = duration_seconds >= rule.min_session_seconds
    return Qualified(kept, bucket_steps(intervals, rule.bucket_seconds) if kept else NO_STEPS)


def completed(furthest_seconds: float, clip_length_seconds: float, threshold: float) -> bool:
    """The session reached ``threshold`` of the clip (the views' test, term for term)."""
    return furthest_seconds >= threshold * clip_length_seconds


def changes(entries: Iterable[RuleEntry], entry: RuleEntry) -> bool:
    """Whether storing ``entry`` changes anything: setting the same rule twice does not."""
    return not any(e.organization_id == entry.organization_id and e.source == entry.source
                   and e.effective_day == entry.effective_day and e.rule == entry.rule
                   for e in entries)


def restated_days(days: Iterable[date], since: date) -> list[date]:
    """The built days a rule from ``since`` changes: those on or after it."""
    return sorted({d for d in days if d >= since})


def midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def deployment_rule(min_session_seconds: float, bucket_seconds: float) -> Rule | None:
    """The rule the workers' settings amount to; None when their width is not whole seconds."""
    if bucket_seconds != int(bucket_seconds):
        return None
    return Rule(min_session_seconds, DEFAULT_COMPLETION_THRESHOLD, int(bucket_seconds))


def filled(entries: Iterable[RuleEntry], organization: str, source: str, day: date,
           default: Rule | None, min_session_seconds: float | None = None,
           completion_threshold: float | None = None,
           bucket_seconds: int | None = None) -> Rule:
    """A rule from the parts given; the others as in effect that day, else the deployment's.

    Raises ``InvalidRule`` when a part is missing and nothing says what it is
    (the workers' PLAYHEAD_BUCKET_SECONDS is not whole seconds).
    """
    base = rule_for(entries, organization, source, day) or default
    if base is None:
        if None in (min_session_seconds, completion_threshold, bucket_seconds):
            raise InvalidRule("PLAYHEAD_BUCKET_SECONDS is not a whole number of seconds, so "
                              "the first rule must give every part: --min-seconds, "
                              "--completion-threshold and --bucket-seconds")
        base = Rule()
    return Rule(
        base.min_session_seconds if min_session_seconds is None else min_session_seconds,
        base.completion_threshold if completion_threshold is None else completion_threshold,
        base.bucket_seconds if bucket_seconds is None else bucket_seconds)
