"""How many examples the property tests check: `full` or `unit` (docs/testing.md).

`full` is the default (`make test`, a bare `pytest`): every test checks the count its
decorator names. `unit` (`make unit`, `--hypothesis-profile=unit`) checks a fifth of
it, never fewer than FLOOR. Both keep what Hypothesis chose at import for the rest:
its `default` profile, or its `ci` one (derandomized, no database) on a CI machine.
"""

from __future__ import annotations

from hypothesis import settings

FLOOR = 25  # below this a unit run would hardly search; a test asking for fewer keeps its count

FULL = settings.get_profile(settings.get_current_profile_name())
settings.register_profile("full", FULL)
settings.register_profile("unit", FULL, max_examples=FULL.max_examples // 5)
if settings.get_current_profile_name() in ("default", "ci"):
    settings.load_profile("full")  # before pytest's --hypothesis-profile, which wins


def examples(full: int) -> int:
    """``full`` under the full profile; under another, the same share of it as the
    profile's default count is of the full one (a fifth under `unit`), at least FLOOR."""
    scaled = round(full * settings().max_examples / FULL.max_examples)
    return max(scaled, min(full, FLOOR))
