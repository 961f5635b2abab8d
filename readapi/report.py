"""`playhead report <clipId>`: a clip's retention curve and totals in the terminal (pure).

The curve is resampled to the terminal's width: each column (or row) shows
the mean share of kept sessions over the buckets it covers, so a five-hour
clip and a thirty-second one both fit and the area stays honest. It starts
from the read API's bounded curve (at most ``curve.MAX_POINTS`` points, each
with its buckets' mean), so a clip of any length costs the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from readapi.queries import ClipFigures, curve_points

LEVELS = " ▁▂▃▄▅▆▇█"  # a blank for silence, so gaps in the curve show as gaps
EIGHTHS = " ▏▎▍▌▋▊▉"


def clock(seconds: float) -> str:
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def resample(values: Sequence[float], slots: int) -> list[float]:
    """``slots`` means over consecutive, nearly equal runs of ``values``."""
    if not values or slots <= 0:
        return []
    slots = min(slots, len(values))
    out = []
    for i in range(slots):
        start, end = i * len(values) // slots, (i + 1) * len(values) // slots
        run = values[start:end]
        out.append(sum(run) / len(run))
    return out


def sparkline(shares: Sequence[float]) -> str:
    top = len(LEVELS) - 1
    # Anything heard gets at least the lowest block, so it never reads as silence.
    return "".join(LEVELS[0] if share <= 0 else LEVELS[max(1, round(share * top))]
                   for share in shares)


def bar(share: float, width: int) -> str:
    eighths = round(max(0.0, min(share, 1.0)) * width * 8)
    full, part = divmod(eighths, 8)
    return ("█" * full + (EIGHTHS[part] if part else "")).ljust(width)


def _percent(share: float | None) -> str:
    return "–" if share is None else f"{share * 100:.1f}%"


def final_line(complete_through: datetime | None) -> str:
    """The complete-through watermark: figures of sessions started before it are final."""
    if complete_through is None:
        return "no figure final yet"
    return f"final through {complete_through.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


def render(clip: str, organization: str, figures: ClipFigures, bucket_seconds: float,
           width: int = 80, rows: int = 12, source: str | None = None,
           complete_through: datetime | None = None) -> str:
    width = max(width, 40)
    bucket_seconds = figures.bucket_seconds or bucket_seconds  # a rule's width wins
    curve = curve_points(figures, bucket_seconds)
    kept = figures.total("kept_sessions")
    listened = figures.total("listened_seconds")
    selected = figures.selected
    span = (f"{min(s.first_day for s in selected)} … {max(s.last_day for s in selected)}"
            if selected else "no sessions")
    lines = [
        f"clip {clip}",
        f"organization {organization}",
        f"{span} (UTC days), {('source ' + source) if source else 'all sources'}",
        final_line(complete_through),
        "",
        f"sessions {figures.total('sessions')}   kept {kept}   listened "
        f"{listened / 3600:.2f} h",
        f"avg consumption share {_percent(figures.average_consumption_share)}   "
        f"completion rate {_percent(figures.completion_rate)}",
    ]
    if figures.clip_length_seconds:
        lines.append(f"clip length {clock(figures.clip_length_seconds)}")
    if not curve:
        return "\n".join([*lines, "", "no kept sessions: no retention curve"]) + "\n"
    end = figures.binning.buckets * bucket_seconds
    shares = [point["meanListeners"] / kept if kept else 0.0 for point in curve]
    line = resample(shares, width - 2)
    lines += ["", f"retention, share of {kept} kept sessions, 0:00 → {clock(end)}:",
              "│" + sparkline(line) + "│",
              " " + clock(0) + " " * max(1, len(line) - 4 - len(clock(end))) + clock(end)]
    lines += ["", *_rows(curve, kept, end, width, rows)]
    lines += ["", "by source:"]
    name_width = max((len(s.source) for s in figures.sources), default=6)
    for s in figures.sources:
        lines.append(f"  {s.source:<{name_width}}  {s.sessions:>7} sessions  {s.kept_sessions:>7}"
                     f" kept  {s.listened_seconds / 3600:>9.2f} h")
    return "\n".join(lines) + "\n"


def _rows(curve: list[dict[str, Any]], kept: int, end: float, width: int, rows: int
          ) -> list[str]:
    count = min(rows, len(curve))
    bar_width = max(10, width - 40)
    out = [f"  {'from':>8}  {'to':>8}  {'share':>6}  listeners (mean)"]
    for i in range(count):
        start, stop = i * len(curve) // count, (i + 1) * len(curve) // count
        run = curve[start:stop]
        listeners = sum(p["meanListeners"] for p in run) / len(run)
        share = listeners / kept if kept else 0.0
        until = curve[stop]["startSeconds"] if stop < len(curve) else end
        out.append(f"  {clock(run[0]['startSeconds']):>8}  {clock(until):>8}  "
                   f"{share * 100:5.1f}%  {bar(share, bar_width)} {listeners:.1f}")
    return out
