"""Shared test set-up: hypothesis profiles.

Profiles set the number of hypothesis examples: ``dev`` (default, quick), ``ci`` (chosen
automatically when the CI environment variable is set) and ``thorough`` (many examples,
for a careful local run). Pick one with HYPOTHESIS_PROFILE=thorough pytest.
"""

import os

from hypothesis import HealthCheck, settings

_common = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=15, **_common)
settings.register_profile("ci", max_examples=30, print_blob=True, **_common)
settings.register_profile("thorough", max_examples=300, **_common)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))
