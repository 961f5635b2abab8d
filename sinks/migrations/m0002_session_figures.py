"""Per-session figures beyond the histogram: unique seconds, furthest position, completion, quality.

Added as columns of ``session_versions`` so they ride on the same versioned,
replay-safe row as the rest of a session, and exposed as the
``session_figures`` view (newest version of each session, like ``sessions``).
Rows written before this migration read as zeros and NULLs.
"""

from sinks.ddl import AddColumn, Step, View, render

COLUMNS = (
    ("unique_seconds", "Float64"),
    ("furthest_seconds", "Float64"),
    ("clip_length_seconds", "Nullable(Float64)"),
    ("completion_share", "Nullable(Float64)"),
    ("startup_ms", "Nullable(UInt32)"),
    ("rebuffer_count", "UInt32"),
    ("rebuffer_ms", "UInt64"),
    ("quality_changes", "UInt32"),
    ("errors", "UInt32"),
)


def steps(database: str) -> list[Step]:
    db = database
    return [
        *(AddColumn(db, "session_versions", name, kind) for name, kind in COLUMNS),
        View(db, "session_figures", f"""
            SELECT organization_id, clip_id, session_id, source, day, started_at, ended_at,
                   duration_seconds AS listened_seconds, unique_seconds, furthest_seconds,
                   clip_length_seconds, completion_share, startup_ms, rebuffer_count,
                   rebuffer_ms, quality_changes, errors, kept, version
            FROM {db}.session_versions FINAL
            """),
    ]


def statements(database: str) -> list[str]:
    return render(steps(database), None)
