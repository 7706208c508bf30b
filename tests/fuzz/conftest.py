"""Hypothesis settings for the fuzz tests: derandomized (the same examples on every run, so CI
is reproducible), no per-example deadline (the machine is shared), no example database
written into the checkout. Together the fuzz tests take well under a minute on two cores."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

settings.register_profile(
    "turnstile-fuzz",
    derandomize=True,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile("turnstile-fuzz")
