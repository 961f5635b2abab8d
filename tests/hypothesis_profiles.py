"""How many examples the property tests check: `full` or `unit` (docs/testing.md).

`full` is the default (`make test`, a plain `pytest`): every test checks the count its
decorator names. `unit` (`make unit`, `--hypothesis-profile=unit`) checks a fifth of
it, never fewer than the profile's own count (20), which a test without a count checks.
Both keep what Hypothesis chose at import for the rest: its `default` profile, or its
`ci` one (derandomized, no example database) on a CI machine.
"""

from __future__ import annotations

from hypothesis import settings

FULL = settings.get_profile(settings.get_current_profile_name())
settings.register_profile("full", FULL)
settings.register_profile("unit", FULL, max_examples=FULL.max_examples // 5)
if settings.get_current_profile_name() in ("default", "ci"):
    settings.load_profile("full")  # before pytest's --hypothesis-profile, which wins


def examples(full: int) -> int:
    """``full`` under the full profile; under another, the same share of it as the
    profile's own count is of the full one (a fifth under `unit`), but never fewer than
    the profile's own count, nor than ``full`` when that is fewer."""
    own = settings().max_examples
    return max(round(full * own / FULL.max_examples), min(full, own))
