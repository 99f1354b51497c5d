"""Hypothesis profiles: one place decides how hard the property tests search.

- ``dev`` (a developer's run): random examples, the local example database replays failures.
- ``ci`` (``CI=true``): derandomised, so a CI run draws the same examples every time and a
  failure in its log reproduces with the printed blob; no example database.
- ``deep`` (``HYPOTHESIS_PROFILE=deep``, ``make test-deep``): many examples per test, to find
  rare counterexamples such as a value on a rounding boundary. Not part of ``make test``.

Tests that set their own example count pass it through :func:`examples`, because an explicit
``@settings(max_examples=...)`` would otherwise override the profile.
"""

from __future__ import annotations

import os
from typing import Final

from hypothesis import HealthCheck, settings

from tests.support.tools import on_ci

PROFILE_ENV: Final = "HYPOTHESIS_PROFILE"
DEV: Final = "dev"
CI: Final = "ci"
DEEP: Final = "deep"
#: Examples per test in the deep profile.
DEEP_EXAMPLES: Final = 10_000


def register_profiles() -> str:
    """Registers the three profiles and loads the one this run asks for; returns its name."""
    settings.register_profile(DEV, deadline=None)
    settings.register_profile(CI, deadline=None, derandomize=True, database=None, print_blob=True)
    settings.register_profile(
        DEEP,
        deadline=None,
        max_examples=DEEP_EXAMPLES,
        suppress_health_check=[HealthCheck.too_slow],
    )
    name = os.environ.get(PROFILE_ENV) or (CI if on_ci() else DEV)
    settings.load_profile(name)
    return name


def examples(count: int, *, deep: int = DEEP_EXAMPLES) -> int:
    """``count`` examples, or ``deep`` of them under the deep profile. Emulator-backed tests
    pass a smaller ``deep`` so the deep run still ends in minutes."""
    return max(count, deep) if os.environ.get(PROFILE_ENV) == DEEP else count
